// The struct's one mistake is the only error: it still implements what the derive would, so
// nesting it and taking it as a service's input add none.
use zato::prelude::*;

#[derive(SimpleIo)]
struct In {
    #[sio(renamed = "x")]
    a: String,
}

#[derive(SimpleIo)]
struct Outer {
    inner: Vec<In>,
}

#[service(name = "a.b")]
async fn a_b(req: Request<In>) -> Result<Outer, ServiceError> {
    Ok(Outer {
        inner: vec![req.input],
    })
}

fn main() {
    Platform::new().services().deploy(a_b).unwrap();
}

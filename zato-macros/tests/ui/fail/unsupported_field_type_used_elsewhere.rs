// An unsupported field type is reported once, at the type, however the struct is used.
use std::collections::HashMap;
use zato::prelude::*;

#[derive(SimpleIo)]
struct In {
    map: HashMap<String, String>,
}

#[derive(SimpleIo)]
struct Outer {
    inner: Option<In>,
}

#[service(name = "a.b")]
async fn a_b(req: Request<In>) -> Result<Outer, ServiceError> {
    Ok(Outer {
        inner: Some(req.input),
    })
}

fn main() {
    Platform::new().services().deploy(a_b).unwrap();
}

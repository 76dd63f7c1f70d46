use zato::prelude::*;

#[service(name = "a.b", timeout = 5)]
async fn a_b(_req: Request<()>) -> Result<(), ServiceError> {
    Ok(())
}

#[derive(SimpleIo)]
struct In {
    #[sio(renamed = "x")]
    a: String,
}

fn main() {}

use zato::prelude::*;

#[service(name = "a.b")]
fn a_b(_req: Request<()>) -> Result<(), ServiceError> {
    Ok(())
}

fn main() {}

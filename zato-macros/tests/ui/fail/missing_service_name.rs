use zato::prelude::*;

#[service]
async fn a_b(_req: Request<()>) -> Result<(), ServiceError> {
    Ok(())
}

fn main() {
    // The service still exists as a type, so this line adds no second error.
    Platform::new().services().deploy(a_b).unwrap();
}

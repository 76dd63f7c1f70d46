// Every attribute the derive and the service attribute accept.
use zato::prelude::*;

fn two() -> u32 {
    2
}

#[derive(SimpleIo, Default)]
#[sio(request_elem = "request", response_elem = "response", namespace = "urn:x", skip_empty_keys)]
pub struct Io<T> {
    #[sio(rename = "type")]
    kind: String,
    #[sio(default)]
    count: u32,
    #[sio(default = "two")]
    retries: u32,
    #[sio(force_empty)]
    note: Option<String>,
    #[sio(max_items = 100)]
    inner: Vec<T>,
}

#[derive(SimpleIo, Default)]
pub struct Unit;

/// Services may return a Response and take no context.
#[service(name = "x.y", crate = "::zato")]
pub async fn x_y(req: Request<Io<Unit>>) -> Result<Response<Io<Unit>>, ServiceError> {
    Ok(Response::new(req.input))
}

fn main() {
    Platform::new().services().deploy(x_y).unwrap();
}

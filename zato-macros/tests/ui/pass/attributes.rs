// Every attribute the derive and the service attribute accept.
use zato::prelude::*;
use zato::sio::{SioObject, TypeDesc};

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
    #[sio(min_items = 1, max_items = 100)]
    inner: Vec<T>,
    #[sio(min_items = 2)]
    tags: Option<Vec<String>>,
    #[sio(max_items = 3, default)]
    codes: Csv<u16>,
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
    // The bounds are in the description, on the list they bound.
    let elements = Io::<Unit>::elements();
    assert!(matches!(
        elements[4].ty,
        TypeDesc::List { min_items: 1, max_items: Some(100), .. }
    ));
    assert!(matches!(
        elements[5].ty,
        TypeDesc::List { min_items: 2, max_items: None, .. }
    ));
    assert!(!elements[5].required);
}

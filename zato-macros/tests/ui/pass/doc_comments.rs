// A doc comment on an element becomes its description, as service listings and the API
// specifications show it.
use zato::prelude::*;
use zato::sio::SioObject;

#[derive(SimpleIo)]
pub struct Dispatch {
    /// The applications to send the invoice to:
    /// one container each.
    target: Vec<String>,
    note: Option<String>,
}

fn main() {
    let elements = Dispatch::elements();
    assert_eq!(
        elements[0].description,
        Some("The applications to send the invoice to:\none container each.")
    );
    assert_eq!(elements[1].description, None);
}

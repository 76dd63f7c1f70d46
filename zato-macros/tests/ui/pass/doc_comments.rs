// A doc comment on an element becomes its description, and a default its default value, as
// service listings and the API specifications show them.
use zato::prelude::*;
use zato::sio::SioObject;

fn five() -> u32 {
    5
}

#[derive(SimpleIo)]
pub struct Dispatch {
    /// The applications to send the invoice to:
    /// one container each.
    target: Vec<String>,
    note: Option<String>,
    /// How many times to try each target.
    #[sio(default = "five")]
    attempts: u32,
    #[sio(default)]
    label: String,
}

fn main() {
    let elements = Dispatch::elements();
    assert_eq!(
        elements[0].description,
        Some("The applications to send the invoice to:\none container each.")
    );
    assert_eq!(elements[1].description, None);
    assert_eq!(elements[0].default, None);
    assert_eq!(elements[2].default.as_deref(), Some("5"));
    assert!(!elements[2].required);
    assert_eq!(elements[3].default.as_deref(), Some("\"\""));
}

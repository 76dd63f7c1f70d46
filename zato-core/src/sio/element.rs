//! The traits a type implements to be read and written by SimpleIO: [`SioType`] for one element,
//! [`SioObject`] for a struct of them.

use super::desc::{ElementDesc, TypeDesc};
use super::error::{Errors, Path};
use super::node::{Fields, Node};
use super::writer::Writer;

/// A type that can be a SimpleIO element: decoded from any input format, encoded to any output
/// format.
///
/// Implemented for text, integers, floats, `bool`, [`rust_decimal::Decimal`],
/// [`chrono::NaiveDate`], [`chrono::DateTime`], [`uuid::Uuid`], `Vec<T>`, `Option<T>`,
/// [`Csv`](super::Csv), [`Raw`](super::Raw) and [`Secret`](super::Secret); `#[derive(SimpleIo)]`
/// implements it for your structs, which makes them nested objects.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a SimpleIO element type",
    label = "not a SimpleIO element type",
    note = "element types are String, integers, floats, bool, Decimal, NaiveDate, DateTime, Uuid, Vec<T>, Option<T>, Csv<T>, Raw, Secret<T> and structs deriving SimpleIo"
)]
pub trait SioType: Sized {
    /// The type, for listings and the API descriptions (OpenAPI, WSDL). A type of your own
    /// describes itself as the type its values are written as: most often [`TypeDesc::Text`], or
    /// [`TypeDesc::CheckedText`] with the rule its decoding checks.
    fn type_desc() -> TypeDesc;

    /// Decodes one element, recording any problem in `errors` (then returning `None`).
    fn decode(node: Node<'_>, path: &Path<'_>, errors: &mut Errors) -> Option<Self>;

    /// The value of an element the caller did not send: `None` (then it is missing) unless the
    /// type is optional.
    fn when_missing() -> Option<Self> {
        None
    }

    /// Encodes the value as an element named `name`.
    fn encode(&self, name: &str, w: &mut Writer);

    /// Whether the value counts as empty for `skip_empty_keys`.
    fn is_empty_value(&self) -> bool {
        false
    }
}

/// A struct of elements: what `#[derive(SimpleIo)]` implements.
pub trait SioObject: Sized {
    /// The element a JSON body may be wrapped in (`{"request": {…}}`); both forms are accepted.
    const REQUEST_ELEM: Option<&'static str> = None;
    /// The element the output is wrapped in; for XML and SOAP also the root element's name
    /// (`response` when unset).
    const RESPONSE_ELEM: Option<&'static str> = None;
    /// The XML namespace of the output's root element.
    const NAMESPACE: Option<&'static str> = None;

    /// The declared elements.
    fn elements() -> Vec<ElementDesc>;

    /// Decodes every element from `fields`, recording every problem.
    fn decode_fields(fields: &Fields<'_>, path: &Path<'_>, errors: &mut Errors) -> Option<Self>;

    /// Encodes every element.
    fn encode_fields(&self, w: &mut Writer);
}

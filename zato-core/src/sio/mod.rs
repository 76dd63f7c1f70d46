//! SimpleIO: a service declares its input and output once, as Rust types, and receives typed
//! input whatever format the caller used.
//!
//! Input comes from up to three sources, merged by [`ParamsPriority`]: the query string, the
//! path parameters of the channel's URL, and the body in the channel's [`DataFormat`]:
//! a JSON object (optionally wrapped in a request element), an XML document (elements matched by
//! local name, whatever their namespace or prefix), a SOAP 1.1 or 1.2 envelope, or a form. A key
//! repeated in the query string is a list; a single value where a list is declared is a list of
//! one.
//!
//! Decoding never stops at the first problem: every missing element and every element of the
//! wrong type is reported, in one [`SioError::InvalidInput`], each a 400.
//!
//! Decoding is strict where leniency would guess: a JSON number or boolean is not text (send
//! `"5"` for a text element; a JSON string does make a number), a JSON object may not repeat a
//! key, a list takes at most [`DEFAULT_MAX_ITEMS`] items unless the channel or the field
//! (`#[sio(max_items = N)]`) says otherwise, and at least as many as its field says
//! (`#[sio(min_items = N)]`, none by default), and only UTF-8 is read. A SOAP envelope has exactly
//! one Body holding exactly one request element; an envelope in another namespace is a
//! `VersionMismatch` fault, and a header block marked `mustUnderstand` for us a `MustUnderstand`
//! fault (we understand no header), both 400 (see [`SioError::status`]).
//!
//! # Examples
//!
//! ```
//! use zato_core::sio::{self, DataFormat};
//! use zato_macros::SimpleIo; // `zato::prelude` re-exports it
//!
//! #[derive(SimpleIo, Debug)]
//! #[sio(crate = "zato_core")]
//! struct Dispatch {
//!     target: Vec<String>,
//!     priority: Option<u8>,
//! }
//!
//! let input: Dispatch = sio::decode_parts(
//!     DataFormat::Json,
//!     Some("target=CRM&target=Billing"),
//!     br#"{"id":"123","priority":"2"}"#,
//! )
//! .unwrap();
//! assert_eq!(input.target, ["CRM", "Billing"]);
//! assert_eq!(input.priority, Some(2));
//! ```

mod decode;
mod error;
mod format;
pub(crate) mod node;
mod output;
#[cfg(test)]
mod prop_tests;
mod types;
mod xml;

use std::fmt;

pub use decode::{Decoded, ParamsPri, ParamsPriority, Source, UrlParamsPri, decode, decode_parts};
pub use error::{ElementError, ElementProblem, FaultCode, InvalidInput, SioError};
pub use format::DataFormat;
pub use node::{Fields, JSON_MAX_DEPTH, Node, Repeated};
pub use output::{ReplyFormat, SoapVersion, Writer, encode_output};
pub(crate) use output::{begin_envelope, end_envelope, xml_text};
pub use types::{Csv, Raw, RawKind};
// The one thing SimpleIO takes from outside itself: a leaf module that imports nothing either.
pub use crate::secret::Secret;
pub use xml::{XmlElement, XmlLimits};

/// Counts units of decoding work (bytes scanned, items and members visited) so that property
/// tests can check that work grows linearly with the input; compiled out of every other build.
#[cfg(test)]
pub(crate) mod work {
    use std::cell::Cell;

    thread_local! {
        static COUNT: Cell<u64> = const { Cell::new(0) };
    }

    pub(crate) fn tick(n: usize) {
        COUNT.with(|c| c.set(c.get().saturating_add(n as u64)));
    }

    /// The work counted on this thread since the last call.
    pub(crate) fn take() -> u64 {
        COUNT.with(|c| c.replace(0))
    }
}

#[cfg(not(test))]
pub(crate) mod work {
    #[inline(always)]
    pub(crate) fn tick(_: usize) {}
}

pub(crate) use error::excerpt;

/// A declared element: its name, type and whether a caller must send it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ElementDesc {
    /// The element's name on the wire.
    pub name: &'static str,
    /// Its type.
    #[serde(rename = "type")]
    pub ty: TypeDesc,
    /// Whether a caller must send it.
    pub required: bool,
    /// What it is, from the field's doc comment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'static str>,
    /// The value it takes when not sent, as JSON text, for an element with a default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

impl ElementDesc {
    /// The same element with a description (a doc comment, as `#[derive(SimpleIo)]` passes it).
    pub fn with_description(mut self, description: Option<&'static str>) -> Self {
        self.description = description;
        self
    }

    /// The same element with the value it takes when not sent, as JSON text.
    pub fn with_default(mut self, default: Option<String>) -> Self {
        self.default = default;
        self
    }

    /// The same element with the bounds its field declares on its list (`#[sio(min_items = N,
    /// max_items = M)]`), as `#[derive(SimpleIo)]` passes them. They describe the outermost list
    /// of the element's type; an element that is no list (a [`Csv`], checked against the same
    /// bounds, is described as text) is left as it is.
    ///
    /// # Examples
    ///
    /// ```
    /// use zato_core::sio::{ElementDesc, SioObject, TypeDesc};
    /// use zato_macros::SimpleIo; // `zato::prelude` re-exports it
    ///
    /// #[derive(SimpleIo)]
    /// #[sio(crate = "zato_core")]
    /// struct Dispatch {
    ///     #[sio(min_items = 1, max_items = 100)]
    ///     target: Vec<String>,
    /// }
    ///
    /// let target = &Dispatch::elements()[0];
    /// assert!(matches!(
    ///     target.ty,
    ///     TypeDesc::List { min_items: 1, max_items: Some(100), .. }
    /// ));
    /// ```
    pub fn with_list_bounds(mut self, min: Option<usize>, max: Option<usize>) -> Self {
        if let TypeDesc::List {
            min_items,
            max_items,
            ..
        } = &mut self.ty
        {
            *min_items = min.unwrap_or(0);
            *max_items = max;
        }
        self
    }
}

/// The type of a declared element: what service listings show and what the describers
/// (`zato_core::describe`: OpenAPI, WSDL) state.
///
/// One variant per kind of element SimpleIO reads and writes. The enum is deliberately not
/// `#[non_exhaustive]`: a describer matches it without a catch-all arm, so a new variant does not
/// compile until every describer says how to state it.
///
/// An element type of your own describes itself as one of these: most often
/// [`Text`](TypeDesc::Text), or [`CheckedText`](TypeDesc::CheckedText) with the rule its decoding
/// checks.
///
/// No variant is named like an element type (`Secret`, `Csv`, `Decimal`, …): rustc writes a
/// type's name without its path in diagnostics only while no other public item of the
/// dependencies shares it, so a variant `Secret` would make every error about a
/// [`Secret`] read `zato_core::sio::Secret`.
///
/// # Examples
///
/// ```
/// use zato_core::sio::{SioType, TypeDesc};
///
/// assert_eq!(<Vec<u32> as SioType>::type_desc(), TypeDesc::list(TypeDesc::UnsignedInteger));
/// assert_eq!(TypeDesc::list(TypeDesc::DecimalNumber).to_string(), "list of decimal");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeDesc {
    /// Any text: `String`.
    Text,
    /// Text its type holds to a rule (a Swift container name, for one).
    CheckedText(TextRule),
    /// A signed integer: `i8` to `i64`, `isize`.
    Integer,
    /// An integer of 0 or more: `u8` to `u64`, `usize`.
    UnsignedInteger,
    /// A binary floating-point number: `f32`, `f64`.
    Float,
    /// `bool`.
    Boolean,
    /// A decimal number, every digit kept: [`rust_decimal::Decimal`], written as text.
    DecimalNumber,
    /// A calendar date, `2026-12-01`: [`chrono::NaiveDate`].
    Date,
    /// A date and time with an offset, RFC 3339: [`chrono::DateTime`].
    Timestamp,
    /// A UUID: [`uuid::Uuid`].
    UuidText,
    /// Values joined by commas in one text: [`Csv`].
    CsvList,
    /// A password, key or token, never shown back: [`Secret`].
    SecretText,
    /// Any value, kept as received: [`Raw`].
    AnyValue,
    /// A list of elements of one type.
    List {
        /// The type of each item.
        item: Box<TypeDesc>,
        /// The fewest items a caller must send when sending the list (`#[sio(min_items = N)]`);
        /// 0 when the field sets none.
        min_items: usize,
        /// The most items the field itself allows (`#[sio(max_items = N)]`); `None` when the
        /// channel's bound applies.
        max_items: Option<usize>,
    },
    /// A nested object: a struct deriving `SimpleIo`.
    Object(Vec<ElementDesc>),
}

/// The rule a text element's type holds its values to, as [`TypeDesc::CheckedText`] describes
/// it: the type's decoding checks it (a value breaking it is the wrong type), and the API
/// specifications state it.
///
/// # Examples
///
/// ```
/// use zato_core::sio::{TextRule, TypeDesc};
///
/// const CODE: TextRule = TextRule {
///     name: "currency code",
///     min_length: 3,
///     max_length: Some(3),
///     pattern: Some("^[A-Z]{3}$"),
/// };
/// assert_eq!(TypeDesc::CheckedText(CODE).to_string(), "currency code");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TextRule {
    /// What the text is, in listings and error messages: "container name".
    pub name: &'static str,
    /// The fewest characters a value has.
    pub min_length: usize,
    /// The most characters a value has, if bounded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    /// A regular expression every value matches, anchored with `^…$`, written in the subset
    /// JSON Schema's dialect (ECMA-262) and Python's `re` read alike.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<&'static str>,
}

impl TypeDesc {
    /// A list of `item`, with no bounds of its own.
    pub fn list(item: TypeDesc) -> Self {
        TypeDesc::List {
            item: Box::new(item),
            min_items: 0,
            max_items: None,
        }
    }

    /// The type as listings write it (see [`Listed`]).
    fn listed(&self) -> Listed<'_> {
        let scalar = Listed::Scalar;
        match self {
            TypeDesc::Text => scalar("text"),
            TypeDesc::CheckedText(rule) => Listed::Text(rule),
            TypeDesc::Integer => scalar("integer"),
            TypeDesc::UnsignedInteger => scalar("unsigned integer"),
            TypeDesc::Float => scalar("float"),
            TypeDesc::Boolean => scalar("boolean"),
            TypeDesc::DecimalNumber => scalar("decimal"),
            TypeDesc::Date => scalar("date"),
            TypeDesc::Timestamp => scalar("datetime"),
            TypeDesc::UuidText => scalar("uuid"),
            TypeDesc::CsvList => scalar("csv list"),
            TypeDesc::SecretText => scalar("secret"),
            TypeDesc::AnyValue => scalar("raw"),
            TypeDesc::List {
                item,
                min_items,
                max_items,
            } => Listed::List {
                item,
                min_items: *min_items,
                max_items: *max_items,
            },
            TypeDesc::Object(elements) => Listed::Object(elements),
        }
    }
}

/// For `skip_serializing_if`, which passes a reference.
fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// How a [`TypeDesc`] is written in service listings (the admin API's): a type of one value by
/// its name, `{"scalar": "unsigned integer"}`, the others as `{"text": rule}`,
/// `{"list": {"item": …}}` and `{"object": [elements]}`.
#[derive(serde::Serialize)]
#[serde(rename = "TypeDesc", rename_all = "snake_case")]
enum Listed<'a> {
    Scalar(&'static str),
    Text(&'a TextRule),
    List {
        item: &'a TypeDesc,
        #[serde(skip_serializing_if = "is_zero")]
        min_items: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        max_items: Option<usize>,
    },
    Object(&'a [ElementDesc]),
}

impl serde::Serialize for TypeDesc {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.listed().serialize(serializer)
    }
}

/// The name listings and error messages give the type: "unsigned integer", "list of text",
/// "container name", "object".
impl fmt::Display for TypeDesc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.listed() {
            Listed::Scalar(name) => f.write_str(name),
            Listed::Text(rule) => f.write_str(rule.name),
            Listed::List { item, .. } => write!(f, "list of {item}"),
            Listed::Object(_) => f.write_str("object"),
        }
    }
}

/// The path of an element inside the request, built on the stack while decoding and rendered only
/// when an error needs it.
#[derive(Debug, Clone, Copy)]
pub enum Path<'p> {
    /// The request element itself.
    Root,
    /// A named child.
    Field(&'p Path<'p>, &'p str),
    /// An item of a list.
    Index(&'p Path<'p>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Field(Path::Root, name) => f.write_str(name),
            Path::Field(parent, name) => write!(f, "{parent}.{name}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// The most items a list element takes unless the channel or the field says otherwise
/// (`#[sio(max_items = N)]`). A list takes no fewest unless its field says so
/// (`#[sio(min_items = N)]`).
pub const DEFAULT_MAX_ITEMS: usize = 1_000;

/// The problems found so far while decoding one request, and the bounds on list items that
/// decoding applies.
#[derive(Debug)]
pub struct Errors {
    errors: Vec<ElementError>,
    max_items: usize,
    next_list: Option<usize>,
    next_min: Option<usize>,
}

impl Default for Errors {
    fn default() -> Self {
        Errors::with_max_items(DEFAULT_MAX_ITEMS)
    }
}

impl Errors {
    /// No problems yet, with lists bounded to `max_items` items.
    pub fn with_max_items(max_items: usize) -> Self {
        Errors {
            errors: Vec::new(),
            max_items,
            next_list: None,
            next_min: None,
        }
    }

    /// Sets the bound of the next list decoded (a field's own `max_items`), or with `None` goes
    /// back to the request's bound. Lists nested in that list keep the request's bound.
    pub fn limit_next_list(&mut self, max_items: Option<usize>) {
        self.next_list = max_items;
    }

    /// Sets the fewest items the next list decoded takes (a field's own `min_items`), or with
    /// `None` goes back to none. Lists nested in that list take any number.
    pub fn require_next_list(&mut self, min_items: Option<usize>) {
        self.next_min = min_items;
    }

    /// The bound of the list about to be decoded: the field's own once, then the request's.
    pub fn list_limit(&mut self) -> usize {
        self.next_list.take().unwrap_or(self.max_items)
    }

    /// The fewest items the list about to be decoded takes: the field's own once, then 0.
    pub fn list_minimum(&mut self) -> usize {
        self.next_min.take().unwrap_or(0)
    }

    /// Empty errors under the same bounds, for a wrapper that reports its inner type's problems
    /// its own way.
    pub(crate) fn scratch(&mut self) -> Errors {
        Errors {
            errors: Vec::new(),
            max_items: self.max_items,
            next_list: self.next_list.take(),
            next_min: self.next_min.take(),
        }
    }

    /// Records that a list has more than `limit` items.
    pub fn too_many_items(&mut self, path: &Path<'_>, limit: usize) {
        self.errors.push(ElementError {
            element: path.to_string(),
            problem: ElementProblem::TooManyItems { limit },
        });
    }

    /// Records that a list has `got` items, fewer than the `minimum` it takes.
    pub fn too_few_items(&mut self, path: &Path<'_>, minimum: usize, got: usize) {
        self.errors.push(ElementError {
            element: path.to_string(),
            problem: ElementProblem::TooFewItems { minimum, got },
        });
    }

    /// Records that a JSON object has `key` more than once.
    pub fn duplicate_key(&mut self, path: &Path<'_>, key: &str) {
        self.errors.push(ElementError {
            element: path.to_string(),
            problem: ElementProblem::DuplicateKey { key: excerpt(key) },
        });
    }

    /// Records that a required element is missing.
    pub fn missing(&mut self, path: &Path<'_>) {
        self.errors.push(ElementError {
            element: path.to_string(),
            problem: ElementProblem::Missing,
        });
    }

    /// Records that an element is of the wrong type.
    pub fn wrong_type(&mut self, path: &Path<'_>, expected: &'static str, got: &str) {
        self.errors.push(ElementError {
            element: path.to_string(),
            problem: ElementProblem::WrongType {
                expected,
                got: excerpt(got),
            },
        });
    }

    /// Whether nothing went wrong.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub(crate) fn into_error(self) -> SioError {
        SioError::InvalidInput(InvalidInput {
            errors: self.errors,
        })
    }
}

/// A type that can be a SimpleIO element: decoded from any input format, encoded to any output
/// format.
///
/// Implemented for text, integers, floats, `bool`, [`rust_decimal::Decimal`],
/// [`chrono::NaiveDate`], [`chrono::DateTime`], [`uuid::Uuid`], `Vec<T>`, `Option<T>`, [`Csv`],
/// [`Raw`] and [`Secret`]; `#[derive(SimpleIo)]` implements it for your structs, which makes them
/// nested objects.
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

/// A service's input: a [`SioObject`], or `()` for a service that reads nothing.
pub trait SioInput: Sized + Send + 'static {
    /// The declared elements.
    fn elements() -> Vec<ElementDesc>;

    /// Decodes the input from a request, telling the format to answer in; a refusal lists every
    /// way the request was the caller's fault (see [`SioError`]).
    fn decode(source: &Source<'_>) -> Decoded<Self>;
}

/// A service's output: a [`SioObject`], or `()` for an empty body.
pub trait SioOutput: Send + 'static {
    /// The declared elements.
    fn elements() -> Vec<ElementDesc>;

    /// Appends the body in `format` to `buf`.
    fn write_body(&self, format: ReplyFormat, buf: &mut Vec<u8>);
}

impl<T: SioObject + Send + 'static> SioInput for T {
    fn elements() -> Vec<ElementDesc> {
        T::elements()
    }

    fn decode(source: &Source<'_>) -> Decoded<Self> {
        decode::decode_object(source)
    }
}

impl SioInput for () {
    fn elements() -> Vec<ElementDesc> {
        Vec::new()
    }

    fn decode(source: &Source<'_>) -> Decoded<()> {
        Decoded {
            result: Ok(()),
            reply: source.reply_format(),
        }
    }
}

impl<T: SioObject + Send + 'static> SioOutput for T {
    fn elements() -> Vec<ElementDesc> {
        T::elements()
    }

    fn write_body(&self, format: ReplyFormat, buf: &mut Vec<u8>) {
        encode_output(self, format, buf);
    }
}

impl SioOutput for () {
    fn elements() -> Vec<ElementDesc> {
        Vec::new()
    }

    fn write_body(&self, _: ReplyFormat, _: &mut Vec<u8>) {}
}

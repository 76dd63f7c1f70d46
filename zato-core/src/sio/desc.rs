//! What listings and the describers (OpenAPI, WSDL) say about a declared element: its name, its
//! type and whether it is required. A leaf: it names element types only in its docs.

use std::fmt;

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
    /// of the element's type; an element that is no list (a [`Csv`](super::Csv), checked against
    /// the same bounds, is described as text) is left as it is.
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
/// [`Secret`](super::Secret) read `zato_core::sio::Secret`.
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
    /// Values joined by commas in one text: [`Csv`](super::Csv).
    CsvList,
    /// A password, key or token, never shown back: [`Secret`](super::Secret).
    SecretText,
    /// Any value, kept as received: [`Raw`](super::Raw).
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

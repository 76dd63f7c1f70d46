//! The element types: scalars, lists, optionals and the special wrappers [`Csv`], [`Raw`] and
//! [`Secret`] (defined in its own leaf module, `crate::secret`, which imports nothing from the
//! rest of the crate either).

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::secret::Secret;

use super::desc::TypeDesc;
use super::element::SioType;
use super::error::{Errors, Path};
use super::node::{JsonArrayError, Node, ScalarText, parse_json_array};
use super::work::tick;
use super::writer::{RawKind, Writer};

/// Decodes a scalar through `parse`, recording a wrong type as `expected`.
fn scalar<T>(
    node: &Node<'_>,
    path: &Path<'_>,
    errors: &mut Errors,
    expected: &'static str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Option<T> {
    match node.scalar_text() {
        ScalarText::Text(text) => {
            tick(text.len());
            let parsed = parse(&text);
            if parsed.is_none() {
                errors.wrong_type(path, expected, &text);
            }
            parsed
        }
        ScalarText::Null => {
            errors.wrong_type(path, expected, "null");
            None
        }
        ScalarText::NotScalar(what) => {
            errors.wrong_type(path, expected, &what);
            None
        }
    }
}

/// Text. From JSON it must be a string: a number or a boolean where text is declared is the
/// wrong type (`5` is not `"5"`: which spelling the caller meant, `5.0` or `5`, is lost).
impl SioType for String {
    fn type_desc() -> TypeDesc {
        TypeDesc::Text
    }
    fn decode(node: Node<'_>, path: &Path<'_>, errors: &mut Errors) -> Option<Self> {
        if let Node::Json(raw) = &node
            && !matches!(raw.get().as_bytes().first(), Some(b'"' | b'n'))
        {
            let got = raw.get();
            let kind = match got.as_bytes().first() {
                Some(b't' | b'f') => "boolean",
                Some(b'{') => "object",
                Some(b'[') => "list",
                _ => "number",
            };
            errors.wrong_type(path, "text", &format!("{kind} {got}"));
            return None;
        }
        scalar(&node, path, errors, "text", |s| Some(s.to_owned()))
    }
    fn encode(&self, name: &str, w: &mut Writer) {
        w.string(name, self);
    }
    fn is_empty_value(&self) -> bool {
        self.is_empty()
    }
}

macro_rules! integers {
    ($variant:ident $desc:literal: $($t:ty),*) => {$(
        impl SioType for $t {
            fn type_desc() -> TypeDesc {
                TypeDesc::$variant
            }
            fn decode(node: Node<'_>, path: &Path<'_>, errors: &mut Errors) -> Option<Self> {
                scalar(&node, path, errors, $desc, |s| s.trim().parse().ok())
            }
            fn encode(&self, name: &str, w: &mut Writer) {
                w.integer(name, *self);
            }
        }
    )*};
}

integers!(Integer "integer": i8, i16, i32, i64, isize);
integers!(UnsignedInteger "unsigned integer": u8, u16, u32, u64, usize);

macro_rules! floats {
    ($($t:ty),*) => {$(
        impl SioType for $t {
            fn type_desc() -> TypeDesc {
                TypeDesc::Float
            }
            fn decode(node: Node<'_>, path: &Path<'_>, errors: &mut Errors) -> Option<Self> {
                scalar(&node, path, errors, "float", |s| {
                    s.trim().parse::<$t>().ok().filter(|f| f.is_finite())
                })
            }
            fn encode(&self, name: &str, w: &mut Writer) {
                if self.is_finite() {
                    w.number(name, self);
                } else {
                    w.null(name);
                }
            }
        }
    )*};
}

floats!(f32, f64);

/// The spellings of a boolean a caller may use, case-insensitive.
fn parse_bool(s: &str) -> Option<bool> {
    const TRUE: [&str; 4] = ["true", "1", "yes", "on"];
    const FALSE: [&str; 4] = ["false", "0", "no", "off"];
    let s = s.trim();
    if TRUE.iter().any(|t| t.eq_ignore_ascii_case(s)) {
        Some(true)
    } else if FALSE.iter().any(|f| f.eq_ignore_ascii_case(s)) {
        Some(false)
    } else {
        None
    }
}

impl SioType for bool {
    fn type_desc() -> TypeDesc {
        TypeDesc::Boolean
    }
    fn decode(node: Node<'_>, path: &Path<'_>, errors: &mut Errors) -> Option<Self> {
        scalar(&node, path, errors, "boolean", parse_bool)
    }
    fn encode(&self, name: &str, w: &mut Writer) {
        w.boolean(name, *self);
    }
}

impl SioType for Decimal {
    fn type_desc() -> TypeDesc {
        TypeDesc::DecimalNumber
    }
    fn decode(node: Node<'_>, path: &Path<'_>, errors: &mut Errors) -> Option<Self> {
        scalar(&node, path, errors, "decimal", |s| {
            let s = s.trim();
            Decimal::from_str_exact(s)
                .or_else(|_| Decimal::from_scientific(s))
                .ok()
        })
    }
    fn encode(&self, name: &str, w: &mut Writer) {
        // As a string in JSON, so no client reads it into a binary float and loses digits.
        w.string(name, &self.to_string());
    }
}

impl SioType for NaiveDate {
    fn type_desc() -> TypeDesc {
        TypeDesc::Date
    }
    fn decode(node: Node<'_>, path: &Path<'_>, errors: &mut Errors) -> Option<Self> {
        scalar(&node, path, errors, "date", |s| {
            NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
        })
    }
    fn encode(&self, name: &str, w: &mut Writer) {
        w.string(name, &self.format("%Y-%m-%d").to_string());
    }
}

impl SioType for DateTime<FixedOffset> {
    fn type_desc() -> TypeDesc {
        TypeDesc::Timestamp
    }
    fn decode(node: Node<'_>, path: &Path<'_>, errors: &mut Errors) -> Option<Self> {
        scalar(&node, path, errors, "datetime", |s| {
            DateTime::parse_from_rfc3339(s.trim()).ok()
        })
    }
    fn encode(&self, name: &str, w: &mut Writer) {
        w.string(name, &self.to_rfc3339());
    }
}

impl SioType for DateTime<Utc> {
    fn type_desc() -> TypeDesc {
        TypeDesc::Timestamp
    }
    fn decode(node: Node<'_>, path: &Path<'_>, errors: &mut Errors) -> Option<Self> {
        scalar(&node, path, errors, "datetime", |s| {
            DateTime::parse_from_rfc3339(s.trim())
                .ok()
                .map(|d| d.with_timezone(&Utc))
        })
    }
    fn encode(&self, name: &str, w: &mut Writer) {
        w.string(name, &self.to_rfc3339());
    }
}

impl SioType for Uuid {
    fn type_desc() -> TypeDesc {
        TypeDesc::UuidText
    }
    fn decode(node: Node<'_>, path: &Path<'_>, errors: &mut Errors) -> Option<Self> {
        scalar(&node, path, errors, "uuid", |s| {
            Uuid::parse_str(s.trim()).ok()
        })
    }
    fn encode(&self, name: &str, w: &mut Writer) {
        w.string(name, &self.hyphenated().to_string());
    }
}

/// Whether an empty value means "not sent" for `T`: true for every type but text, so `count=`
/// leaves an optional integer unset, while `note=` sets an optional text to "".
fn blank_is_none<T: SioType>() -> bool {
    !matches!(T::type_desc(), TypeDesc::Text)
}

impl<T: SioType> SioType for Option<T> {
    fn type_desc() -> TypeDesc {
        T::type_desc()
    }
    /// JSON `null` and XML `xsi:nil="true"` are `None`; so is an empty value for every type but
    /// text.
    fn decode(node: Node<'_>, path: &Path<'_>, errors: &mut Errors) -> Option<Self> {
        if node.is_null() || (node.is_blank() && blank_is_none::<T>()) {
            return Some(None);
        }
        T::decode(node, path, errors).map(Some)
    }
    fn when_missing() -> Option<Self> {
        Some(None)
    }
    fn encode(&self, name: &str, w: &mut Writer) {
        match self {
            Some(v) => v.encode(name, w),
            None => w.null(name),
        }
    }
    fn is_empty_value(&self) -> bool {
        self.as_ref().is_none_or(T::is_empty_value)
    }
}

impl<T: SioType> SioType for Vec<T> {
    fn type_desc() -> TypeDesc {
        TypeDesc::list(T::type_desc())
    }
    /// Refuses a list longer than its bound ([`Errors::list_limit`]), or shorter than its
    /// minimum ([`Errors::list_minimum`]), before decoding any item.
    fn decode(node: Node<'_>, path: &Path<'_>, errors: &mut Errors) -> Option<Self> {
        // Both taken now, so that a list nested in this one is held to neither.
        let limit = errors.list_limit();
        let minimum = errors.list_minimum();
        let count = |len: usize, errors: &mut Errors| {
            if len > limit {
                errors.too_many_items(path, limit);
                false
            } else if len < minimum {
                errors.too_few_items(path, minimum, len);
                false
            } else {
                true
            }
        };
        let items: Vec<Node<'_>> = match node {
            Node::Many(items) if !count(items.len(), errors) => return None,
            Node::Many(items) => items,
            Node::Repeated(r) if !count(r.len(), errors) => return None,
            Node::Repeated(r) => {
                let mut out = Vec::with_capacity(r.len());
                let mut ok = true;
                for (i, text) in r.values().enumerate() {
                    match T::decode(Node::Text(text), &Path::Index(path, i), errors) {
                        Some(v) => out.push(v),
                        None => ok = false,
                    }
                }
                return ok.then_some(out);
            }
            Node::Json(raw) if raw.get().starts_with('[') => {
                match parse_json_array(raw.get(), limit) {
                    Ok(items) if !count(items.len(), errors) => return None,
                    Ok(items) => items.into_iter().map(Node::Json).collect(),
                    Err(JsonArrayError::TooMany) => {
                        errors.too_many_items(path, limit);
                        return None;
                    }
                    Err(JsonArrayError::Malformed) => {
                        errors.wrong_type(path, "list", raw.get());
                        return None;
                    }
                }
            }
            Node::Json(raw) if raw.get() == "null" => {
                errors.wrong_type(path, "list", "null");
                return None;
            }
            // A single value where a list is declared is a list of one.
            _ if !count(1, errors) => return None,
            single => vec![single],
        };
        tick(items.len());
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.into_iter().enumerate() {
            match T::decode(item, &Path::Index(path, i), errors) {
                Some(v) => out.push(v),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }
    fn encode(&self, name: &str, w: &mut Writer) {
        w.begin_list(name);
        for item in self {
            item.encode(name, w);
        }
        w.end_list();
    }
    fn is_empty_value(&self) -> bool {
        self.is_empty()
    }
}

/// A list sent as one comma-separated value: `a,b,c`. Items are trimmed; an empty value is an
/// empty list; the items are bounded like a `Vec`'s, above and below. Encoded back as one comma-separated value.
///
/// # Examples
///
/// ```
/// use zato_core::sio::Csv;
///
/// let ids: Csv<u32> = Csv(vec![1, 2, 3]);
/// assert_eq!(ids.to_string(), "1,2,3");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Csv<T>(pub Vec<T>);

impl<T> std::ops::Deref for Csv<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T: fmt::Display> fmt::Display for Csv<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{item}")?;
        }
        Ok(())
    }
}

impl<T: SioType + fmt::Display> SioType for Csv<T> {
    fn type_desc() -> TypeDesc {
        TypeDesc::CsvList
    }
    fn decode(node: Node<'_>, path: &Path<'_>, errors: &mut Errors) -> Option<Self> {
        let text = match node.scalar_text() {
            ScalarText::Text(t) => t,
            ScalarText::Null => {
                errors.wrong_type(path, "csv list", "null");
                return None;
            }
            ScalarText::NotScalar(what) => {
                errors.wrong_type(path, "csv list", &what);
                return None;
            }
        };
        let limit = errors.list_limit();
        let minimum = errors.list_minimum();
        if text.trim().is_empty() {
            if minimum > 0 {
                errors.too_few_items(path, minimum, 0);
                return None;
            }
            return Some(Csv(Vec::new()));
        }
        tick(text.len());
        let items = text.bytes().filter(|&b| b == b',').count() + 1;
        if items > limit {
            errors.too_many_items(path, limit);
            return None;
        }
        if items < minimum {
            errors.too_few_items(path, minimum, items);
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for (i, part) in text.split(',').enumerate() {
            match T::decode(Node::Text(part.trim()), &Path::Index(path, i), errors) {
                Some(v) => out.push(v),
                None => ok = false,
            }
        }
        ok.then_some(Csv(out))
    }
    fn encode(&self, name: &str, w: &mut Writer) {
        w.string(name, &self.to_string());
    }
    fn is_empty_value(&self) -> bool {
        self.0.is_empty()
    }
}

/// An opaque element kept exactly as received, never interpreted.
///
/// From JSON it is the value's JSON text; from XML the element's content with its markup; from
/// a query string the value. Written back verbatim into the same format and as a string into the
/// other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raw {
    /// The text as received.
    pub text: String,
    /// The format it came in.
    pub kind: RawKind,
}

impl SioType for Raw {
    fn type_desc() -> TypeDesc {
        TypeDesc::AnyValue
    }
    fn decode(node: Node<'_>, path: &Path<'_>, errors: &mut Errors) -> Option<Self> {
        match node {
            Node::Text(t) => Some(Raw {
                text: t.to_owned(),
                kind: RawKind::Text,
            }),
            Node::Json(raw) => Some(Raw {
                text: raw.get().to_owned(),
                kind: RawKind::Json,
            }),
            Node::Xml(elem, src) => Some(Raw {
                text: src
                    .get(elem.inner.0..elem.inner.1)
                    .unwrap_or_default()
                    .to_owned(),
                kind: RawKind::Xml,
            }),
            Node::Many(_) | Node::Repeated(_) => {
                errors.wrong_type(path, "raw", "several values");
                None
            }
        }
    }
    fn encode(&self, name: &str, w: &mut Writer) {
        w.raw(name, &self.text, self.kind);
    }
    fn is_empty_value(&self) -> bool {
        self.text.is_empty()
    }
}

impl<T: SioType> SioType for Secret<T> {
    fn type_desc() -> TypeDesc {
        TypeDesc::SecretText
    }
    fn decode(node: Node<'_>, path: &Path<'_>, errors: &mut Errors) -> Option<Self> {
        // A wrong type would otherwise echo the secret back in the error message.
        let mut inner = errors.scratch();
        match T::decode(node, path, &mut inner) {
            Some(v) => Some(Secret::new(v)),
            None => {
                errors.wrong_type(path, "secret", "***");
                None
            }
        }
    }
    /// Writes `***`: a secret in a service's output would otherwise reach the caller, and
    /// every proxy and log on the way. Send a plain type when the value must go out.
    fn encode(&self, name: &str, w: &mut Writer) {
        w.string(name, "***");
    }
    fn is_empty_value(&self) -> bool {
        self.expose().is_empty_value()
    }
}

//! What decoding walks over: one element as it came ([`Node`]) and the children of an object
//! from every source, in priority order ([`Fields`]).

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::error::{Errors, Path, SioError, excerpt, line_column};
use super::work::tick;
use super::xml::XmlElement;

/// One input element as it came, before it is given a type.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Node<'a> {
    /// A value from the query string, a path parameter or a form.
    Text(&'a str),
    /// A JSON value, not yet parsed beyond its extent.
    Json(&'a RawValue),
    /// An XML element, with the document it came from.
    Xml(&'a XmlElement, &'a str),
    /// An element repeated in XML.
    Many(Vec<Node<'a>>),
    /// A key repeated in the query string, a form or the path parameters.
    Repeated(Repeated<'a>),
}

#[derive(Debug, Clone, Copy)]
enum PairSlice<'a> {
    Cow(&'a [(Cow<'a, str>, Cow<'a, str>)]),
    Owned(&'a [(String, String)]),
}

/// The values of a key repeated among key-value pairs, read without copying.
#[derive(Debug, Clone, Copy)]
pub struct Repeated<'a> {
    pairs: PairSlice<'a>,
    key: &'a str,
    count: usize,
}

impl<'a> Repeated<'a> {
    /// How many times the key came.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the key never came (never true of a node that exists).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The values, in the order they came.
    pub fn values(&self) -> impl Iterator<Item = &'a str> + 'a {
        let key = self.key;
        tick(match self.pairs {
            PairSlice::Cow(p) => p.len(),
            PairSlice::Owned(p) => p.len(),
        });
        let (cow, owned) = match self.pairs {
            PairSlice::Cow(p) => (Some(p), None),
            PairSlice::Owned(p) => (None, Some(p)),
        };
        let a = cow
            .into_iter()
            .flatten()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| &**v);
        let b = owned
            .into_iter()
            .flatten()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str());
        a.chain(b)
    }
}

/// One source of an object's children.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Layer<'a> {
    Pairs(&'a [(Cow<'a, str>, Cow<'a, str>)]),
    Params(&'a [(String, String)]),
    Json(&'a [(Cow<'a, str>, &'a RawValue)]),
    Xml(&'a XmlElement, &'a str),
}

/// The children of one object, looked up by name across its sources in priority order: the first
/// source that has a name wins.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    layers: [Option<Layer<'a>>; 3],
}

impl<'a> Fields<'a> {
    pub(crate) fn new(layers: [Option<Layer<'a>>; 3]) -> Self {
        Fields { layers }
    }

    pub(crate) fn one(layer: Layer<'a>) -> Self {
        Fields {
            layers: [Some(layer), None, None],
        }
    }

    /// The element called `name`, from the first source that has it.
    pub fn get(&self, name: &str) -> Option<Node<'a>> {
        self.layers
            .iter()
            .flatten()
            .find_map(|layer| lookup(*layer, name))
    }
}

/// A key among key-value pairs: its value when it came once, all of them (lazily) when repeated.
fn lookup_pairs<'a, K: AsRef<str>, V: AsRef<str>>(
    pairs: &'a [(K, V)],
    slice: PairSlice<'a>,
    name: &str,
) -> Option<Node<'a>> {
    tick(pairs.len());
    let mut it = pairs.iter().filter(|(k, _)| k.as_ref() == name);
    let first = it.next()?;
    let rest = it.count();
    Some(if rest == 0 {
        Node::Text(first.1.as_ref())
    } else {
        Node::Repeated(Repeated {
            pairs: slice,
            key: first.0.as_ref(),
            count: rest + 1,
        })
    })
}

fn lookup<'a>(layer: Layer<'a>, name: &str) -> Option<Node<'a>> {
    match layer {
        Layer::Pairs(pairs) => lookup_pairs(pairs, PairSlice::Cow(pairs), name),
        Layer::Params(pairs) => lookup_pairs(pairs, PairSlice::Owned(pairs), name),
        // Keys are unique: a JSON object with a repeated key is refused when it is parsed.
        Layer::Json(members) => {
            tick(members.len());
            members
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| Node::Json(v))
        }
        Layer::Xml(elem, src) => collect({
            tick(elem.children.len());
            elem.children
                .iter()
                .filter(|c| &*c.name == name)
                .map(|c| Node::Xml(c, src))
        }),
    }
}

fn collect<'a>(mut it: impl Iterator<Item = Node<'a>>) -> Option<Node<'a>> {
    let first = it.next()?;
    match it.next() {
        None => Some(first),
        Some(second) => {
            let mut all = vec![first, second];
            all.extend(it);
            Some(Node::Many(all))
        }
    }
}

/// What a scalar element holds, or a description of why it cannot be a scalar.
pub(crate) enum ScalarText<'a> {
    Text(Cow<'a, str>),
    Null,
    NotScalar(String),
}

impl<'a> Node<'a> {
    /// The element's text, for scalars. JSON strings are unescaped; JSON numbers and booleans are
    /// taken as written, so `"5"` and `5` both make an integer.
    pub(crate) fn scalar_text(&self) -> ScalarText<'a> {
        match self {
            Node::Text(s) => ScalarText::Text(Cow::Borrowed(s)),
            Node::Json(raw) => {
                let text = raw.get();
                match text.as_bytes().first() {
                    // Without escapes, a string is the text between its quotes: the parser
                    // that cut out this value has already checked it (no control characters).
                    Some(b'"')
                        if text.len() >= 2
                            && text.ends_with('"')
                            && !text.as_bytes().contains(&b'\\') =>
                    {
                        ScalarText::Text(Cow::Borrowed(&text[1..text.len() - 1]))
                    }
                    Some(b'"') => match serde_json::from_str::<CowStr<'a>>(text) {
                        Ok(s) => ScalarText::Text(s.0),
                        Err(_) => ScalarText::NotScalar(text.to_owned()),
                    },
                    Some(b'{') => ScalarText::NotScalar(format!("object {text}")),
                    Some(b'[') => ScalarText::NotScalar(format!("list {text}")),
                    Some(b'n') => ScalarText::Null,
                    _ => ScalarText::Text(Cow::Borrowed(text)),
                }
            }
            Node::Xml(elem, _) if elem.nil => {
                if elem.children.is_empty() && elem.text.trim().is_empty() {
                    ScalarText::Null
                } else {
                    ScalarText::NotScalar("an element both nil and with content".to_owned())
                }
            }
            Node::Xml(elem, _) => {
                if elem.children.is_empty() {
                    ScalarText::Text(Cow::Borrowed(&elem.text))
                } else {
                    ScalarText::NotScalar(format!("element with {} children", elem.children.len()))
                }
            }
            Node::Many(items) => ScalarText::NotScalar(format!("{} values", items.len())),
            Node::Repeated(r) => ScalarText::NotScalar(format!("{} values", r.len())),
        }
    }

    /// Whether the element was sent empty: JSON `null`, an empty query value or an empty XML
    /// element.
    pub(crate) fn is_blank(&self) -> bool {
        match self {
            Node::Text(s) => s.is_empty(),
            Node::Json(raw) => raw.get() == "null",
            Node::Xml(elem, _) => elem.children.is_empty() && elem.text.is_empty(),
            Node::Many(_) | Node::Repeated(_) => false,
        }
    }

    /// Whether the element is a null: JSON `null`, or an XML element with `xsi:nil="true"` and
    /// no content (one with content is no null: its value is refused as the wrong type).
    pub(crate) fn is_null(&self) -> bool {
        match self {
            Node::Json(raw) => raw.get() == "null",
            Node::Xml(elem, _) => {
                elem.nil && elem.children.is_empty() && elem.text.trim().is_empty()
            }
            Node::Text(_) | Node::Many(_) | Node::Repeated(_) => false,
        }
    }
}

/// A string that borrows from the input when it has no escapes.
pub(crate) struct CowStr<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The members of a JSON object, each value left unparsed until an element asks for it.
pub(crate) struct JsonObject<'a>(pub(crate) Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> JsonObject<'a> {
    /// Parses an object; a repeated key is an error naming it.
    pub(crate) fn parse(text: &'a str) -> Result<Self, JsonObjectError> {
        tick(text.len());
        let obj = serde_json::from_str::<JsonObject<'a>>(text).map_err(JsonObjectError::Json)?;
        match obj.duplicate() {
            Some((key, value)) => Err(JsonObjectError::DuplicateKey {
                key: excerpt(key),
                offset: (value.get().as_ptr() as usize).wrapping_sub(text.as_ptr() as usize),
            }),
            None => Ok(obj),
        }
    }

    /// The second member of a key that came twice, if any. Small objects compare each pair, large
    /// ones go through a hash set, so the check is linear in the number of members.
    fn duplicate(&self) -> Option<(&str, &'a RawValue)> {
        const PAIRWISE: usize = 16;
        let members = &self.0;
        if members.len() <= PAIRWISE {
            tick(members.len() * members.len() / 2);
            for (i, (key, value)) in members.iter().enumerate().skip(1) {
                if members[..i].iter().any(|(k, _)| k == key) {
                    return Some((key, *value));
                }
            }
            return None;
        }
        tick(members.len());
        let mut seen = std::collections::HashSet::with_capacity(members.len());
        members
            .iter()
            .find(|(key, _)| !seen.insert(&**key))
            .map(|(key, value)| (&**key, *value))
    }
}

/// Why a JSON object could not be read.
pub(crate) enum JsonObjectError {
    /// Malformed, or not an object.
    Json(serde_json::Error),
    /// A key came twice; `offset` is where its second value starts.
    DuplicateKey { key: String, offset: usize },
}

impl JsonObjectError {
    /// The error for a JSON body `text` as a whole.
    pub(crate) fn into_body_error(self, text: &str) -> SioError {
        match self {
            JsonObjectError::Json(e) => json_error(&e),
            JsonObjectError::DuplicateKey { key, offset } => {
                let (line, column) = line_column(text.as_bytes(), offset);
                SioError::MalformedJson {
                    message: format!("duplicate key `{key}`"),
                    line,
                    column,
                }
            }
        }
    }

    /// Records the error against the element at `path`, for an object nested in the body.
    pub(crate) fn record(self, path: &Path<'_>, errors: &mut Errors) {
        match self {
            JsonObjectError::Json(e) => errors.wrong_type(path, "object", &e.to_string()),
            JsonObjectError::DuplicateKey { key, .. } => errors.duplicate_key(path, &key),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for JsonObject<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonObject<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some(key) = map.next_key::<CowStr<'de>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    members.push((key.0, value));
                }
                Ok(JsonObject(members))
            }
        }
        d.deserialize_map(V)
    }
}

/// Why a JSON array could not be read.
pub(crate) enum JsonArrayError {
    /// It has more items than the limit.
    TooMany,
    /// It is not a well-formed array.
    Malformed,
}

/// The items of a JSON array, each left unparsed, refused as soon as there are more than
/// `limit`, before the rest is read.
pub(crate) fn parse_json_array(text: &str, limit: usize) -> Result<Vec<&RawValue>, JsonArrayError> {
    struct Seed<'c> {
        limit: usize,
        too_many: &'c std::cell::Cell<bool>,
    }
    impl<'de> serde::de::DeserializeSeed<'de> for Seed<'_> {
        type Value = Vec<&'de RawValue>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_seq(self)
        }
    }
    impl<'de> Visitor<'de> for Seed<'_> {
        type Value = Vec<&'de RawValue>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON array")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(4).min(self.limit));
            while let Some(item) = seq.next_element::<&'de RawValue>()? {
                if items.len() == self.limit {
                    self.too_many.set(true);
                    return Err(serde::de::Error::custom("too many items"));
                }
                items.push(item);
            }
            tick(items.len());
            Ok(items)
        }
    }
    use serde::de::DeserializeSeed;
    tick(text.len());
    let too_many = std::cell::Cell::new(false);
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = Seed {
        limit,
        too_many: &too_many,
    }
    .deserialize(&mut de)
    .and_then(|items| de.end().map(|()| items));
    parsed.map_err(|_| {
        if too_many.get() {
            JsonArrayError::TooMany
        } else {
            JsonArrayError::Malformed
        }
    })
}

/// The deepest nesting of arrays and objects in a JSON body. serde_json bounds its own
/// recursion at 128, but values kept unparsed (`RawValue`) are skipped without that bound, so
/// the body is checked first, in one pass.
pub const JSON_MAX_DEPTH: usize = 128;

/// Whether `text` nests arrays and objects deeper than `max`, strings excepted.
fn too_deep(text: &[u8], max: usize) -> bool {
    tick(text.len());
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in text {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Parses a JSON body that must be an object.
pub(crate) fn parse_json_body(body: &[u8]) -> Result<JsonObject<'_>, SioError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        let (line, column) = line_column(body, e.valid_up_to());
        SioError::MalformedJson {
            message: "invalid utf-8".into(),
            line,
            column,
        }
    })?;
    if too_deep(body, JSON_MAX_DEPTH) {
        return Err(SioError::JsonLimit {
            what: "nesting depth",
            limit: JSON_MAX_DEPTH,
        });
    }
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') && !trimmed.is_empty() {
        // Parse anyway so that garbage is reported as malformed with a position, and a valid
        // non-object as the wrong kind of document.
        return match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Err(e) => Err(json_error(&e)),
            Ok(_) => Err(SioError::UnexpectedDocument(
                "the json body must be an object".into(),
            )),
        };
    }
    JsonObject::parse(text).map_err(|e| e.into_body_error(text))
}

pub(crate) fn json_error(e: &serde_json::Error) -> SioError {
    let full = e.to_string();
    // serde_json appends " at line N column M"; the position has fields of its own.
    let message = match full.rfind(" at line ") {
        Some(i) => full[..i].to_owned(),
        None => full,
    };
    SioError::MalformedJson {
        message,
        line: e.line(),
        column: e.column(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(json: &str) -> String {
        let raw: &RawValue = serde_json::from_str(json).unwrap();
        match Node::Json(raw).scalar_text() {
            ScalarText::Text(t) => t.into_owned(),
            ScalarText::Null => "<null>".to_owned(),
            ScalarText::NotScalar(what) => format!("<{what}>"),
        }
    }

    #[test]
    fn json_strings_read_with_and_without_escapes() {
        assert_eq!(text_of(r#""123""#), "123");
        assert_eq!(text_of(r#""""#), "");
        assert_eq!(
            text_of(r#""caf\u00e9 \"x\" \\ \n""#),
            "caf\u{e9} \"x\" \\ \n"
        );
        assert_eq!(text_of(r#""żółw""#), "żółw");
        assert_eq!(text_of("5"), "5");
        assert_eq!(text_of("null"), "<null>");
    }
}

//! What decoding walks over: one element as it came ([`Node`]) and the children of an object
//! from every source, in priority order ([`Fields`]).

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::SioError;
use super::error::line_column;
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
        // JSON objects with a duplicated key: the last one wins, as in most parsers.
        Layer::Json(members) => members
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| Node::Json(v)),
        Layer::Xml(elem, src) => collect(
            elem.children
                .iter()
                .filter(|c| &*c.name == name)
                .map(|c| Node::Xml(c, src)),
        ),
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

/// The items of a JSON array, each left unparsed.
pub(crate) struct JsonArray<'a>(pub(crate) Vec<&'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for JsonArray<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonArray<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(4));
                while let Some(item) = seq.next_element::<&'de RawValue>()? {
                    items.push(item);
                }
                Ok(JsonArray(items))
            }
        }
        d.deserialize_seq(V)
    }
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
    serde_json::from_str::<JsonObject<'_>>(text).map_err(|e| json_error(&e))
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

//! A small XML tree for SimpleIO input, built with quick-xml under strict limits.
//!
//! What we refuse, because it is how XML parsers are attacked: any DOCTYPE (so no entity can be
//! declared, expanded or fetched, which rules out entity bombs and external entities), entities
//! other than the five predefined ones and character references, nesting deeper than
//! [`XmlLimits::max_depth`] and more than [`XmlLimits::max_elements`] elements. A document that
//! declares an encoding other than UTF-8 is refused too: it would be misread.

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

use super::error::{SioError, excerpt, line_column};
use super::work::tick;

/// The namespace of SOAP 1.1 envelopes.
pub(crate) const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The namespace of SOAP 1.2 envelopes.
pub(crate) const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";

/// The namespace of XML Schema instance attributes (`xsi:nil`).
pub(crate) const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// The SOAP 1.1 `actor` and SOAP 1.2 `role` values that address the node receiving a message
/// (us). No actor or role addresses the ultimate receiver, which we are too.
const ROLES_OF_OURS: [&[u8]; 3] = [
    b"http://schemas.xmlsoap.org/soap/actor/next",
    b"http://www.w3.org/2003/05/soap-envelope/role/next",
    b"http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver",
];

/// Bounds on the XML documents a channel accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlLimits {
    /// The deepest nesting of elements.
    pub max_depth: usize,
    /// The most elements in one document.
    pub max_elements: usize,
    /// The most attributes on one element (attributes are checked for duplicates, which costs
    /// the square of their number, so their number is bounded too).
    pub max_attributes: usize,
}

impl Default for XmlLimits {
    fn default() -> Self {
        XmlLimits {
            max_depth: 64,
            max_elements: 100_000,
            max_attributes: 256,
        }
    }
}

/// One element: local name, namespace, text and children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XmlElement {
    /// The local name, without any prefix.
    pub name: Box<str>,
    /// The namespace URI the element is in, if any.
    pub namespace: Option<Box<str>>,
    /// The unescaped text, for elements without children.
    pub text: String,
    /// The child elements, in document order.
    pub children: Vec<XmlElement>,
    /// Byte range of the element's content (between its tags) in the document.
    pub(crate) inner: (usize, usize),
    /// Byte range of the whole element, its tags included, in the document.
    pub(crate) outer: (usize, usize),
    /// Whether the element carries a SOAP `mustUnderstand` of `1` or `true` and is addressed to
    /// us (no `actor`/`role`, or one of ours): what a SOAP header block must be understood by.
    pub(crate) must_understand: bool,
    /// Whether the element carries `xsi:nil="true"` (or `"1"`): XML Schema's null, which
    /// SimpleIO reads as JSON's `null`.
    pub(crate) nil: bool,
}

impl XmlElement {
    /// The first child called `name` (local name).
    pub fn child(&self, name: &str) -> Option<&XmlElement> {
        self.children.iter().find(|c| &*c.name == name)
    }
}

fn malformed(src: &[u8], offset: usize, message: impl Into<String>) -> SioError {
    let (line, column) = line_column(src, offset);
    SioError::MalformedXml {
        message: message.into(),
        line,
        column,
    }
}

/// The namespace declarations (`xmlns`, `xmlns:p`) of one start tag, as key and unescaped
/// value; none when the tag does not read.
pub(crate) fn declarations(start_tag: &str) -> Vec<(String, String)> {
    let mut reader = quick_xml::Reader::from_str(start_tag);
    reader.config_mut().check_end_names = false;
    let Ok(Event::Start(e) | Event::Empty(e)) = reader.read_event() else {
        return Vec::new();
    };
    e.attributes()
        .flatten()
        .filter(|a| {
            let key = a.key.as_ref();
            key == b"xmlns" || key.starts_with(b"xmlns:")
        })
        .filter_map(|a| {
            let key = std::str::from_utf8(a.key.as_ref()).ok()?.to_owned();
            let value = a.unescape_value().ok()?.into_owned();
            Some((key, value))
        })
        .collect()
}

/// Parses a whole document and returns its root element.
pub(crate) fn parse(src: &str, limits: XmlLimits) -> Result<XmlElement, SioError> {
    let bytes = src.as_bytes();
    let mut reader = NsReader::from_str(src);
    let mut stack: Vec<XmlElement> = Vec::new();
    let mut root: Option<XmlElement> = None;
    let mut count = 0usize;
    loop {
        let before = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let (ns, event) = match reader.read_resolved_event() {
            Ok(ok) => ok,
            Err(e) => {
                let at = usize::try_from(reader.error_position()).unwrap_or(before);
                return Err(malformed(bytes, at, e.to_string()));
            }
        };
        // The resolved namespace borrows the reader, so it is copied out first.
        let namespace: Option<Box<str>> = match ns {
            ResolveResult::Bound(ns) => Some(
                std::str::from_utf8(ns.into_inner())
                    .map_err(|_| malformed(bytes, before, "namespace is not utf-8"))?
                    .into(),
            ),
            _ => None,
        };
        let after = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        tick(1);
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if root.is_some() {
                    return Err(malformed(bytes, before, "content after the root element"));
                }
                count += 1;
                if count > limits.max_elements {
                    return Err(SioError::XmlLimit {
                        what: "element count",
                        limit: limits.max_elements,
                    });
                }
                if stack.len() >= limits.max_depth {
                    return Err(SioError::XmlLimit {
                        what: "nesting depth",
                        limit: limits.max_depth,
                    });
                }
                let mut must_understand = false;
                let mut ours = true;
                let mut nil = false;
                for (i, attr) in e.attributes().with_checks(true).enumerate() {
                    tick(1);
                    if i >= limits.max_attributes {
                        return Err(SioError::XmlLimit {
                            what: "attribute count",
                            limit: limits.max_attributes,
                        });
                    }
                    let attr = attr.map_err(|err| malformed(bytes, before, err.to_string()))?;
                    let local = attr.key.local_name().into_inner();
                    if local == b"nil" {
                        // Only in the XML Schema instance namespace: a `nil` of the caller's own
                        // vocabulary is no null.
                        let in_xsi = matches!(
                            reader.resolve_attribute(attr.key).0,
                            ResolveResult::Bound(ns) if ns.into_inner() == XSI_NS.as_bytes()
                        );
                        // xsd:boolean's two spellings of true, whitespace collapsed.
                        nil = in_xsi && matches!(attr.value.trim_ascii(), b"true" | b"1");
                        continue;
                    }
                    if !matches!(local, b"mustUnderstand" | b"actor" | b"role") {
                        continue;
                    }
                    let in_soap = matches!(
                        reader.resolve_attribute(attr.key).0,
                        ResolveResult::Bound(ns)
                            if ns.into_inner() == SOAP11_NS.as_bytes()
                                || ns.into_inner() == SOAP12_NS.as_bytes()
                    );
                    if !in_soap {
                        continue;
                    }
                    let value = attr.value.trim_ascii();
                    if local == b"mustUnderstand" {
                        must_understand = matches!(value, b"1" | b"true");
                    } else {
                        ours = ROLES_OF_OURS.contains(&value);
                    }
                }
                let name = std::str::from_utf8(e.local_name().into_inner())
                    .map_err(|_| malformed(bytes, before, "element name is not utf-8"))?;
                let elem = XmlElement {
                    name: name.into(),
                    namespace,
                    text: String::new(),
                    children: Vec::new(),
                    inner: (after, after),
                    outer: (before, after),
                    must_understand: must_understand && ours,
                    nil,
                };
                if matches!(event, Event::Start(_)) {
                    stack.push(elem);
                } else {
                    close(elem, &mut stack, &mut root);
                }
            }
            Event::End(_) => {
                // quick-xml has already checked that the end tag matches.
                let Some(mut elem) = stack.pop() else {
                    return Err(malformed(bytes, before, "unexpected end tag"));
                };
                elem.inner.1 = before;
                elem.outer.1 = after;
                if !elem.children.is_empty() {
                    elem.text.clear();
                }
                close(elem, &mut stack, &mut root);
            }
            Event::Text(t) => {
                let text = t
                    .unescape()
                    .map_err(|e| malformed(bytes, before, e.to_string()))?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err(malformed(bytes, before, "text outside the root element")),
                }
            }
            Event::CData(c) => {
                let text = std::str::from_utf8(c.as_ref())
                    .map_err(|_| malformed(bytes, before, "CDATA is not utf-8"))?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(text),
                    None => return Err(malformed(bytes, before, "CDATA outside the root element")),
                }
            }
            Event::DocType(_) => {
                return Err(malformed(
                    bytes,
                    before,
                    "DOCTYPE is not allowed (entity declarations are refused)",
                ));
            }
            Event::Decl(ref d) => {
                // The body is read as UTF-8 whatever it declares; a document in another
                // encoding would be misread, so it is refused.
                if let Some(Ok(enc)) = d.encoding() {
                    let enc = String::from_utf8_lossy(&enc);
                    if !is_utf8_charset(&enc) {
                        return Err(SioError::UnsupportedCharset {
                            charset: excerpt(&enc),
                        });
                    }
                }
            }
            Event::Eof => break,
            Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(malformed(
            bytes,
            bytes.len(),
            format!("unclosed element `{}`", open.name),
        ));
    }
    root.ok_or_else(|| malformed(bytes, bytes.len(), "no root element"))
}

fn close(elem: XmlElement, stack: &mut [XmlElement], root: &mut Option<XmlElement>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(elem),
        None => *root = Some(elem),
    }
}

/// Whether a charset name means text we read: UTF-8 or its subset US-ASCII.
pub(crate) fn is_utf8_charset(name: &str) -> bool {
    ["utf-8", "utf8", "us-ascii"]
        .iter()
        .any(|c| c.eq_ignore_ascii_case(name.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_names_and_namespaces() {
        let doc = r#"<a:req xmlns:a="urn:x"><a:target>CRM</a:target><target>B</target></a:req>"#;
        let root = parse(doc, XmlLimits::default()).unwrap();
        assert_eq!(&*root.name, "req");
        assert_eq!(root.namespace.as_deref(), Some("urn:x"));
        let names: Vec<&str> = root.children.iter().map(|c| &*c.text).collect();
        assert_eq!(names, ["CRM", "B"]);
    }

    #[test]
    fn inner_range_covers_content() {
        let doc = "<r><x><y>1</y></x></r>";
        let root = parse(doc, XmlLimits::default()).unwrap();
        let x = root.child("x").unwrap();
        assert_eq!(&doc[x.inner.0..x.inner.1], "<y>1</y>");
    }

    #[test]
    fn xsi_nil_is_read_only_in_its_namespace() {
        let doc = r#"<r xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:o="urn:o">
            <a xsi:nil="true"/><b xsi:nil=" 1 "/><c xsi:nil="false"/><d o:nil="true"/>
            <e nil="true"/><f/></r>"#;
        let root = parse(doc, XmlLimits::default()).unwrap();
        let nil: Vec<bool> = root.children.iter().map(|c| c.nil).collect();
        assert_eq!(nil, [true, true, false, false, false, false]);
        // A prefix bound to no namespace is no XML Schema instance attribute.
        let root = parse(r#"<r><a xsi:nil="true"/></r>"#, XmlLimits::default()).unwrap();
        assert!(!root.children[0].nil);
    }

    #[test]
    fn unclosed_and_mismatched_tags_are_malformed() {
        for doc in [
            "<r><x></r>",
            "<r>",
            "<r></r><r></r>",
            "<r a=1></r>",
            "junk<r/>",
        ] {
            let err = parse(doc, XmlLimits::default()).unwrap_err();
            assert!(
                matches!(err, SioError::MalformedXml { .. }),
                "{doc}: {err:?}"
            );
        }
    }
}

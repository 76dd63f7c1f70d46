//! [`Writer`]: elements written straight into a JSON or XML body, the one thing every element type
//! needs to encode itself.

use std::borrow::Cow;
use std::fmt::Display;
use std::io::Write as _;

use quick_xml::escape::escape;

use super::xml::XSI_NS;

/// Where a [`Raw`](super::Raw) value came from, which decides how it is written back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawKind {
    /// JSON text: a string, number, object, … exactly as sent.
    Json,
    /// The content of an XML element, markup included.
    Xml,
    /// A plain value from the query string, a path parameter or a form.
    Text,
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    list: bool,
    first: bool,
}

/// Writes elements into a JSON or XML body. Lists in XML are repeated elements; in JSON, arrays.
///
/// Element types call it from [`SioType::encode`](super::SioType::encode); you need it only to
/// implement that trait by hand.
#[derive(Debug)]
pub struct Writer<'b> {
    buf: &'b mut Vec<u8>,
    xml: bool,
    /// The innermost open object or list. Kept apart from the ones around it so that a flat
    /// output, the usual one, never allocates a stack.
    top: Option<Frame>,
    outer: Vec<Frame>,
}

impl<'b> Writer<'b> {
    /// A writer of JSON (`xml == false`) or XML into `buf`.
    pub fn new(buf: &'b mut Vec<u8>, xml: bool) -> Self {
        Writer {
            buf,
            xml,
            top: None,
            outer: Vec::new(),
        }
    }

    fn push(&mut self, frame: Frame) {
        if let Some(parent) = self.top.replace(frame) {
            self.outer.push(parent);
        }
    }

    fn pop(&mut self) {
        self.top = self.outer.pop();
    }

    /// Writes the separator and key a JSON value needs in its position.
    fn json_key(&mut self, name: &str) {
        let Some(top) = self.top.as_mut() else {
            return;
        };
        if !top.first {
            self.buf.push(b',');
        }
        top.first = false;
        if !top.list {
            json_string(self.buf, name);
            self.buf.push(b':');
        }
    }

    fn xml_open(&mut self, name: &str) {
        self.buf.push(b'<');
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(b'>');
    }

    fn xml_close(&mut self, name: &str) {
        self.buf.extend_from_slice(b"</");
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(b'>');
    }

    /// A text element.
    pub fn string(&mut self, name: &str, value: &str) {
        if self.xml {
            self.xml_open(name);
            self.buf.extend_from_slice(xml_text(value).as_bytes());
            self.xml_close(name);
        } else {
            self.json_key(name);
            json_string(self.buf, value);
        }
    }

    /// A number, written with its `Display` form.
    pub fn number(&mut self, name: &str, value: impl Display) {
        if self.xml {
            self.xml_open(name);
            let _ = write!(self.buf, "{value}");
            self.xml_close(name);
        } else {
            self.json_key(name);
            let _ = write!(self.buf, "{value}");
        }
    }

    /// An integer, written without going through `fmt`.
    pub(crate) fn integer<I: itoa::Integer>(&mut self, name: &str, value: I) {
        let mut digits = itoa::Buffer::new();
        let text = digits.format(value).as_bytes();
        if self.xml {
            self.xml_open(name);
            self.buf.extend_from_slice(text);
            self.xml_close(name);
        } else {
            self.json_key(name);
            self.buf.extend_from_slice(text);
        }
    }

    /// A boolean.
    pub fn boolean(&mut self, name: &str, value: bool) {
        let text = if value { "true" } else { "false" };
        if self.xml {
            self.xml_open(name);
            self.buf.extend_from_slice(text.as_bytes());
            self.xml_close(name);
        } else {
            self.json_key(name);
            self.buf.extend_from_slice(text.as_bytes());
        }
    }

    /// An element without a value: `null` in JSON, and in XML an empty element marked
    /// `xsi:nil="true"`, as XML Schema writes a null, declaring the `xsi` prefix on the element
    /// itself (so the document needs no declaration elsewhere): a bare `<count/>` would be an
    /// empty string, which no schema of a number, date or boolean takes.
    pub fn null(&mut self, name: &str) {
        if self.xml {
            self.buf.push(b'<');
            self.buf.extend_from_slice(name.as_bytes());
            self.buf.extend_from_slice(b" xmlns:xsi=\"");
            self.buf.extend_from_slice(XSI_NS.as_bytes());
            self.buf.extend_from_slice(b"\" xsi:nil=\"true\"/>");
        } else {
            self.json_key(name);
            self.buf.extend_from_slice(b"null");
        }
    }

    /// A value kept as received: verbatim into its own format, as text into the other.
    pub fn raw(&mut self, name: &str, text: &str, kind: RawKind) {
        match (self.xml, kind) {
            (true, RawKind::Xml) => {
                self.xml_open(name);
                self.buf.extend_from_slice(text.as_bytes());
                self.xml_close(name);
            }
            (false, RawKind::Json) => {
                self.json_key(name);
                self.buf.extend_from_slice(text.as_bytes());
            }
            _ => self.string(name, text),
        }
    }

    /// Opens a nested object.
    pub fn begin_object(&mut self, name: &str) {
        if self.xml {
            self.xml_open(name);
        } else {
            self.json_key(name);
            self.buf.push(b'{');
        }
        self.push(Frame {
            list: false,
            first: true,
        });
    }

    /// Closes the object opened last.
    pub fn end_object(&mut self, name: &str) {
        self.pop();
        if self.xml {
            self.xml_close(name);
        } else {
            self.buf.push(b'}');
        }
    }

    /// Opens a list; its items are then encoded with the list's name.
    pub fn begin_list(&mut self, name: &str) {
        if !self.xml {
            self.json_key(name);
            self.buf.push(b'[');
        }
        self.push(Frame {
            list: true,
            first: true,
        });
    }

    /// Closes the list opened last.
    pub fn end_list(&mut self) {
        self.pop();
        if !self.xml {
            self.buf.push(b']');
        }
    }

    /// Opens the root element of an XML document, in `namespace` when given.
    pub(crate) fn begin_xml_root(&mut self, name: &str, namespace: Option<&str>) {
        self.buf.push(b'<');
        self.buf.extend_from_slice(name.as_bytes());
        if let Some(ns) = namespace {
            self.buf.extend_from_slice(b" xmlns=\"");
            self.buf.extend_from_slice(escape(ns).as_bytes());
            self.buf.push(b'"');
        }
        self.buf.push(b'>');
        self.push(Frame {
            list: false,
            first: true,
        });
    }
}

/// Whether XML 1.0 allows `c` in a document: not the C0 controls but tab, newline and carriage
/// return, nor U+FFFE and U+FFFF.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Text escaped for XML, with characters XML cannot carry replaced by U+FFFD, so that what a
/// caller sent (echoed in an output or an error) never makes the document unreadable.
pub(crate) fn xml_text(s: &str) -> Cow<'_, str> {
    if s.chars().all(xml_char) {
        escape(s)
    } else {
        let clean: String = s
            .chars()
            .map(|c| if xml_char(c) { c } else { '\u{FFFD}' })
            .collect();
        Cow::Owned(escape(clean.as_str()).into_owned())
    }
}

pub(crate) fn json_string(buf: &mut Vec<u8>, s: &str) {
    // serde_json's escaping is the reference; writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buf, s);
}

//! Errors of SimpleIO decoding, all of them the caller's fault, and [`Errors`], which collects
//! them while decoding one request.

use std::fmt;

use http::StatusCode;

/// What went wrong with one input element.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ElementProblem {
    /// A required element was not sent at all.
    Missing,
    /// The element was sent but its value is not of the declared type.
    WrongType {
        /// The declared type, as described to callers ("integer", "date", …).
        expected: &'static str,
        /// What came instead, truncated to a few dozen characters.
        got: String,
    },
    /// A list has more items than its element allows; refused before any item is decoded.
    TooManyItems {
        /// The most items the element takes.
        limit: usize,
    },
    /// A list has fewer items than its element takes (`#[sio(min_items = N)]`). In XML an empty
    /// list is no element at all, so a required one is [`Missing`](Self::Missing) instead.
    TooFewItems {
        /// The fewest items the element takes.
        minimum: usize,
        /// How many came.
        got: usize,
    },
    /// A JSON object names the same key twice (which value was meant cannot be told).
    DuplicateKey {
        /// The repeated key, truncated to a few dozen characters.
        key: String,
    },
}

/// One offending input element, named by its path (`customer.address.city`, `items[2].qty`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementError {
    /// The element's path from the request element.
    pub element: String,
    /// What is wrong with it.
    pub problem: ElementProblem,
}

impl fmt::Display for ElementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            ElementProblem::Missing => write!(f, "missing required element `{}`", self.element),
            ElementProblem::WrongType { expected, got } => write!(
                f,
                "element `{}` should be {expected}, got `{got}`",
                self.element
            ),
            ElementProblem::TooManyItems { limit } => {
                write!(f, "element `{}` has more than {limit} items", self.element)
            }
            ElementProblem::TooFewItems { minimum, got } => write!(
                f,
                "element `{}` needs at least {minimum} item{}, got {got}",
                self.element,
                if *minimum == 1 { "" } else { "s" }
            ),
            ElementProblem::DuplicateKey { key } => write!(
                f,
                "element `{}` has the key `{key}` more than once",
                self.element
            ),
        }
    }
}

/// Every problem found in one request's elements, in declaration order.
///
/// Decoding does not stop at the first problem: a caller who forgot three elements hears about
/// all three at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidInput {
    /// The offending elements; never empty.
    pub errors: Vec<ElementError>,
}

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid input: ")?;
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Whose fault an error is, as SOAP names it.
///
/// SOAP 1.1 calls the two main codes `Client` and `Server`, SOAP 1.2 `Sender` and `Receiver`;
/// both versions also have `VersionMismatch` and `MustUnderstand`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultCode {
    /// The caller sent something wrong (`Client` / `Sender`).
    Client,
    /// The platform or a system behind it failed (`Server` / `Receiver`).
    Server,
    /// The envelope is not in a SOAP namespace we speak (`VersionMismatch` in both versions).
    VersionMismatch,
    /// A header the caller marked `mustUnderstand` is not understood (`MustUnderstand` in both
    /// versions).
    MustUnderstand,
}

impl FaultCode {
    /// The code's local name in SOAP 1.1.
    pub fn soap11(self) -> &'static str {
        match self {
            FaultCode::Client => "Client",
            FaultCode::Server => "Server",
            FaultCode::VersionMismatch => "VersionMismatch",
            FaultCode::MustUnderstand => "MustUnderstand",
        }
    }

    /// The code's local name in SOAP 1.2.
    pub fn soap12(self) -> &'static str {
        match self {
            FaultCode::Client => "Sender",
            FaultCode::Server => "Receiver",
            FaultCode::VersionMismatch => "VersionMismatch",
            FaultCode::MustUnderstand => "MustUnderstand",
        }
    }
}

/// Why a request could not be turned into a service's typed input.
///
/// Every variant is the caller's fault, so none maps to a 5xx status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SioError {
    /// Elements missing or of the wrong type.
    #[error("{0}")]
    InvalidInput(InvalidInput),
    /// The body is not well-formed JSON.
    #[error("malformed json at line {line}, column {column}: {message}")]
    MalformedJson {
        /// The parser's message.
        message: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// The body is not well-formed XML, or uses what we refuse (DOCTYPE, entities).
    #[error("malformed xml at line {line}, column {column}: {message}")]
    MalformedXml {
        /// The parser's message.
        message: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// The XML is well-formed but too deep or too large.
    #[error("xml limit exceeded: {what} over {limit}")]
    XmlLimit {
        /// Which limit: "nesting depth" or "element count".
        what: &'static str,
        /// The configured maximum.
        limit: usize,
    },
    /// The JSON is well-formed but nested too deeply.
    #[error("json limit exceeded: {what} over {limit}")]
    JsonLimit {
        /// Which limit: "nesting depth".
        what: &'static str,
        /// The maximum.
        limit: usize,
    },
    /// A percent-encoded query string or form body decodes to bytes that are not UTF-8.
    #[error("invalid utf-8 in the {part} after percent-decoding")]
    InvalidUtf8 {
        /// Where: "query string" or "form body".
        part: &'static str,
    },
    /// The envelope is in a namespace that is neither SOAP 1.1's nor SOAP 1.2's: a
    /// `VersionMismatch` fault.
    #[error("soap version mismatch: unknown envelope namespace `{namespace}`")]
    SoapVersionMismatch {
        /// The namespace the envelope came in (truncated).
        namespace: String,
    },
    /// A SOAP header addressed to us is marked `mustUnderstand`, and we understand no header:
    /// a `MustUnderstand` fault.
    #[error("soap header `{header}` is marked mustUnderstand and is not understood")]
    SoapMustUnderstand {
        /// The header's local name (truncated).
        header: String,
    },
    /// The body parsed but is not the kind of document expected (a JSON array where an object
    /// belongs, a SOAP envelope without a Body, …).
    #[error("unexpected document: {0}")]
    UnexpectedDocument(String),
    /// The request's media type does not fit the channel's data format.
    #[error("unsupported media type `{content_type}` for a {expected} channel")]
    UnsupportedMediaType {
        /// The Content-Type the caller sent (truncated).
        content_type: String,
        /// The channel's data format.
        expected: &'static str,
    },
    /// The request's media type or XML declaration names a charset other than UTF-8.
    #[error("unsupported charset `{charset}`: only utf-8 is accepted")]
    UnsupportedCharset {
        /// The charset the caller named (truncated).
        charset: String,
    },
    /// The body is larger than the channel accepts.
    #[error("request body too large: limit is {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

impl SioError {
    /// The HTTP status this error is answered with.
    ///
    /// `VersionMismatch` and `MustUnderstand` faults are 400 here, although the SOAP 1.2 HTTP
    /// binding answers them with 500: both are about what the caller sent, and our contract is
    /// that the caller's fault is never a 5xx (a 5xx invites retries, alerts and blame on the
    /// server). The fault code in the body still says which fault it is.
    pub fn status(&self) -> StatusCode {
        match self {
            SioError::UnsupportedMediaType { .. } | SioError::UnsupportedCharset { .. } => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            SioError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// A short machine-readable code for error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            SioError::InvalidInput(_) => "invalid_input",
            SioError::MalformedJson { .. } => "malformed_json",
            SioError::MalformedXml { .. } => "malformed_xml",
            SioError::XmlLimit { .. } => "xml_limit_exceeded",
            SioError::JsonLimit { .. } => "json_limit_exceeded",
            SioError::InvalidUtf8 { .. } => "invalid_utf8",
            SioError::SoapVersionMismatch { .. } => "soap_version_mismatch",
            SioError::SoapMustUnderstand { .. } => "soap_must_understand",
            SioError::UnexpectedDocument(_) => "unexpected_document",
            SioError::UnsupportedCharset { .. } => "unsupported_charset",
            SioError::UnsupportedMediaType { .. } => "unsupported_media_type",
            SioError::PayloadTooLarge { .. } => "payload_too_large",
        }
    }

    /// The SOAP fault code this error is answered with: `VersionMismatch`, `MustUnderstand`
    /// or, for everything else, `Client`.
    pub fn fault_code(&self) -> FaultCode {
        match self {
            SioError::SoapVersionMismatch { .. } => FaultCode::VersionMismatch,
            SioError::SoapMustUnderstand { .. } => FaultCode::MustUnderstand,
            _ => FaultCode::Client,
        }
    }

    /// The offending elements, when the error is about elements.
    pub fn element_errors(&self) -> &[ElementError] {
        match self {
            SioError::InvalidInput(i) => &i.errors,
            _ => &[],
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

/// Truncates what a caller sent to a length fit for an error message.
pub(crate) fn excerpt(s: &str) -> String {
    const MAX: usize = 64;
    if s.chars().count() <= MAX {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(MAX).collect();
    out.push('…');
    out
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_column(src: &[u8], offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

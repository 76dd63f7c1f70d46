//! Errors of SimpleIO decoding: all of them the caller's fault.

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
    /// The body is larger than the channel accepts.
    #[error("request body too large: limit is {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

impl SioError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            SioError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
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
            SioError::UnexpectedDocument(_) => "unexpected_document",
            SioError::UnsupportedMediaType { .. } => "unsupported_media_type",
            SioError::PayloadTooLarge { .. } => "payload_too_large",
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

//! The errors of the Swift connector.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use zato_core::{ConfigError, OutgoingError, OutgoingErrorKind, ServiceError};

/// A boxed underlying error, kept as `source()` so no dependency type is public.
pub(crate) type BoxError = Box<dyn StdError + Send + Sync>;

/// What went wrong talking to Swift, and through which connection.
///
/// An error returned by a [`SwiftClient`](crate::SwiftClient), a
/// [`PooledSwiftClient`](crate::PooledSwiftClient) or
/// [`SwiftConnection::client`](crate::SwiftConnection::client) carries the configured connection
/// name ([`connection`](SwiftError::connection)), so `?` in a service names the right
/// connection. What failed is its [`kind`](SwiftError::kind).
///
/// No message ever holds a key, a password or a token: authentication bodies are never quoted,
/// and the excerpts of error bodies come from Swift responses, which hold none.
///
/// # Examples
///
/// ```
/// use zato_swift::{SwiftError, SwiftErrorKind};
///
/// let err = zato_swift::check_container("a/b").unwrap_err();
/// assert!(matches!(err.kind(), SwiftErrorKind::InvalidName { .. }));
/// assert_eq!(err.connection(), None);
/// ```
#[derive(Debug)]
pub struct SwiftError {
    /// Set once, when the error leaves a client or a connection.
    connection: Option<Arc<str>>,
    kind: SwiftErrorKind,
    /// An earlier attempt of the same request got no answer, so it may have been carried out.
    earlier_attempt_unanswered: bool,
}

/// What failed, in a [`SwiftError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SwiftErrorKind {
    /// Swift or Keystone refused the credentials, or a request kept answering 401 after a
    /// re-authentication.
    #[error("authentication failed: {message}")]
    AuthFailed {
        /// What was refused, without any secret.
        message: String,
    },
    /// The container or object does not exist (404).
    #[error("{} not found", describe(container, object.as_deref()))]
    NotFound {
        /// The container's name.
        container: String,
        /// The object's name, when an object was addressed.
        object: Option<String>,
    },
    /// The request conflicts with the current state: a non-empty container deleted (409), or an
    /// object that already exists written with `If-None-Match: *` (412).
    #[error("conflict on {}: {message}", describe(container, object.as_deref()))]
    Conflict {
        /// The container's name.
        container: String,
        /// The object's name, when an object was addressed.
        object: Option<String>,
        /// What conflicted.
        message: String,
    },
    /// The MD5 of the data does not match the ETag sent or received.
    #[error(
        "etag mismatch on {}: expected {expected}, got {actual}",
        describe(container, Some(object))
    )]
    EtagMismatch {
        /// The container's name.
        container: String,
        /// The object's name.
        object: String,
        /// The MD5 we computed (or sent).
        expected: String,
        /// The ETag Swift answered with, or `unprocessable` when Swift refused ours (422).
        actual: String,
    },
    /// The request did not finish within the configured timeout, retries included.
    #[error("request timed out after {}ms", .after.as_millis())]
    Timeout {
        /// The per-request timeout that ran out.
        after: Duration,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
    /// Swift could not be reached: connection refused, DNS failure, TLS failure.
    #[error("swift is unreachable: {message}")]
    Unreachable {
        /// What failed.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
    /// Swift answered with an unexpected status.
    ///
    /// Shown as `swift answered 503 Service Unavailable to PUT object CRM/Invoice: overloaded`.
    #[error("swift answered {} to {operation}{}", status_line(*.status), after_colon(.excerpt))]
    Http {
        /// The HTTP status.
        status: u16,
        /// The operation, e.g. `PUT object invoices/123.json`.
        operation: String,
        /// A summary of the body: plain text (an HTML page's markup is dropped), on one line,
        /// at most about 200 characters. Never the raw body.
        excerpt: String,
    },
    /// A container or object name was refused before any request was sent.
    #[error("invalid {kind} name {name:?}: {reason}")]
    InvalidName {
        /// `container` or `object`.
        kind: &'static str,
        /// The name, cut to 80 characters.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A metadata key or value cannot be sent as an HTTP header.
    #[error("invalid metadata {key:?}: {reason}")]
    InvalidMetadata {
        /// The key.
        key: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The connection's configuration is invalid.
    #[error(transparent)]
    Config(ConfigError),
    /// No pooled client became free within the bounded wait.
    #[error("no free swift client within {}ms (pool size {pool_size})", .waited.as_millis())]
    PoolExhausted {
        /// How long the checkout waited.
        waited: Duration,
        /// The pool's size.
        pool_size: u32,
    },
    /// The connection is defined but not active.
    #[error("connection is inactive")]
    Inactive,
    /// Swift or Keystone answered something this client cannot understand, such as a catalog
    /// without an object-store endpoint for the configured region and interface.
    #[error("unexpected response: {message}")]
    Protocol {
        /// What was wrong.
        message: String,
    },
    /// The request failed in a way none of the other variants describes.
    #[error("request failed: {message}")]
    Transport {
        /// What failed.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
}

/// `503 Service Unavailable`, or just the number for a status with no standard reason.
fn status_line(status: u16) -> String {
    match http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

fn after_colon(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

fn describe(container: &str, object: Option<&str>) -> String {
    match object {
        Some(o) => format!("object `{container}/{o}`"),
        None => format!("container `{container}`"),
    }
}

impl SwiftError {
    /// An error of `kind` that names no connection yet.
    pub fn new(kind: SwiftErrorKind) -> Self {
        SwiftError {
            connection: None,
            kind,
            earlier_attempt_unanswered: false,
        }
    }

    /// What failed.
    pub fn kind(&self) -> &SwiftErrorKind {
        &self.kind
    }

    /// What failed, owned.
    pub fn into_kind(self) -> SwiftErrorKind {
        self.kind
    }

    /// The name of the connection the error came from; `None` for an error that belongs to no
    /// connection, such as an invalid configuration or a name checked on its own.
    pub fn connection(&self) -> Option<&str> {
        self.connection.as_deref()
    }

    /// Names the connection the error came from, unless it already names one.
    pub(crate) fn with_connection(mut self, name: &Arc<str>) -> Self {
        if self.connection.is_none() {
            self.connection = Some(name.clone());
        }
        self
    }

    /// Marks that an earlier attempt of the request that failed got no answer.
    pub(crate) fn after_unanswered_attempt(mut self, unanswered: bool) -> Self {
        self.earlier_attempt_unanswered |= unanswered;
        self
    }

    /// Whether the failed request may nevertheless have been carried out: it (or an earlier
    /// attempt of it) was sent but got no answer, because it timed out or the connection broke.
    /// A write failing this way may or may not have been stored; any other error means it was
    /// not (Swift refused it, or it was never sent).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use zato_swift::{SwiftError, SwiftErrorKind};
    ///
    /// let timeout = SwiftError::new(SwiftErrorKind::Timeout {
    ///     after: Duration::from_secs(5),
    ///     source: None,
    /// });
    /// assert!(timeout.outcome_unknown());
    /// assert!(!zato_swift::check_container("..").unwrap_err().outcome_unknown());
    /// ```
    pub fn outcome_unknown(&self) -> bool {
        self.earlier_attempt_unanswered
            || matches!(
                self.kind,
                SwiftErrorKind::Timeout { .. } | SwiftErrorKind::Transport { .. }
            )
    }

    /// Whether the error is a 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self.kind, SwiftErrorKind::NotFound { .. })
    }

    /// The status-class this error is answered with when a service returns it.
    pub fn outgoing_kind(&self) -> OutgoingErrorKind {
        match self.kind {
            SwiftErrorKind::Timeout { .. } => OutgoingErrorKind::Timeout,
            SwiftErrorKind::PoolExhausted { .. } | SwiftErrorKind::Inactive => {
                OutgoingErrorKind::Unavailable
            }
            _ => OutgoingErrorKind::BadGateway,
        }
    }

    /// Converts into the error a service returns, naming the connection `connection` (whatever
    /// connection the error carries).
    ///
    /// A 404 becomes [`ServiceError::NotFound`] naming the container or object, because a
    /// service that fetches a document by id usually wants to answer 404 itself; every other
    /// error becomes [`ServiceError::Outgoing`]: pool exhausted or inactive → 503, timeout →
    /// 504, anything else (Swift error, unreachable, auth failed, invalid name) → 502.
    pub fn into_service_error(self, connection: &str) -> ServiceError {
        if let SwiftErrorKind::NotFound { container, object } = &self.kind {
            return ServiceError::NotFound(describe(container, object.as_deref()));
        }
        let kind = self.outgoing_kind();
        let message = self.to_string();
        // The message is this error's own; its cause becomes the cause, so a report of the
        // chain says each thing once.
        let cause = match self.kind {
            SwiftErrorKind::Timeout { source, .. }
            | SwiftErrorKind::Unreachable { source, .. }
            | SwiftErrorKind::Transport { source, .. } => source,
            _ => None,
        };
        let err = OutgoingError::new(connection, kind, message);
        match cause {
            Some(cause) => err.with_boxed_source(cause),
            None => err,
        }
        .into()
    }
}

/// The kind's message: the connection is named by whoever reports the error (a
/// [`ServiceError`] names it in its own message), so it is not repeated here.
impl fmt::Display for SwiftError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.kind, f)
    }
}

/// The kind's source: the kind is the error itself, not its cause.
impl StdError for SwiftError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.kind.source()
    }
}

impl From<SwiftErrorKind> for SwiftError {
    fn from(kind: SwiftErrorKind) -> Self {
        SwiftError::new(kind)
    }
}

impl From<ConfigError> for SwiftError {
    fn from(err: ConfigError) -> Self {
        SwiftError::new(SwiftErrorKind::Config(err))
    }
}

/// Names the connection the error came from ([`SwiftError::connection`]), or `swift` for an
/// error that belongs to no connection; use [`SwiftError::into_service_error`] to name it
/// yourself.
impl From<SwiftError> for ServiceError {
    fn from(err: SwiftError) -> Self {
        let name = err.connection().unwrap_or("swift").to_owned();
        err.into_service_error(&name)
    }
}

/// Maps a reqwest error, which carries no secret (tokens travel in headers, never in URLs).
pub(crate) fn from_reqwest(err: reqwest::Error, timeout: Duration) -> SwiftError {
    let kind = if err.is_timeout() {
        SwiftErrorKind::Timeout {
            after: timeout,
            source: Some(Box::new(err)),
        }
    } else if err.is_connect() {
        SwiftErrorKind::Unreachable {
            message: "could not connect".into(),
            source: Some(Box::new(err)),
        }
    } else {
        SwiftErrorKind::Transport {
            message: err.to_string(),
            source: Some(Box::new(err)),
        }
    };
    kind.into()
}

/// How much of a body is looked at for an excerpt: enough for any error page's message.
const EXCERPT_SCAN: usize = 16 * 1024;
/// The longest excerpt, in characters, before the `…`.
const EXCERPT_MAX: usize = 200;

/// A short plain-text summary of an error body, for an error message: markup dropped when it
/// is HTML (or XML), with `<script>` and `<style>` contents skipped and the common entities
/// decoded; whitespace and control characters collapsed into single spaces; at most
/// [`EXCERPT_MAX`] characters, then `…`.
pub(crate) fn excerpt(body: &[u8], content_type: Option<&str>) -> String {
    let scanned = &body[..body.len().min(EXCERPT_SCAN)];
    let text = String::from_utf8_lossy(scanned);
    let markup = content_type.is_some_and(|ct| ct.contains("html") || ct.contains("xml"))
        || text.trim_start().starts_with('<');
    let plain = if markup {
        strip_markup(&text)
    } else {
        text.into_owned()
    };
    let mut out = String::with_capacity(EXCERPT_MAX + 4);
    let mut count = 0;
    let mut pending_space = false;
    for c in plain.chars() {
        if c.is_whitespace() || c.is_control() {
            pending_space = !out.is_empty();
            continue;
        }
        if count == EXCERPT_MAX {
            out.push('…');
            return out;
        }
        if pending_space {
            out.push(' ');
            count += 1;
            pending_space = false;
            if count == EXCERPT_MAX {
                out.push('…');
                return out;
            }
        }
        out.push(c);
        count += 1;
    }
    if body.len() > EXCERPT_SCAN {
        out.push('…');
    }
    out
}

/// The text of an HTML or XML document: tags, comments and the contents of `script` and
/// `style` dropped, each tag read as a space, a few entities decoded.
fn strip_markup(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&decode_entities(&rest[..lt]));
        out.push(' ');
        let tag = &rest[lt..];
        let lower: String = tag.chars().take(8).collect::<String>().to_ascii_lowercase();
        let skip_to = if lower.starts_with("<!--") {
            tag.find("-->").map(|i| i + 3)
        } else if lower.starts_with("<script") {
            find_ci(tag, "</script").and_then(|i| tag[i..].find('>').map(|j| i + j + 1))
        } else if lower.starts_with("<style") {
            find_ci(tag, "</style").and_then(|i| tag[i..].find('>').map(|j| i + j + 1))
        } else {
            tag.find('>').map(|i| i + 1)
        };
        match skip_to {
            Some(end) => rest = &tag[end..],
            // An unclosed tag: nothing after it is text.
            None => return out,
        }
    }
    out.push_str(&decode_entities(rest));
    out
}

fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

/// Shows a value from outside (a name, a server's text, an error that quotes one) in a log
/// line with its control characters escaped (`\r`, `\n`, `\u{1b}`), so it cannot start a line
/// of its own. For `tracing` fields: `error = %Escaped(&e)`.
pub(crate) struct Escaped<T>(pub(crate) T);

impl<T: fmt::Display> fmt::Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct EscapeControls<'a, 'b>(&'a mut fmt::Formatter<'b>);
        impl fmt::Write for EscapeControls<'_, '_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                for c in s.chars() {
                    if c.is_control() {
                        write!(self.0, "{}", c.escape_default())?;
                    } else {
                        fmt::Write::write_char(self.0, c)?;
                    }
                }
                Ok(())
            }
        }
        fmt::write(&mut EscapeControls(f), format_args!("{}", self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mapping() {
        let nf: ServiceError = SwiftError::from(SwiftErrorKind::NotFound {
            container: "inv".into(),
            object: Some("1.json".into()),
        })
        .into();
        assert_eq!(nf.status().as_u16(), 404);
        assert!(nf.to_string().contains("inv/1.json"), "{nf}");
        let t = SwiftError::from(SwiftErrorKind::Timeout {
            after: Duration::from_secs(1),
            source: None,
        })
        .into_service_error("Invoice Dispatcher");
        assert_eq!(t.status().as_u16(), 504);
        assert!(t.to_string().contains("Invoice Dispatcher"));
        let p: ServiceError = SwiftError::from(SwiftErrorKind::PoolExhausted {
            waited: Duration::from_secs(1),
            pool_size: 5,
        })
        .into();
        assert_eq!(p.status().as_u16(), 503);
        let h: ServiceError = SwiftError::from(SwiftErrorKind::Http {
            status: 500,
            operation: "GET".into(),
            excerpt: "boom".into(),
        })
        .into();
        assert_eq!(h.status().as_u16(), 502);
    }

    #[test]
    fn the_service_error_names_the_connection_the_error_came_from() {
        let name: Arc<str> = Arc::from("Invoice Dispatcher");
        let err = SwiftError::from(SwiftErrorKind::Inactive).with_connection(&name);
        assert_eq!(err.connection(), Some("Invoice Dispatcher"));
        // A name already attached is kept.
        let err = err.with_connection(&Arc::from("other"));
        assert_eq!(err.connection(), Some("Invoice Dispatcher"));
        assert_eq!(err.to_string(), "connection is inactive");
        let service: ServiceError = err.into();
        assert_eq!(service.status().as_u16(), 503);
        assert!(
            service.to_string().contains("`Invoice Dispatcher`"),
            "{service}"
        );
        let bare: ServiceError = SwiftError::from(ConfigError::new(vec![])).into();
        assert!(bare.to_string().contains("`swift`"), "{bare}");
    }

    #[test]
    fn display_and_source_are_the_kinds() {
        let cause = std::io::Error::other("refused");
        let err = SwiftError::from(SwiftErrorKind::Unreachable {
            message: "could not connect".into(),
            source: Some(Box::new(cause)),
        })
        .with_connection(&Arc::from("crm"));
        assert_eq!(err.to_string(), "swift is unreachable: could not connect");
        assert_eq!(
            err.source().map(ToString::to_string).as_deref(),
            Some("refused")
        );
        assert!(matches!(
            err.into_kind(),
            SwiftErrorKind::Unreachable { .. }
        ));
    }

    #[test]
    fn excerpt_is_short_and_single_line() {
        let body = "a\nb".repeat(300);
        let e = excerpt(body.as_bytes(), Some("text/plain"));
        assert!(!e.contains('\n'));
        assert_eq!(e.chars().count(), EXCERPT_MAX + 1);
        assert!(e.starts_with("a ba ba b") && e.ends_with('…'), "{e}");
        assert_eq!(excerpt(b"  overloaded\r\n", None), "overloaded");
        assert_eq!(excerpt(b"", None), "");
        assert_eq!(excerpt(b"a < b", Some("text/plain")), "a < b");
    }

    #[test]
    fn an_html_error_page_is_summarised_as_its_text() {
        let page = "<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title>\n\
            <style>body { color: red }</style><script>alert('x')</script></head>\n\
            <body><!-- node 7 --><h1>Internal Server Error</h1>\r\n<p>The server has either \
            erred or is incapable of performing\tthe requested operation &amp; gave up.</p>\
            </body></html>";
        let e = excerpt(page.as_bytes(), Some("text/html; charset=UTF-8"));
        assert_eq!(
            e,
            "500 Internal Server Error Internal Server Error The server has either erred or is \
             incapable of performing the requested operation & gave up."
        );
        let long = format!("<html><body>{}</body></html>", "word ".repeat(500));
        let e = excerpt(long.as_bytes(), None);
        assert!(!e.contains('<') && e.ends_with('…'), "{e}");
        assert!(e.chars().count() <= EXCERPT_MAX + 1);
        // Markup never closed: what follows is not shown.
        assert_eq!(excerpt(b"<html><p>oops <a href=\"x", None), "oops");
    }

    #[test]
    fn http_errors_show_the_status_and_its_reason() {
        let err = SwiftError::from(SwiftErrorKind::Http {
            status: 503,
            operation: "PUT object CRM/Invoice".into(),
            excerpt: "overloaded".into(),
        });
        assert_eq!(
            err.to_string(),
            "swift answered 503 Service Unavailable to PUT object CRM/Invoice: overloaded"
        );
        let err = SwiftError::from(SwiftErrorKind::Http {
            status: 498,
            operation: "GET account".into(),
            excerpt: String::new(),
        });
        assert_eq!(err.to_string(), "swift answered 498 to GET account");
    }

    #[test]
    fn escaped_values_stay_on_one_line() {
        let forged = "CRM\r\n2024-01-01 ERROR forged\u{1b}[31m";
        let shown = Escaped(forged).to_string();
        assert_eq!(shown, "CRM\\r\\n2024-01-01 ERROR forged\\u{1b}[31m");
        assert_eq!(Escaped("Billing ż").to_string(), "Billing ż");
    }
}

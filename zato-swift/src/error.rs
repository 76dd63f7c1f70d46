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
    #[error("swift answered {status} to {operation}: {excerpt}")]
    Http {
        /// The HTTP status.
        status: u16,
        /// The operation, e.g. `PUT object invoices/123.json`.
        operation: String,
        /// The first few hundred characters of the body.
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

/// The first characters of a body, on one line, for an error message.
pub(crate) fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(body);
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX)
        .collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    out.trim().to_string()
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
        let e = excerpt(body.as_bytes());
        assert!(!e.contains('\n'));
        assert!(e.chars().count() <= 201);
    }
}

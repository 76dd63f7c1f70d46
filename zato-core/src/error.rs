//! The error a service, a channel or an outgoing connection answers with.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use http::StatusCode;

pub use crate::sio::FaultCode;
use crate::sio::SioError;

/// How an outgoing connection failed, which decides the status the caller sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutgoingErrorKind {
    /// The remote system answered with an error or could not be reached: 502.
    BadGateway,
    /// The connection is inactive, missing, or its pool has no free client: 503.
    Unavailable,
    /// The remote system did not answer in time: 504.
    Timeout,
}

/// A failure of an outgoing connection. Not the caller's fault, so a 5xx naming the connection.
#[derive(Debug)]
pub struct OutgoingError {
    connection: String,
    kind: OutgoingErrorKind,
    message: String,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl OutgoingError {
    /// A failure of the connection named `connection`. The message must hold no secret.
    pub fn new(
        connection: impl Into<String>,
        kind: OutgoingErrorKind,
        message: impl Into<String>,
    ) -> Self {
        OutgoingError {
            connection: connection.into(),
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Keeps the underlying error as this one's `source()`.
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Keeps an underlying error already boxed as this one's `source()`.
    pub fn with_boxed_source(mut self, source: Box<dyn StdError + Send + Sync + 'static>) -> Self {
        self.source = Some(source);
        self
    }

    /// The connection's name.
    pub fn connection(&self) -> &str {
        &self.connection
    }

    /// How it failed.
    pub fn kind(&self) -> OutgoingErrorKind {
        self.kind
    }

    /// What failed, without any secret.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for OutgoingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "outgoing connection `{}`: {}",
            self.connection, self.message
        )
    }
}

impl StdError for OutgoingError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// The error of an invocation: what the caller is told, with the status and fault code to tell
/// it with.
///
/// Services return it from `handle`; channels answer with it; each variant knows its HTTP status
/// ([`ServiceError::status`]) and SOAP fault code ([`ServiceError::fault_code`]), so no channel
/// keeps a table of its own.
///
/// # Examples
///
/// ```
/// use zato_core::ServiceError;
/// use http::StatusCode;
///
/// let err = ServiceError::bad_request("amount must be positive");
/// assert_eq!(err.status(), StatusCode::BAD_REQUEST);
/// assert_eq!(err.to_string(), "bad request: amount must be positive");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The input could not be decoded: 400, 413 or 415.
    #[error(transparent)]
    Input(#[from] SioError),
    /// The service refused the request as the caller's mistake: 400.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The caller did not authenticate: 401.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The caller is known, or its address is, and is not allowed in: 403.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The caller sent more requests than its rate limit allows: 429, with a `Retry-After`
    /// of the time until its next request would be let in.
    #[error("too many requests: retry after {}s", .retry_after.as_secs().max(1))]
    TooManyRequests {
        /// How long until the next request would be let in.
        retry_after: Duration,
    },
    /// Nothing by that name: an unknown path, service or object: 404.
    #[error("not found: {0}")]
    NotFound(String),
    /// The method is not allowed on this path: 405.
    #[error("method not allowed; allowed: {allow}")]
    MethodNotAllowed {
        /// The allowed methods, comma-separated, for the `Allow` header.
        allow: String,
    },
    /// The request conflicts with the current state: 409.
    #[error("conflict: {0}")]
    Conflict(String),
    /// An outgoing connection failed: 502, 503 or 504.
    #[error(transparent)]
    Outgoing(#[from] OutgoingError),
    /// The request's body is encoded (`Content-Encoding: gzip`) and only `identity` is
    /// accepted: 415. Holds the encoding the caller named.
    #[error("unsupported content encoding `{0}`: only identity is accepted")]
    UnsupportedContentEncoding(String),
    /// The caller did not send the whole request in time: 408.
    #[error("request body not received within {}ms", .0.as_millis())]
    RequestTimeout(Duration),
    /// The service did not finish in time: 504.
    #[error("service timed out after {}ms", .0.as_millis())]
    Timeout(Duration),
    /// The channel is inactive or shutting down: 503.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The service itself failed: 500.
    #[error("internal error: {message}")]
    Internal {
        /// What failed, safe to show a caller.
        message: String,
        /// The underlying error, logged but not shown.
        #[source]
        source: Option<Box<dyn StdError + Send + Sync>>,
    },
}

impl ServiceError {
    /// A 400 with a message for the caller.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ServiceError::BadRequest(message.into())
    }

    /// A 404 naming what was not found.
    pub fn not_found(what: impl Into<String>) -> Self {
        ServiceError::NotFound(what.into())
    }

    /// A 500 with a message for the caller.
    pub fn internal(message: impl Into<String>) -> Self {
        ServiceError::Internal {
            message: message.into(),
            source: None,
        }
    }

    /// A 500 that keeps `source` for the logs.
    pub fn internal_from(
        message: impl Into<String>,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        ServiceError::Internal {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ServiceError::Input(e) => e.status(),
            ServiceError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ServiceError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
            ServiceError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
            ServiceError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ServiceError::Conflict(_) => StatusCode::CONFLICT,
            ServiceError::Outgoing(e) => match e.kind {
                OutgoingErrorKind::BadGateway => StatusCode::BAD_GATEWAY,
                OutgoingErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                OutgoingErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
            },
            ServiceError::UnsupportedContentEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ServiceError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ServiceError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ServiceError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ServiceError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The SOAP fault code: the input error's own ([`SioError::fault_code`]), else `Client` for
    /// every 4xx and `Server` for every 5xx.
    pub fn fault_code(&self) -> FaultCode {
        if let ServiceError::Input(e) = self {
            e.fault_code()
        } else if self.status().is_client_error() {
            FaultCode::Client
        } else {
            FaultCode::Server
        }
    }

    /// A short machine-readable code for error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::Input(e) => e.code(),
            ServiceError::BadRequest(_) => "bad_request",
            ServiceError::Unauthorized(_) => "unauthorized",
            ServiceError::Forbidden(_) => "forbidden",
            ServiceError::TooManyRequests { .. } => "too_many_requests",
            ServiceError::NotFound(_) => "not_found",
            ServiceError::MethodNotAllowed { .. } => "method_not_allowed",
            ServiceError::Conflict(_) => "conflict",
            ServiceError::Outgoing(_) => "outgoing_connection_failed",
            ServiceError::UnsupportedContentEncoding(_) => "unsupported_content_encoding",
            ServiceError::RequestTimeout(_) => "request_timeout",
            ServiceError::Timeout(_) => "timeout",
            ServiceError::Unavailable(_) => "unavailable",
            ServiceError::Internal { .. } => "internal_error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_maps_to_its_status_and_fault() {
        let cases: Vec<(ServiceError, u16, FaultCode)> = vec![
            (ServiceError::bad_request("x"), 400, FaultCode::Client),
            (
                ServiceError::Unauthorized("x".into()),
                401,
                FaultCode::Client,
            ),
            (ServiceError::not_found("x"), 404, FaultCode::Client),
            (
                ServiceError::MethodNotAllowed {
                    allow: "GET".into(),
                },
                405,
                FaultCode::Client,
            ),
            (ServiceError::Conflict("x".into()), 409, FaultCode::Client),
            (
                ServiceError::UnsupportedContentEncoding("gzip".into()),
                415,
                FaultCode::Client,
            ),
            (
                ServiceError::RequestTimeout(Duration::from_secs(1)),
                408,
                FaultCode::Client,
            ),
            (
                SioError::PayloadTooLarge { limit: 1 }.into(),
                413,
                FaultCode::Client,
            ),
            (
                SioError::UnsupportedMediaType {
                    content_type: "a/b".into(),
                    expected: "json",
                }
                .into(),
                415,
                FaultCode::Client,
            ),
            (ServiceError::internal("x"), 500, FaultCode::Server),
            (
                OutgoingError::new("s", OutgoingErrorKind::BadGateway, "x").into(),
                502,
                FaultCode::Server,
            ),
            (
                OutgoingError::new("s", OutgoingErrorKind::Unavailable, "x").into(),
                503,
                FaultCode::Server,
            ),
            (
                ServiceError::Unavailable("x".into()),
                503,
                FaultCode::Server,
            ),
            (
                OutgoingError::new("s", OutgoingErrorKind::Timeout, "x").into(),
                504,
                FaultCode::Server,
            ),
            (
                ServiceError::Timeout(Duration::from_secs(1)),
                504,
                FaultCode::Server,
            ),
        ];
        for (err, status, fault) in cases {
            assert_eq!(err.status().as_u16(), status, "{err}");
            assert_eq!(err.fault_code(), fault, "{err}");
        }
    }

    #[test]
    fn outgoing_error_names_the_connection() {
        let err: ServiceError = OutgoingError::new(
            "Invoice Dispatcher",
            OutgoingErrorKind::Timeout,
            "timed out",
        )
        .into();
        assert_eq!(
            err.to_string(),
            "outgoing connection `Invoice Dispatcher`: timed out"
        );
    }
}

//! [`RestError`]: every way a call on an outgoing REST or SOAP connection fails, each naming the
//! connection and mapping to a 502, 503 or 504, never to a 500.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use http::StatusCode;
use zato_core::{OutgoingError, OutgoingErrorKind, ServiceError};

/// The longest excerpt of an upstream body an error quotes, in characters.
pub const EXCERPT_CHARS: usize = 200;

/// How a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RestErrorKind {
    /// The connection is inactive (503).
    #[error("the connection is inactive")]
    Inactive,
    /// No slot of the pool became free in time (503).
    #[error("no free connection within {waited:?} (pool_size {pool_size})")]
    PoolExhausted {
        /// How long the call waited.
        waited: Duration,
        /// The pool's size.
        pool_size: u32,
    },
    /// The circuit breaker is open after consecutive failures (503).
    #[error(
        "the circuit breaker is open after {failures} consecutive failures; next probe in {retry_in:?}"
    )]
    BreakerOpen {
        /// The failures that opened it.
        failures: u32,
        /// When it lets a probe through.
        retry_in: Duration,
    },
    /// The rate limit left no room within the pool wait (503).
    #[error("the rate limit of {per_second} calls per second is reached")]
    RateLimited {
        /// The limit.
        per_second: f64,
    },
    /// The security definition named is not applied on this node (503).
    #[error("the security definition `{0}` is not applied on this node")]
    MissingSecurity(String),
    /// The security definition could not be used: a token could not be obtained (502).
    #[error("security definition `{name}`: {message}")]
    Security {
        /// The definition's name.
        name: String,
        /// What went wrong, without secrets.
        message: String,
    },
    /// The remote system did not answer in time (504).
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The remote system could not be reached, or broke the connection (502).
    #[error("could not reach the remote system: {0}")]
    Connect(String),
    /// The remote system answered with an error status (502).
    #[error("the remote system answered {status}: {excerpt}")]
    Status {
        /// The status answered.
        status: StatusCode,
        /// The start of its body.
        excerpt: String,
    },
    /// A SOAP Fault (502).
    #[error("SOAP fault {code}: {reason}")]
    SoapFault {
        /// `faultcode` (1.1) or `Code/Value` (1.2).
        code: String,
        /// `faultstring` (1.1) or `Reason/Text` (1.2).
        reason: String,
    },
    /// The reply could not be read as what was asked for (502).
    #[error("the reply could not be read: {0}")]
    Decode(String),
    /// The reply was larger than `max_response_size` (502).
    #[error("the reply is larger than {0} bytes")]
    TooLarge(u64),
    /// The call itself could not be built: a path parameter missing, a body that cannot be
    /// written in the connection's format (502).
    #[error("the call could not be made: {0}")]
    Request(String),
}

/// A failed call on an outgoing REST or SOAP connection: the connection's name and how it
/// failed. Turns into a [`ServiceError`] with `?`, as a 502, 503 or 504.
///
/// # Examples
///
/// ```
/// use zato_rest::{RestError, RestErrorKind};
/// use zato_core::ServiceError;
///
/// let err = RestError::new("CRM", RestErrorKind::Inactive);
/// assert_eq!(err.to_string(), "outgoing connection `CRM`: the connection is inactive");
/// assert_eq!(ServiceError::from(err).status().as_u16(), 503);
/// ```
#[derive(Debug)]
pub struct RestError {
    connection: String,
    kind: RestErrorKind,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl RestError {
    /// A failure of the connection `connection`.
    pub fn new(connection: impl Into<String>, kind: RestErrorKind) -> Self {
        RestError {
            connection: connection.into(),
            kind,
            source: None,
        }
    }

    pub(crate) fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The connection's name.
    pub fn connection(&self) -> &str {
        &self.connection
    }

    /// How it failed.
    pub fn kind(&self) -> &RestErrorKind {
        &self.kind
    }

    /// The status a service answers with when it returns this error.
    pub fn status(&self) -> StatusCode {
        match self.outgoing_kind() {
            OutgoingErrorKind::BadGateway => StatusCode::BAD_GATEWAY,
            OutgoingErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    fn outgoing_kind(&self) -> OutgoingErrorKind {
        match self.kind {
            RestErrorKind::Inactive
            | RestErrorKind::PoolExhausted { .. }
            | RestErrorKind::BreakerOpen { .. }
            | RestErrorKind::RateLimited { .. }
            | RestErrorKind::MissingSecurity(_) => OutgoingErrorKind::Unavailable,
            RestErrorKind::Timeout(_) => OutgoingErrorKind::Timeout,
            _ => OutgoingErrorKind::BadGateway,
        }
    }

    /// Whether another attempt may succeed: a connection error, a timeout, or a status asking to
    /// come back (429, 502, 503, 504).
    pub(crate) fn retryable(&self) -> bool {
        match &self.kind {
            RestErrorKind::Timeout(_) | RestErrorKind::Connect(_) => true,
            RestErrorKind::Status { status, .. } => retryable_status(*status),
            _ => false,
        }
    }
}

/// Statuses worth another attempt.
pub(crate) fn retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503 | 504)
}

impl fmt::Display for RestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "outgoing connection `{}`: {}",
            self.connection, self.kind
        )
    }
}

impl StdError for RestError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

impl From<RestError> for ServiceError {
    fn from(e: RestError) -> Self {
        let kind = e.outgoing_kind();
        let message = e.kind.to_string();
        let connection = e.connection.clone();
        OutgoingError::new(connection, kind, message)
            .with_source(e)
            .into()
    }
}

/// The start of an upstream body, at most [`EXCERPT_CHARS`] characters, control characters
/// shown as spaces: safe to put into a log line or an error body.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text
        .chars()
        .take(EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_maps_to_502_503_or_504() {
        let cases = [
            (RestErrorKind::Inactive, 503),
            (
                RestErrorKind::PoolExhausted {
                    waited: Duration::from_secs(1),
                    pool_size: 1,
                },
                503,
            ),
            (RestErrorKind::Timeout(Duration::from_secs(1)), 504),
            (RestErrorKind::Connect("refused".into()), 502),
            (
                RestErrorKind::SoapFault {
                    code: "soap:Server".into(),
                    reason: "x".into(),
                },
                502,
            ),
        ];
        for (kind, status) in cases {
            let e = RestError::new("CRM", kind);
            assert_eq!(e.status().as_u16(), status);
            let s = ServiceError::from(e);
            assert_eq!(s.status().as_u16(), status);
            assert!(s.to_string().contains("`CRM`"), "{s}");
        }
    }

    #[test]
    fn an_excerpt_is_short_and_on_one_line() {
        let body = format!("line\r\n{}", "x".repeat(1000));
        let e = excerpt(body.as_bytes());
        assert!(e.chars().count() <= EXCERPT_CHARS + 1);
        assert!(!e.contains('\n'));
    }
}

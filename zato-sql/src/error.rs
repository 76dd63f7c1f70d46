//! [`SqlError`]: how a query through an outgoing SQL connection failed, with the status a
//! caller sees.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use zato_core::{OutgoingError, OutgoingErrorKind, ServiceError};

/// What went wrong, which decides the status: see [`SqlError::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SqlErrorKind {
    /// No connection of the pool became free within `pool_wait`: 503.
    PoolTimeout {
        /// How long the query waited.
        waited: Duration,
        /// The pool's size.
        pool_size: u32,
    },
    /// The connection is inactive or being removed: 503.
    Unavailable,
    /// The server could not be reached or refused the login: 502.
    Unreachable,
    /// The statement ran past `statement_timeout`: 504.
    StatementTimeout {
        /// The timeout in force.
        after: Duration,
    },
    /// The server refused the statement (a syntax error, a constraint): 502.
    Database {
        /// The SQLSTATE code, when the server gave one.
        code: Option<String>,
    },
    /// A row could not be turned into the type asked for: 500, the service's mistake.
    Decode,
    /// The handle is of another engine than the one asked for: 500.
    WrongEngine,
}

/// A failure of an outgoing SQL connection, naming it. Its text never holds the password.
///
/// Converts into a [`ServiceError`] of the matching status with `?`.
///
/// # Examples
///
/// ```
/// use zato_sql::{SqlError, SqlErrorKind};
///
/// let e = SqlError::new("Billing DB", SqlErrorKind::Unreachable, "connection refused");
/// assert_eq!(e.status(), 502);
/// assert_eq!(e.to_string(), "outgoing SQL connection `Billing DB`: connection refused");
/// let s: zato_core::ServiceError = e.into();
/// assert_eq!(s.status().as_u16(), 502);
/// ```
#[derive(Debug)]
pub struct SqlError {
    connection: String,
    kind: SqlErrorKind,
    message: String,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl SqlError {
    /// A failure of the connection `connection`; `message` must hold no secret.
    pub fn new(
        connection: impl Into<String>,
        kind: SqlErrorKind,
        message: impl Into<String>,
    ) -> Self {
        SqlError {
            connection: connection.into(),
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// The connection's name.
    pub fn connection(&self) -> &str {
        &self.connection
    }

    /// What went wrong.
    pub fn kind(&self) -> &SqlErrorKind {
        &self.kind
    }

    /// The HTTP status a caller sees: 503 for a pool timeout or an unavailable connection, 502
    /// for an unreachable server or a refused statement, 504 for a statement timeout, 500 for
    /// a row of the wrong shape.
    pub fn status(&self) -> u16 {
        match self.kind {
            SqlErrorKind::PoolTimeout { .. } | SqlErrorKind::Unavailable => 503,
            SqlErrorKind::Unreachable | SqlErrorKind::Database { .. } => 502,
            SqlErrorKind::StatementTimeout { .. } => 504,
            SqlErrorKind::Decode | SqlErrorKind::WrongEngine => 500,
        }
    }

    pub(crate) fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Classifies an error of sqlx met on the connection `name`, whose password is `secret`:
    /// what a service calls after a plain sqlx query on the handle's pool (see
    /// [`SqlHandle::error`](crate::SqlHandle::error)).
    pub(crate) fn from_sqlx(
        name: &str,
        e: sqlx::Error,
        pool: Option<(u32, u32, Duration)>,
        statement_timeout: Duration,
        secret: Option<&str>,
    ) -> Self {
        let clean = |text: String| match secret {
            Some(s) if !s.is_empty() => text.replace(s, "***"),
            _ => text,
        };
        let (kind, message) = match &e {
            sqlx::Error::PoolTimedOut => match pool {
                // Every connection was out: the pool is exhausted. Fewer than its size exist:
                // opening one did not finish in time.
                Some((size, max, waited)) if size >= max => (
                    SqlErrorKind::PoolTimeout {
                        waited,
                        pool_size: max,
                    },
                    format!(
                        "no free connection in the pool of {max} within {:.3}s",
                        waited.as_secs_f64()
                    ),
                ),
                Some((_, _, waited)) => (
                    SqlErrorKind::Unreachable,
                    format!(
                        "could not connect to the server within {:.3}s",
                        waited.as_secs_f64()
                    ),
                ),
                None => (
                    SqlErrorKind::Unreachable,
                    "could not connect to the server in time".to_owned(),
                ),
            },
            sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => (
                SqlErrorKind::Unavailable,
                "the connection's pool is closed".to_owned(),
            ),
            sqlx::Error::Io(io) => (
                SqlErrorKind::Unreachable,
                clean(format!("cannot reach the server: {io}")),
            ),
            sqlx::Error::Tls(tls) => (
                SqlErrorKind::Unreachable,
                clean(format!("TLS with the server failed: {tls}")),
            ),
            sqlx::Error::Database(db) => {
                let code = db.code().map(|c| c.into_owned());
                let timeout = matches!(
                    code.as_deref(),
                    // PostgreSQL's query_canceled; MariaDB's and MySQL's statement timeouts.
                    Some("57014") | Some("70100") | Some("HY000")
                ) && is_timeout_text(db.message());
                let login = matches!(code.as_deref(), Some("28P01") | Some("28000"));
                if timeout {
                    (
                        SqlErrorKind::StatementTimeout {
                            after: statement_timeout,
                        },
                        format!(
                            "the statement ran past its timeout of {:.3}s",
                            statement_timeout.as_secs_f64()
                        ),
                    )
                } else if login {
                    (
                        SqlErrorKind::Unreachable,
                        clean(format!("the server refused the login: {}", db.message())),
                    )
                } else {
                    (
                        SqlErrorKind::Database { code: code.clone() },
                        clean(format!(
                            "the server refused the statement{}: {}",
                            code.map(|c| format!(" ({c})")).unwrap_or_default(),
                            db.message()
                        )),
                    )
                }
            }
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::TypeNotFound { .. }
            | sqlx::Error::RowNotFound => (SqlErrorKind::Decode, clean(e.to_string())),
            sqlx::Error::Protocol(_) | sqlx::Error::Configuration(_) => (
                SqlErrorKind::Unreachable,
                clean(format!("cannot talk to the server: {e}")),
            ),
            _ => (SqlErrorKind::Database { code: None }, clean(e.to_string())),
        };
        SqlError::new(name, kind, message).with_source(Redacted(clean(format!("{e:?}"))))
    }
}

/// Whether a server's error message says a statement timed out.
fn is_timeout_text(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("statement timeout")
        || m.contains("max_statement_time")
        || m.contains("maximum statement execution time")
        || m.contains("query execution was interrupted")
}

/// The underlying error, as text with the password taken out.
#[derive(Debug)]
struct Redacted(String);

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Redacted {}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "outgoing SQL connection `{}`: {}",
            self.connection, self.message
        )
    }
}

impl StdError for SqlError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

impl From<SqlError> for ServiceError {
    fn from(e: SqlError) -> Self {
        let kind = match e.kind {
            SqlErrorKind::PoolTimeout { .. } | SqlErrorKind::Unavailable => {
                OutgoingErrorKind::Unavailable
            }
            SqlErrorKind::Unreachable | SqlErrorKind::Database { .. } => {
                OutgoingErrorKind::BadGateway
            }
            SqlErrorKind::StatementTimeout { .. } => OutgoingErrorKind::Timeout,
            SqlErrorKind::Decode | SqlErrorKind::WrongEngine => {
                return ServiceError::internal(e.to_string());
            }
        };
        let message = e.message.clone();
        let connection = e.connection.clone();
        ServiceError::Outgoing(OutgoingError::new(connection, kind, message).with_source(e))
    }
}

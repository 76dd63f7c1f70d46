//! libzmq's blocking sockets, each owned by one dedicated thread, never by the tokio runtime.
//!
//! Every socket lives in one process-wide context that is never terminated, so closing a socket
//! (whose linger libzmq finishes in its own I/O thread) never blocks anyone.

use std::sync::OnceLock;
use std::time::Duration;

use zato_core::ConfigError;

/// How often a receiving thread looks at its stop flag: its receive timeout.
pub(super) const POLL: Duration = Duration::from_millis(50);

/// How long a bind finding its address in use tries again: the socket holding it may have just
/// been closed, and libzmq frees its address a moment later.
pub(super) const BIND_GRACE: Duration = Duration::from_millis(250);

/// How long a rebind waits for the old socket's listener to let go of the address.
pub(super) const REBIND_WAIT: Duration = Duration::from_secs(3);

/// The context every socket of the process lives in.
pub(super) fn context() -> &'static ::zmq::Context {
    static CONTEXT: OnceLock<::zmq::Context> = OnceLock::new();
    CONTEXT.get_or_init(::zmq::Context::new)
}

/// libzmq's version, as `4.3.4`.
pub fn libzmq_version() -> String {
    let (major, minor, patch) = ::zmq::version();
    format!("{major}.{minor}.{patch}")
}

/// Binds or connects `socket`, and returns the endpoint it ended on: for a bind to
/// `tcp://127.0.0.1:*`, the port libzmq picked.
pub(super) fn attach(
    socket: &::zmq::Socket,
    address: &str,
    bind: bool,
) -> Result<String, ::zmq::Error> {
    if bind {
        socket.bind(address)?;
        match socket.get_last_endpoint() {
            Ok(Ok(endpoint)) => Ok(endpoint),
            _ => Ok(address.to_owned()),
        }
    } else {
        socket.connect(address)?;
        Ok(address.to_owned())
    }
}

/// Why a socket could not be opened, as a problem of the `address` field (or of the whole object
/// when the thread could not start).
#[derive(Debug)]
pub(super) enum OpenError {
    /// libzmq refused the options or the address.
    Zmq {
        bind: bool,
        address: String,
        error: ::zmq::Error,
    },
    /// The thread could not be started, or ended before saying how the socket went.
    Thread(String),
}

impl OpenError {
    /// Whether the address is taken, possibly by the socket being replaced.
    pub(super) fn in_use(&self) -> bool {
        matches!(
            self,
            OpenError::Zmq {
                error: ::zmq::Error::EADDRINUSE,
                ..
            }
        )
    }

    pub(super) fn into_config(self) -> ConfigError {
        match self {
            OpenError::Zmq {
                bind,
                address,
                error,
            } => {
                let verb = if bind { "bind" } else { "connect to" };
                ConfigError::one("address", format!("cannot {verb} {address}: {error}"))
            }
            OpenError::Thread(message) => ConfigError::one("", message),
        }
    }
}

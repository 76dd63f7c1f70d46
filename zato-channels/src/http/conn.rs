//! What one connection's serving task, its requests and its watcher share ([`Conn`]), and the
//! head clock that keeps the connection's header deadline without a timer per request.
//!
//! `connection` serves the connection and runs the watcher; `handle` answers each request and
//! marks it started here. Both depend on this module, never the reverse.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Waker;
use std::time::Duration;

use tokio::time::Instant;

use super::shared::Shared;

/// What a connection's task, its requests and its watcher share.
pub(super) struct Conn {
    pub(super) shared: Arc<Shared>,
    pub(super) head: HeadClock,
    /// Set by the watcher when the server drains; the serving task reads it when woken.
    pub(super) graceful: AtomicBool,
    /// The serving task's waker, so that the watcher can wake it to start the graceful close.
    /// A spawned future stays in its task, so its waker is taken once.
    pub(super) waker: OnceLock<Waker>,
    /// The caller's address.
    pub(super) peer: SocketAddr,
    /// The client certificate the caller presented over TLS; set after the handshake, `None`
    /// inside when it presented none.
    pub(super) client_cert: OnceLock<Option<ClientCert>>,
}

/// What a security definition looks at in a client certificate: its SHA-256 fingerprint and
/// its subject.
#[derive(Debug, Clone)]
pub(super) struct ClientCert {
    /// The SHA-256 of the certificate's DER, lowercase hex without separators.
    pub(super) sha256: String,
    /// The subject's distinguished name as text (`CN=crm,O=Example`), when it parses.
    pub(super) subject: Option<String>,
}

impl ClientCert {
    pub(super) fn of(der: &[u8]) -> ClientCert {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(der);
        let sha256 = digest.iter().map(|b| format!("{b:02x}")).collect();
        ClientCert {
            sha256,
            subject: super::x509::subject(der),
        }
    }
}

impl Conn {
    /// Called as a request's head has been read: the connection is no longer waiting for one
    /// until the returned guard is dropped, when the request has been answered.
    pub(super) fn request_started(&self, version: http::Version) -> HeadGuard<'_> {
        self.head.request_started(version)
    }

    /// Asks the serving task to finish its request and close.
    pub(super) fn start_graceful(&self) {
        self.graceful.store(true, Ordering::SeqCst);
        std::sync::atomic::fence(Ordering::SeqCst);
        if let Some(waker) = self.waker.get() {
            waker.wake_by_ref();
        }
    }
}

/// The phase of a connection as far as its header deadline goes, in one atomic: either the
/// time (nanoseconds since `epoch`) the connection began waiting for a request head, or one of
/// the markers below. The serving task writes it twice a request; only the watcher compares
/// it with the clock, when its timer fires.
pub(super) struct HeadClock {
    state: AtomicU64,
    epoch: Instant,
}

/// A request is being read, served or answered: no head is awaited.
const IN_REQUEST: u64 = u64::MAX;
/// A head is awaited, since the next read (the time is taken then, not before).
const AWAITED: u64 = u64::MAX - 1;
/// No header deadline applies (HTTP/2 has its own keep-alive and flow control).
const OFF: u64 = u64::MAX - 2;

/// What the watcher found when it checked the header deadline.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum HeadCheck {
    /// A head has been awaited for longer than the limit.
    Expired,
    /// Look again at this instant.
    RecheckAt(Instant),
    /// No deadline applies to this connection any more.
    Off,
}

impl HeadClock {
    pub(super) fn new() -> HeadClock {
        HeadClock {
            state: AtomicU64::new(AWAITED),
            epoch: Instant::now(),
        }
    }

    /// Before each read from the socket: the first read after a request has been answered
    /// starts the wait for the next head.
    #[inline]
    pub(super) fn on_read(&self) {
        if self.state.load(Ordering::Relaxed) == AWAITED {
            self.stamp(Instant::now());
        }
    }

    /// Takes `now` as the start of the wait for a head, if one is awaited.
    #[cold]
    fn stamp(&self, now: Instant) {
        if self.state.load(Ordering::Relaxed) == AWAITED {
            let since = u64::try_from(now.saturating_duration_since(self.epoch).as_nanos())
                .unwrap_or(OFF - 1)
                .min(OFF - 1);
            // Only from `AWAITED`: an HTTP/2 stream may have turned the deadline off meanwhile.
            let _ =
                self.state
                    .compare_exchange(AWAITED, since, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    fn request_started(&self, version: http::Version) -> HeadGuard<'_> {
        if version == http::Version::HTTP_2 {
            self.state.store(OFF, Ordering::Relaxed);
            return HeadGuard(None);
        }
        if self.state.load(Ordering::Relaxed) == OFF {
            return HeadGuard(None);
        }
        self.state.store(IN_REQUEST, Ordering::Relaxed);
        HeadGuard(Some(self))
    }

    pub(super) fn check(&self, limit: Duration, now: Instant) -> HeadCheck {
        match self.state.load(Ordering::Relaxed) {
            OFF => HeadCheck::Off,
            IN_REQUEST | AWAITED => HeadCheck::RecheckAt(now + limit),
            since => {
                let deadline = self.epoch + Duration::from_nanos(since) + limit;
                if now >= deadline {
                    HeadCheck::Expired
                } else {
                    HeadCheck::RecheckAt(deadline)
                }
            }
        }
    }
}

/// Marks a request answered when dropped: the connection then awaits its next head.
pub(super) struct HeadGuard<'c>(Option<&'c HeadClock>);

impl Drop for HeadGuard<'_> {
    fn drop(&mut self) {
        if let Some(clock) = self.0 {
            let _ = clock.state.compare_exchange(
                IN_REQUEST,
                AWAITED,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_clock_runs_only_while_a_head_is_awaited() {
        let clock = HeadClock::new();
        let limit = Duration::from_secs(30);
        let at = |secs: u64| clock.epoch + Duration::from_secs(secs);
        // Not yet read: the wait starts at the first read.
        assert_eq!(clock.check(limit, at(0)), HeadCheck::RecheckAt(at(30)));
        clock.stamp(at(5));
        // Later reads keep the first one's time.
        clock.stamp(at(15));
        assert_eq!(clock.check(limit, at(15)), HeadCheck::RecheckAt(at(35)));
        assert_eq!(clock.check(limit, at(35)), HeadCheck::Expired);

        // A request in progress has no header deadline, however long it takes.
        let guard = clock.request_started(http::Version::HTTP_11);
        clock.stamp(at(70));
        assert_eq!(clock.check(limit, at(100)), HeadCheck::RecheckAt(at(130)));
        // Answered: the next read starts a new wait.
        drop(guard);
        clock.stamp(at(101));
        assert_eq!(clock.check(limit, at(130)), HeadCheck::RecheckAt(at(131)));
        assert_eq!(clock.check(limit, at(131)), HeadCheck::Expired);

        // HTTP/2 turns the deadline off for good.
        drop(clock.request_started(http::Version::HTTP_2));
        clock.stamp(at(140));
        assert_eq!(clock.check(limit, at(200)), HeadCheck::Off);
        drop(clock.request_started(http::Version::HTTP_11));
        assert_eq!(clock.check(limit, at(200)), HeadCheck::Off);
    }
}

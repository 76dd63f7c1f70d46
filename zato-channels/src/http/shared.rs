//! What a server, its listener task and every connection share: the route table, the lifecycle
//! phase, the count of requests in flight and the limits read when connections open, with
//! their defaults.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use zato_core::{ChannelAdapter, Platform};

use super::body::{BodyBudget, DEFAULT_BODY_MEMORY_BUDGET};
use super::router::RouteTable;
use super::tls::TlsSlot;

/// How long a client may take to send a request's headers unless
/// [`HttpServer::set_header_read_timeout`](crate::HttpServer::set_header_read_timeout) says
/// otherwise.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`HttpServer::shutdown`](crate::HttpServer::shutdown) waits for requests in flight
/// and open connections before it closes them, unless
/// [`HttpServer::set_drain_timeout`](crate::HttpServer::set_drain_timeout) says otherwise.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// How many connections a server keeps open at once unless
/// [`HttpServer::set_max_connections`](crate::HttpServer::set_max_connections) says otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// Where a server is in its life.
#[derive(Debug)]
pub(super) enum Phase {
    /// Bound, not yet accepting.
    Bound(TcpListener),
    /// Accepting; the sender stops the accept loop.
    Serving(watch::Sender<bool>),
    /// Stopped, or stopping.
    Stopped,
}

/// What the server and every connection share.
pub(super) struct Shared {
    pub(super) platform: Platform,
    /// The adapter's name on the platform.
    pub(super) name: Box<str>,
    /// The handle the platform holds, to take off the platform at shutdown only if it is still
    /// this server's. Weak, so the platform alone decides how long it lives.
    pub(super) registration: OnceLock<Weak<dyn ChannelAdapter>>,
    pub(super) routes: ArcSwap<RouteTable>,
    pub(super) local_addr: SocketAddr,
    /// Serialises configuration changes; requests never take it.
    writer: Mutex<()>,
    phase: Mutex<Phase>,
    /// Set when shutdown begins: new requests get a 503.
    pub(super) draining: AtomicBool,
    in_flight: AtomicUsize,
    /// Woken when the last request in flight finishes while draining.
    idle: Notify,
    /// Becomes true when the server has stopped and every connection is closed.
    pub(super) stopped: watch::Sender<bool>,
    /// How long a client may take to send a request's headers, in milliseconds; 0 for no limit.
    pub(super) header_read_timeout_ms: AtomicU64,
    /// How long a shutdown waits for requests and connections before closing what remains, in
    /// milliseconds; 0 for no limit.
    pub(super) drain_timeout_ms: AtomicU64,
    /// The most connections open at once; read when serving starts.
    pub(super) max_connections: AtomicUsize,
    /// The request body bytes that requests in flight may hold together.
    pub(super) body_budget: BodyBudget,
    /// TLS, when the listener has it: each connection loads it as it is accepted.
    pub(super) tls: TlsSlot,
    /// Set once the task polling the certificate files runs.
    pub(super) tls_watched: std::sync::Once,
    /// The channels' rate limits.
    pub(super) limits: super::ratelimit::RateLimits,
}

/// A duration as stored in an atomic: milliseconds, 0 for none, at least 1 for some.
pub(super) fn to_ms(timeout: Option<Duration>) -> u64 {
    timeout.map_or(0, |t| {
        u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1)
    })
}

/// The duration [`to_ms`] stored.
fn from_ms(ms: u64) -> Option<Duration> {
    (ms != 0).then(|| Duration::from_millis(ms))
}

/// Counts a request in flight for as long as it lives.
pub(super) struct InFlight<'s>(&'s Shared);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1
            && self.0.draining.load(Ordering::SeqCst)
        {
            self.0.idle.notify_waiters();
        }
    }
}

impl Shared {
    /// A server bound to `listener`, not serving yet, with the default limits.
    pub(super) fn new(
        name: String,
        platform: Platform,
        listener: TcpListener,
        local_addr: SocketAddr,
    ) -> Shared {
        Shared {
            platform,
            name: name.into(),
            registration: OnceLock::new(),
            routes: ArcSwap::from_pointee(RouteTable::default()),
            local_addr,
            writer: Mutex::new(()),
            phase: Mutex::new(Phase::Bound(listener)),
            draining: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            stopped: watch::Sender::new(false),
            header_read_timeout_ms: AtomicU64::new(to_ms(Some(DEFAULT_HEADER_READ_TIMEOUT))),
            drain_timeout_ms: AtomicU64::new(to_ms(Some(DEFAULT_DRAIN_TIMEOUT))),
            max_connections: AtomicUsize::new(DEFAULT_MAX_CONNECTIONS),
            body_budget: BodyBudget::new(DEFAULT_BODY_MEMORY_BUDGET),
            tls: TlsSlot::new(),
            tls_watched: std::sync::Once::new(),
            limits: super::ratelimit::RateLimits::new(),
        }
    }

    /// Counts a new request in, unless the server is shutting down.
    pub(super) fn enter(&self) -> Option<InFlight<'_>> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let guard = InFlight(self);
        (!self.draining.load(Ordering::SeqCst)).then_some(guard)
    }

    /// Returns once no request is in flight.
    pub(super) async fn wait_idle(&self) {
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            // Registered before the count is read, so a request finishing in between wakes it.
            idle.as_mut().enable();
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }

    pub(super) fn lock_phase(&self) -> MutexGuard<'_, Phase> {
        // A panic elsewhere leaves the phase consistent: each change is one assignment.
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn lock_writer(&self) -> MutexGuard<'_, ()> {
        // The guarded data is `()`: nothing a panicking writer could have left half-changed.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the server accepts requests now.
    pub(super) fn is_serving(&self) -> bool {
        matches!(*self.lock_phase(), Phase::Serving(_)) && !self.draining.load(Ordering::SeqCst)
    }

    pub(super) fn header_read_timeout(&self) -> Option<Duration> {
        from_ms(self.header_read_timeout_ms.load(Ordering::Relaxed))
    }

    pub(super) fn drain_timeout(&self) -> Option<Duration> {
        from_ms(self.drain_timeout_ms.load(Ordering::Relaxed))
    }
}

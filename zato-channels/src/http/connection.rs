//! One accepted connection, served on its own task: HTTP/1.1, or with the `http2` feature
//! HTTP/1.1 and HTTP/2 told apart by the connection preface. Only the builder differs between
//! the two; the serving, the header deadline, the graceful drain and the forced close are the
//! same code.
//!
//! Each connection has a watcher task beside it, which sleeps until one of three things
//! happens: the header deadline may have passed, the server starts draining (the connection is
//! told to finish its request and close), or the drain deadline passes (it is closed). The
//! request path itself sets no timer and polls no signal: it writes the connection's phase into
//! one atomic, and the watcher reads it when it wakes.

use std::future::poll_fn;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulConnection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio::time::Instant;

use super::handle::handle;
use super::shared::Shared;

/// The signals a connection's watcher waits for, from the accept loop.
pub(super) struct Signals {
    /// Turns true when the server starts draining: finish the request in flight, then close.
    pub(super) graceful: watch::Receiver<bool>,
    /// Turns true when the drain deadline passes: close now.
    pub(super) force_close: watch::Receiver<bool>,
}

/// What a connection's task, its requests and its watcher share.
pub(super) struct Conn {
    pub(super) shared: Arc<Shared>,
    head: HeadClock,
    /// Set by the watcher when the server drains; the serving task reads it when woken.
    graceful: AtomicBool,
    /// The serving task's waker, so that the watcher can wake it to start the graceful close.
    /// A spawned future stays in its task, so its waker is taken once.
    waker: OnceLock<Waker>,
}

impl Conn {
    /// Called as a request's head has been read: the connection is no longer waiting for one
    /// until the returned guard is dropped, when the request has been answered.
    pub(super) fn request_started(&self, version: http::Version) -> HeadGuard<'_> {
        self.head.request_started(version)
    }

    /// Asks the serving task to finish its request and close.
    fn start_graceful(&self) {
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
struct HeadClock {
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
enum HeadCheck {
    /// A head has been awaited for longer than the limit.
    Expired,
    /// Look again at this instant.
    RecheckAt(Instant),
    /// No deadline applies to this connection any more.
    Off,
}

impl HeadClock {
    fn new() -> HeadClock {
        HeadClock {
            state: AtomicU64::new(AWAITED),
            epoch: Instant::now(),
        }
    }

    /// Before each read from the socket: the first read after a request has been answered
    /// starts the wait for the next head.
    #[inline]
    fn on_read(&self) {
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

    fn check(&self, limit: Duration, now: Instant) -> HeadCheck {
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

/// The socket as hyper reads it: each read tells the head clock.
struct Watched {
    stream: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Watched {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        this.conn.head.on_read();
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Watched {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    #[inline]
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    #[inline]
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    #[inline]
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Serves `stream` on a new task until the client closes it, it fails to send a request head
/// within the server's header read timeout, the graceful drain ends it, or the drain deadline
/// closes it. `permit` counts the connection against the server's limit for as long as it is
/// open.
pub(super) fn serve_connection(
    shared: &Arc<Shared>,
    signals: Signals,
    stream: TcpStream,
    permit: OwnedSemaphorePermit,
) {
    // Replies are written whole; Nagle would only delay them. Failing to set it costs only
    // latency, so the connection is served anyway.
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
    let head_limit = shared.header_read_timeout();
    let conn = Arc::new(Conn {
        shared: Arc::clone(shared),
        head: HeadClock::new(),
        graceful: AtomicBool::new(false),
        waker: OnceLock::new(),
    });
    let io = TokioIo::new(Watched {
        stream,
        conn: Arc::clone(&conn),
    });
    let for_requests = Arc::clone(&conn);
    let service = service_fn(move |req| handle(Arc::clone(&for_requests), req));
    let builder = builder();
    let for_task = Arc::clone(&conn);
    let conn_task = tokio::spawn(async move {
        let _permit = permit;
        if let Err(e) = serve(&for_task, builder.serve_connection(io, service)).await {
            tracing::debug!(error = %e, "http connection ended with an error");
        }
    });
    tokio::spawn(watch_connection(conn, head_limit, signals, conn_task));
}

/// Drives `connection`, starting its graceful shutdown once the watcher asks for it.
async fn serve<C>(conn: &Conn, connection: C) -> Result<(), C::Error>
where
    C: GracefulConnection,
{
    let mut connection = pin!(connection);
    let mut asked = false;
    poll_fn(|cx| {
        if !asked {
            // The waker first, then the flag: a watcher setting the flag after this read sees
            // the waker and wakes the task.
            let _ = conn.waker.get_or_init(|| cx.waker().clone());
            std::sync::atomic::fence(Ordering::SeqCst);
            if conn.graceful.load(Ordering::SeqCst) {
                asked = true;
                connection.as_mut().graceful_shutdown();
            }
        }
        connection.as_mut().poll(cx)
    })
    .await
}

/// The connection's watcher: sleeps until its header deadline may have passed, the server
/// drains or the drain deadline passes, and acts on it; ends with the connection.
async fn watch_connection(
    conn: Arc<Conn>,
    head_limit: Option<Duration>,
    mut signals: Signals,
    mut conn_task: tokio::task::JoinHandle<()>,
) {
    let mut head_check = head_limit.map(|limit| Instant::now() + limit);
    let mut graceful_sent = false;
    let close_reason = loop {
        // A timer is armed only while a header deadline applies; it fires once per period of
        // the limit at most, as the request path never touches it.
        let at = head_check;
        let head_timer = async move {
            match at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut conn_task => return,
            closing = signals.force_close.wait_for(|f| *f) => {
                if closing.is_ok() {
                    break "the drain deadline passed";
                }
                // The accept loop is gone, and with it every connection it waited for.
                return;
            }
            draining = signals.graceful.wait_for(|g| *g), if !graceful_sent => {
                graceful_sent = true;
                if draining.is_ok() {
                    conn.start_graceful();
                }
            }
            () = head_timer => {
                let (Some(limit), Some(_)) = (head_limit, head_check) else {
                    continue;
                };
                match conn.head.check(limit, Instant::now()) {
                    HeadCheck::Expired => break "no request head within the header read timeout",
                    HeadCheck::RecheckAt(at) => head_check = Some(at),
                    HeadCheck::Off => head_check = None,
                }
            }
        }
    };
    // Aborting drops the connection, which closes it and drops the request it was serving.
    // The signals' receivers are dropped only once it is gone, so the accept loop waiting for
    // every receiver waits for every connection.
    conn_task.abort();
    let _ = conn_task.await;
    tracing::debug!(reason = close_reason, "http connection closed");
}

/// The largest request head (request line and headers) accepted, in bytes; a larger one gets
/// hyper's own 431. hyper's default bound is its read buffer, about 400 KiB, which it did not
/// always enforce for a single long header.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The HTTP/1.1 connection builder. It has no timer: the connection's watcher keeps the header
/// deadline, so a request costs no timer of its own.
#[cfg(not(feature = "http2"))]
fn builder() -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.max_header_size(MAX_HEAD_BYTES);
    builder
}

/// The builder serving HTTP/1.1 and HTTP/2 on one connection.
#[cfg(feature = "http2")]
fn builder() -> hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor> {
    let mut builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    // hyper-util's builder has no head limit of its own: the read buffer's bounds the head.
    builder.http1().max_buf_size(MAX_HEAD_BYTES);
    builder
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

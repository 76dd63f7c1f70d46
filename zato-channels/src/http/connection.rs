//! One accepted connection, served on its own task: HTTP/1.1, or with the `http2` feature
//! HTTP/1.1 and HTTP/2 told apart by the connection preface. Only the builder differs between
//! the two; the serving, the header deadline, the graceful drain and the forced close are the
//! same code.
//!
//! Each connection has a watcher task beside it, which sleeps until one of three things
//! happens: the header deadline may have passed, the server starts draining (the connection is
//! told to finish its request and close), or the drain deadline passes (it is closed). The
//! request path itself sets no timer and polls no signal: it writes the connection's phase into
//! one atomic (the head clock, in `conn`), and the watcher reads it when it wakes.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulConnection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio::time::Instant;

use super::conn::{ClientCert, Conn, HeadCheck, HeadClock};
use super::handle::handle;
use super::shared::Shared;

/// The signals a connection's watcher waits for, from the accept loop.
pub(super) struct Signals {
    /// Turns true when the server starts draining: finish the request in flight, then close.
    pub(super) graceful: watch::Receiver<bool>,
    /// Turns true when the drain deadline passes: close now.
    pub(super) force_close: watch::Receiver<bool>,
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
    peer: SocketAddr,
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
        peer,
        client_cert: OnceLock::new(),
    });
    let watched = Watched {
        stream,
        conn: Arc::clone(&conn),
    };
    // Loaded once: the connection keeps the certificate it was accepted with.
    let tls = shared.tls.current.load_full();
    let for_requests = Arc::clone(&conn);
    let service = service_fn(move |req| handle(Arc::clone(&for_requests), req));
    let builder = builder();
    let for_task = Arc::clone(&conn);
    let conn_task = tokio::spawn(async move {
        let _permit = permit;
        let served = match tls {
            None => serve(
                &for_task,
                builder.serve_connection(TokioIo::new(watched), service),
            )
            .await
            .map_err(|e| e.to_string()),
            Some(tls) => {
                // The handshake reads through `Watched`: one that dawdles is closed by the
                // header read timeout, as a slow request head is.
                let stream = match tls.acceptor.accept(watched).await {
                    Ok(stream) => stream,
                    Err(e) => {
                        tracing::debug!(error = %e, "tls handshake failed");
                        return;
                    }
                };
                let cert = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|certs| certs.first())
                    .map(|der| ClientCert::of(der.as_ref()));
                let _ = for_task.client_cert.set(cert);
                serve(
                    &for_task,
                    builder.serve_connection(TokioIo::new(stream), service),
                )
                .await
                .map_err(|e| e.to_string())
            }
        };
        if let Err(e) = served {
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

//! One accepted connection, served on its own task: HTTP/1.1, or with the `http2` feature
//! HTTP/1.1 and HTTP/2 told apart by the connection preface. Only the builder differs between
//! the two; the serving, the graceful drain and the forced close are the same code.

use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, watch};

use super::handle::handle;
use super::shared::Shared;

/// Serves `stream` on a new task until the client closes it, the graceful shutdown ends it, or
/// `force_close` turns true at the drain deadline. `permit` counts the connection against the
/// server's limit for as long as it is open.
pub(super) fn serve_connection(
    shared: &Arc<Shared>,
    graceful: &GracefulShutdown,
    mut force_close: watch::Receiver<bool>,
    stream: TcpStream,
    permit: OwnedSemaphorePermit,
) {
    // Replies are written whole; Nagle would only delay them. Failing to set it costs only
    // latency, so the connection is served anyway.
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
    let io = TokioIo::new(stream);
    let conn_shared = Arc::clone(shared);
    let service = service_fn(move |req| handle(Arc::clone(&conn_shared), req));
    let watcher = graceful.watcher();
    let builder = builder(shared.header_read_timeout());

    let conn_task = tokio::spawn(async move {
        let _permit = permit;
        if let Err(e) = watcher.watch(builder.serve_connection(io, service)).await {
            tracing::debug!(error = %e, "http connection ended with an error");
        }
    });
    // The drain deadline is watched from a task of its own, woken only when the connection ends
    // or the deadline passes. Beside the connection in one `select!`, it was polled again at
    // every wake-up of the connection, several times a request.
    tokio::spawn(async move {
        let mut conn_task = conn_task;
        let deadline_passed = tokio::select! {
            _ = &mut conn_task => false,
            closing = force_close.wait_for(|f| *f) => closing.is_ok(),
        };
        if deadline_passed {
            // Aborting drops the connection, which closes it and drops the request it was
            // serving. The receiver is dropped only once it is gone, so the accept loop waiting
            // for every receiver waits for every connection.
            conn_task.abort();
            let _ = conn_task.await;
            tracing::debug!("http connection closed at the drain deadline");
        }
    });
}

/// The largest request head (request line and headers) accepted, in bytes; a larger one gets
/// hyper's own 431. hyper's default bound is its read buffer, about 400 KiB, which it did not
/// always enforce for a single long header.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The HTTP/1.1 connection builder.
#[cfg(not(feature = "http2"))]
fn builder(header_read_timeout: Option<Duration>) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.max_header_size(MAX_HEAD_BYTES);
    if let Some(limit) = header_read_timeout {
        builder.timer(TokioTimer::new()).header_read_timeout(limit);
    }
    builder
}

/// The builder serving HTTP/1.1 and HTTP/2 on one connection. The header read timeout is an
/// HTTP/1 setting: HTTP/2 has its own flow control and keep-alive.
#[cfg(feature = "http2")]
fn builder(
    header_read_timeout: Option<Duration>,
) -> hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor> {
    let mut builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    // hyper-util's builder has no head limit of its own: the read buffer's bounds the head.
    builder.http1().max_buf_size(MAX_HEAD_BYTES);
    if let Some(limit) = header_read_timeout {
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limit);
    }
    builder
}

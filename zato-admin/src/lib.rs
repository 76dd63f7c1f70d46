//! The admin API: a node's configuration and services over JSON REST, on a listener of its own,
//! behind a bearer token. It never runs open: without a token it does not start.
//!
//! | | |
//! |---|---|
//! | `GET /health/live`, `GET /health/ready` | no token needed |
//! | `GET /metrics` | Prometheus text |
//! | `GET /api/kinds` | the node's kinds: section, kind, summary, fields, an example (no secrets) |
//! | `GET, POST /api/channels/{kind}` | list, create; a kind the node lacks is a 404 naming those it has |
//! | `GET, PUT, PATCH, DELETE /api/channels/{kind}/{name}` | read, replace, merge-patch, delete |
//! | `POST /api/channels/{kind}/{name}/run` | runs a scheduled job now (202) |
//! | `… /api/outgoing/{kind}[/{name}]`, `POST …/{name}/ping` | the same, and a ping |
//! | `… /api/security[/{name}]`, `… /api/services[/{name}]` | the same |
//! | `POST /api/services/{name}/invoke` | invokes a service with a JSON body |
//! | `GET /api/config?format=json\|toml\|yaml` | exports the whole document |
//! | `POST /api/config/import?dry_run=&replace=&format=` | imports one: all or nothing; `dry_run=true&replace=true` checks a whole document with the node's kinds and changes nothing |
//! | `GET /api/config/history` | who changed what |
//! | `GET, POST /admin/…` | the web admin: HTML forms, behind a login with the token and a session cookie |
//!
//! Each object's version is its `ETag`; a write carrying `If-Match` with another version gets a
//! 412. A write answers once this node has applied it, or failed to (422, nothing changed).
//! Secrets are write-only: reads and exports show `******`, and writing `******` back keeps the
//! secret.
//!
//! The web admin under `/admin/` makes the same changes through the same runtime calls, for a
//! browser: a login with the admin token opens a bounded, expiring session, and every form carries
//! a CSRF token checked before routing.

mod api;
mod listener;
mod web;

use listener::{Connections, MAX_CONNECTIONS, READ_TIMEOUT};

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use percent_encoding::percent_decode_str;
use tokio::net::TcpListener;
use tokio::sync::watch;
use zato_core::config::ConfigRuntime;
use zato_core::{ChannelError, Secret};

/// Where the admin API listens unless `ZATO_ADMIN_ADDR` says otherwise.
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:11224";

/// The environment variable holding the admin token.
pub const ADMIN_TOKEN_ENV: &str = "ZATO_ADMIN_TOKEN";

/// The environment variable holding the admin API's address.
pub const ADMIN_ADDR_ENV: &str = "ZATO_ADMIN_ADDR";

/// The largest request body the admin API reads: the largest config document,
/// [`MAX_DOCUMENT_BYTES`](zato_core::config::bounds::MAX_DOCUMENT_BYTES) (4 MiB). A larger body
/// is refused with a 413 before it is read whole.
pub const ADMIN_MAX_BODY: usize = zato_core::config::bounds::MAX_DOCUMENT_BYTES;

/// How long a connection given up to make room has to finish writing its last response: less
/// than [`SLOT_WAIT`](listener::SLOT_WAIT), which the newcomer waits.
const EVICTION_GRACE: Duration = Duration::from_millis(200);

/// How long a shutdown waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A running admin API.
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// use zato_admin::AdminServer;
/// use zato_core::config::{ConfigRuntime, MemoryStore};
/// use zato_core::Platform;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let platform = Platform::new();
/// let runtime = ConfigRuntime::new(platform, Arc::new(MemoryStore::new()));
/// let admin = AdminServer::serve("127.0.0.1:11224", runtime, "s3cret".into()).await?;
/// println!("admin API on {}", admin.local_addr());
/// admin.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AdminServer {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: ConfigRuntime,
    token: Secret<String>,
    sessions: web::Sessions,
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    stopped: watch::Sender<bool>,
}

impl fmt::Debug for AdminServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminServer")
            .field("local_addr", &self.inner.local_addr)
            .finish_non_exhaustive()
    }
}

impl AdminServer {
    /// Binds `addr` and serves the admin API over `runtime`, to callers presenting `token`.
    ///
    /// # Errors
    ///
    /// [`ChannelError::Config`] when the token is empty or shorter than 8 characters (the API
    /// never runs open), [`ChannelError::Bind`] when the address cannot be bound.
    pub async fn serve(
        addr: &str,
        runtime: ConfigRuntime,
        token: Secret<String>,
    ) -> Result<AdminServer, ChannelError> {
        if token.expose().trim().len() < 8 {
            return Err(zato_core::ConfigError::one(
                "admin.token",
                "the admin API needs a token of at least 8 characters; it never runs open",
            )
            .into());
        }
        let bind_err = |source| ChannelError::Bind {
            addr: addr.to_owned(),
            source,
        };
        let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;
        let (stop, stop_rx) = watch::channel(false);
        let (stopped, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            runtime,
            token,
            sessions: web::Sessions::default(),
            local_addr,
            stop,
            stopped,
        });
        tokio::spawn(accept_loop(Arc::clone(&inner), listener, stop_rx));
        tracing::info!(addr = %local_addr, "admin API listening");
        Ok(AdminServer { inner })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// Stops taking connections, answers the requests in flight (for up to 10 s), then returns.
    pub async fn shutdown(&self) {
        self.inner.stop.send_replace(true);
        let mut stopped = self.inner.stopped.subscribe();
        let _ = stopped.wait_for(|s| *s).await;
    }
}

/// Returns once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`: drop it here.
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

/// Serves one connection until the client closes it, it idles or trickles past the read timeout,
/// the accept loop gives it up to make room, or the listener stops. Given up, it has
/// [`EVICTION_GRACE`] to finish the response it is writing; stopping, [`DRAIN_TIMEOUT`] to answer
/// the request in flight.
async fn serve_connection(
    inner: Arc<Inner>,
    stream: tokio::net::TcpStream,
    place: listener::Place,
    mut stop: watch::Receiver<bool>,
) {
    let slot = Arc::clone(&place.slot);
    let service = service_fn(move |req| {
        let inner = Arc::clone(&inner);
        let slot = Arc::clone(&slot);
        async move {
            if !slot.begin() {
                return Ok::<_, std::convert::Infallible>(api::busy_reply());
            }
            let reply = respond(&inner, req).await;
            slot.end();
            Ok(reply)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(READ_TIMEOUT);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let ended = tokio::select! {
        ended = conn.as_mut() => Ok(ended),
        () = place.slot.evicted() => Err(EVICTION_GRACE),
        () = stopped(&mut stop) => Err(DRAIN_TIMEOUT),
    };
    let ended = match ended {
        Ok(ended) => ended,
        Err(grace) => {
            conn.as_mut().graceful_shutdown();
            tokio::time::timeout(grace, conn.as_mut())
                .await
                .unwrap_or(Ok(()))
        }
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, "admin API connection ended with an error");
    }
    drop(place);
}

/// Answers one request: the web admin's pages under `/admin/`, the API otherwise. The web admin
/// has its own sessions: its pages are for a browser, which holds no bearer token.
async fn respond(inner: &Arc<Inner>, req: Request<Incoming>) -> api::Reply {
    let segments: Vec<String> = req
        .uri()
        .path()
        .trim_matches('/')
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    if segs.first() == Some(&"admin") {
        return web::handle(inner, req, &segs[1..]).await;
    }
    api::handle(inner, req, &segs).await
}

async fn accept_loop(inner: Arc<Inner>, listener: TcpListener, mut stop: watch::Receiver<bool>) {
    let connections = Connections::new(MAX_CONNECTIONS);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "admin API could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let Some(place) = connections.admit().await else {
            tokio::spawn(listener::refuse_busy(stream));
            continue;
        };
        tokio::spawn(serve_connection(
            Arc::clone(&inner),
            stream,
            place,
            stop.clone(),
        ));
    }
    drop(listener);
    if !connections.drained(MAX_CONNECTIONS, DRAIN_TIMEOUT).await {
        tracing::warn!("admin API: requests still running at the drain deadline were abandoned");
    }
    inner.stopped.send_replace(true);
    tracing::info!(addr = %inner.local_addr, "admin API stopped");
}

//! The HTTP server: one listener, many channels, a route table swapped while serving, and a
//! graceful shutdown.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::{Notify, watch};
use zato_core::{ChannelKind, Platform};

use crate::adapter::ChannelAdapter;
use crate::config::{HttpChannelConfig, HttpConfig, SecurityDef};
use crate::error::{ChannelError, ConfigError};
use crate::handle::handle;
use crate::router::RouteTable;

/// Where a server is in its life.
#[derive(Debug)]
enum Phase {
    /// Bound, not yet accepting.
    Bound(TcpListener),
    /// Accepting; the sender stops the accept loop.
    Serving(watch::Sender<bool>),
    /// Stopped, or stopping.
    Stopped,
}

/// What the server and every connection share.
pub(crate) struct Shared {
    pub(crate) platform: Platform,
    pub(crate) routes: ArcSwap<RouteTable>,
    local_addr: SocketAddr,
    /// Serialises configuration changes; requests never take it.
    writer: Mutex<()>,
    phase: Mutex<Phase>,
    /// Set when shutdown begins: new requests get a 503.
    draining: AtomicBool,
    in_flight: AtomicUsize,
    /// Woken when the last request in flight finishes while draining.
    idle: Notify,
    /// Becomes true when the server has stopped and every connection is closed.
    stopped: watch::Sender<bool>,
    /// How long a client may take to send a request's headers, in milliseconds; 0 for no limit.
    header_read_timeout_ms: AtomicU64,
    /// How long a shutdown waits for requests and connections before closing what remains, in
    /// milliseconds; 0 for no limit.
    drain_timeout_ms: AtomicU64,
}

/// How long a client may take to send a request's headers unless
/// [`HttpServer::set_header_read_timeout`] says otherwise.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`HttpServer::shutdown`] waits for requests in flight and open connections before it
/// closes them, unless [`HttpServer::set_drain_timeout`] says otherwise.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

fn to_ms(timeout: Option<Duration>) -> u64 {
    timeout.map_or(0, |t| {
        u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1)
    })
}

fn from_ms(ms: u64) -> Option<Duration> {
    (ms != 0).then(|| Duration::from_millis(ms))
}

/// Counts a request in flight for as long as it lives.
pub(crate) struct InFlight<'s>(&'s Shared);

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
    /// Counts a new request in, unless the server is shutting down.
    pub(crate) fn enter(&self) -> Option<InFlight<'_>> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let guard = InFlight(self);
        (!self.draining.load(Ordering::SeqCst)).then_some(guard)
    }

    async fn wait_idle(&self) {
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }

    fn lock_phase(&self) -> MutexGuard<'_, Phase> {
        // A panic elsewhere leaves the phase consistent: each change is one assignment.
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The HTTP channel adapter: a listener serving any number of [`HttpChannelConfig`]s.
///
/// Cheap to clone; every clone is the same server. Channels and security definitions can be
/// added, changed and removed while it serves: each change validates the whole configuration,
/// builds a new route table and swaps it in atomically. Requests already running finish under
/// the table they started with.
///
/// Serving runs on spawned tasks: dropping every handle does not stop it; call
/// [`shutdown`](Self::shutdown).
///
/// # Examples
///
/// ```
/// use zato_channels::{HttpChannelConfig, HttpConfig, HttpServer};
/// use zato_core::Platform;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let platform = Platform::new();
/// let config = HttpConfig::new(vec![HttpChannelConfig::new("ping", "/ping", "demo.ping")], vec![]);
/// let server = HttpServer::serve("127.0.0.1:0", platform, config).await?;
/// println!("listening on {}", server.local_addr());
/// server.shutdown().await;
/// # Ok::<(), zato_channels::ChannelError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct HttpServer {
    shared: Arc<Shared>,
}

impl fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = self.shared.routes.load();
        let names: Vec<&str> = table.channels.iter().map(|c| c.name.as_str()).collect();
        f.debug_struct("HttpServer")
            .field("local_addr", &self.shared.local_addr)
            .field("channels", &names)
            .field("draining", &self.shared.draining.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl HttpServer {
    /// Binds a listener without serving yet; add channels, then [`start`](ChannelAdapter::start).
    ///
    /// # Errors
    ///
    /// [`ChannelError::Bind`] when the address cannot be bound.
    pub async fn bind<A>(addr: A, platform: Platform) -> Result<HttpServer, ChannelError>
    where
        A: ToSocketAddrs + fmt::Display,
    {
        let shown = addr.to_string();
        let bind_err = |source| ChannelError::Bind {
            addr: shown.clone(),
            source,
        };
        let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;
        Ok(HttpServer {
            shared: Arc::new(Shared {
                platform,
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
            }),
        })
    }

    /// Binds, applies `config` and starts serving: all an embedding application needs.
    ///
    /// # Errors
    ///
    /// [`ChannelError::Bind`] when the address cannot be bound, [`ChannelError::Config`] listing
    /// every problem of the configuration.
    pub async fn serve<A>(
        addr: A,
        platform: Platform,
        config: HttpConfig,
    ) -> Result<HttpServer, ChannelError>
    where
        A: ToSocketAddrs + fmt::Display,
    {
        let server = HttpServer::bind(addr, platform).await?;
        server.apply_config(config)?;
        server.start().await?;
        Ok(server)
    }

    /// Begins serving; the same as [`ChannelAdapter::start`], without importing the trait.
    ///
    /// # Errors
    ///
    /// [`ChannelError::AlreadyStarted`] when the server is serving or was stopped.
    pub async fn start(&self) -> Result<(), ChannelError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let listener = {
            let mut phase = self.shared.lock_phase();
            match std::mem::replace(&mut *phase, Phase::Serving(stop_tx)) {
                Phase::Bound(listener) => listener,
                Phase::Serving(previous) => {
                    *phase = Phase::Serving(previous);
                    return Err(ChannelError::AlreadyStarted("serving"));
                }
                Phase::Stopped => {
                    *phase = Phase::Stopped;
                    return Err(ChannelError::AlreadyStarted("stopped"));
                }
            }
        };
        tracing::info!(addr = %self.shared.local_addr, "http channel listening");
        tokio::spawn(accept_loop(Arc::clone(&self.shared), listener, stop_rx));
        Ok(())
    }

    /// Limits how long a client may take to send a request's headers (HTTP/1), closing the
    /// connection of one that dawdles (a slowloris). Applies to connections accepted from then
    /// on. The default is [`DEFAULT_HEADER_READ_TIMEOUT`] (30 s); `None` sets no limit.
    pub fn set_header_read_timeout(&self, timeout: Option<Duration>) {
        self.shared
            .header_read_timeout_ms
            .store(to_ms(timeout), Ordering::Relaxed);
    }

    /// How long a client may take to send a request's headers; `None` for no limit.
    pub fn header_read_timeout(&self) -> Option<Duration> {
        from_ms(self.shared.header_read_timeout_ms.load(Ordering::Relaxed))
    }

    /// Limits how long [`shutdown`](Self::shutdown) waits for requests in flight to be answered
    /// and connections to close; when it passes, the connections still open are closed, and
    /// requests still running on them are abandoned. Read when the shutdown begins. The default
    /// is [`DEFAULT_DRAIN_TIMEOUT`] (30 s); `None` waits as long as it takes.
    pub fn set_drain_timeout(&self, timeout: Option<Duration>) {
        self.shared
            .drain_timeout_ms
            .store(to_ms(timeout), Ordering::Relaxed);
    }

    /// How long a shutdown waits before closing what is still open; `None` for no limit.
    pub fn drain_timeout(&self) -> Option<Duration> {
        from_ms(self.shared.drain_timeout_ms.load(Ordering::Relaxed))
    }

    /// The address the listener is bound to (with the port chosen when binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// The platform whose services the channels invoke.
    pub fn platform(&self) -> &Platform {
        &self.shared.platform
    }

    /// The configuration being served.
    pub fn config(&self) -> HttpConfig {
        let table = self.shared.routes.load();
        HttpConfig::new(table.channels.clone(), table.security.clone())
    }

    /// The channel named `name`, as configured.
    pub fn channel(&self, name: &str) -> Option<HttpChannelConfig> {
        let table = self.shared.routes.load();
        table.channels.iter().find(|c| c.name == name).cloned()
    }

    /// Replaces the whole configuration: every channel and security definition.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] listing every problem; the previous configuration stays in force.
    pub fn apply_config(&self, config: HttpConfig) -> Result<(), ConfigError> {
        let _writer = self.lock_writer();
        let table = RouteTable::build(&config.channels, &config.security)?;
        self.warn_undeployed(&table);
        self.shared.routes.store(Arc::new(table));
        tracing::info!(addr = %self.shared.local_addr, channels = config.channels.len(), "http configuration applied");
        Ok(())
    }

    /// Adds a channel.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when the channel is invalid, its name is taken, its path and methods
    /// are served by another channel, or its security definition does not exist.
    pub fn add_channel(&self, channel: HttpChannelConfig) -> Result<(), ConfigError> {
        self.change(|channels, _| {
            channels.push(channel);
            Ok(())
        })
    }

    /// Replaces the channel of the same name.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when no channel has that name or the new one is invalid.
    pub fn update_channel(&self, channel: HttpChannelConfig) -> Result<(), ConfigError> {
        self.change(|channels, _| {
            let slot = channels
                .iter_mut()
                .find(|c| c.name == channel.name)
                .ok_or_else(|| no_channel(&channel.name))?;
            *slot = channel;
            Ok(())
        })
    }

    /// Removes the channel named `name`, returning its configuration. Requests already running
    /// on it finish; new ones get a 404.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when no channel has that name.
    pub fn remove_channel(&self, name: &str) -> Result<HttpChannelConfig, ConfigError> {
        let mut removed = None;
        self.change(|channels, _| {
            let at = channels
                .iter()
                .position(|c| c.name == name)
                .ok_or_else(|| no_channel(name))?;
            removed = Some(channels.remove(at));
            Ok(())
        })?;
        removed.ok_or_else(|| no_channel(name))
    }

    /// Adds a security definition, or replaces the one of the same name (rotating credentials
    /// while serving).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when the definition is invalid.
    pub fn set_security(&self, def: SecurityDef) -> Result<(), ConfigError> {
        self.change(|_, security| {
            match security.iter_mut().find(|d| d.name() == def.name()) {
                Some(slot) => *slot = def,
                None => security.push(def),
            }
            Ok(())
        })
    }

    /// Removes the security definition named `name`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when no definition has that name or a channel still uses it.
    pub fn remove_security(&self, name: &str) -> Result<(), ConfigError> {
        self.change(|_, security| {
            let at = security
                .iter()
                .position(|d| d.name() == name)
                .ok_or_else(|| {
                    ConfigError::one(
                        format!("security \"{name}\""),
                        "no such security definition",
                    )
                })?;
            security.remove(at);
            Ok(())
        })
    }

    /// Stops serving gracefully. From the moment it is called, the listener accepts no new
    /// connection and requests arriving on open connections get a 503 with `Connection: close`;
    /// the returned future completes once every request in flight has been answered and every
    /// connection closed, or once the [drain timeout](Self::set_drain_timeout) (30 s by default)
    /// has passed, when the connections still open are closed, abandoning their requests.
    /// Calling it again, or on a server never started, is harmless.
    pub fn shutdown(&self) -> impl Future<Output = ()> + Send + 'static {
        let shared = Arc::clone(&self.shared);
        shared.draining.store(true, Ordering::SeqCst);
        let previous = std::mem::replace(&mut *shared.lock_phase(), Phase::Stopped);
        match previous {
            Phase::Serving(stop) => {
                stop.send_replace(true);
            }
            Phase::Bound(listener) => {
                drop(listener);
                shared.stopped.send_replace(true);
            }
            Phase::Stopped => {}
        }
        let mut stopped = shared.stopped.subscribe();
        async move {
            // An error means the sender is gone, which cannot happen while `shared` lives.
            let _ = stopped.wait_for(|s| *s).await;
        }
    }

    /// A channel may name a service deployed later, so this is a warning, not an error; until
    /// then its callers get a 404 naming the service.
    fn warn_undeployed(&self, table: &RouteTable) {
        let services = self.shared.platform.services();
        for ch in table
            .channels
            .iter()
            .filter(|c| !services.contains(&c.service))
        {
            tracing::warn!(channel = %ch.name, service = %ch.service, "channel names a service not deployed");
        }
    }

    fn lock_writer(&self) -> MutexGuard<'_, ()> {
        // The guarded data is `()`: nothing a panicking writer could have left half-changed.
        self.shared
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies `edit` to a copy of the configuration, validates and compiles it, and swaps it in.
    fn change<F>(&self, edit: F) -> Result<(), ConfigError>
    where
        F: FnOnce(&mut Vec<HttpChannelConfig>, &mut Vec<SecurityDef>) -> Result<(), ConfigError>,
    {
        let _writer = self.lock_writer();
        let current = self.shared.routes.load_full();
        let mut channels = current.channels.clone();
        let mut security = current.security.clone();
        edit(&mut channels, &mut security)?;
        let table = RouteTable::build(&channels, &security)?;
        self.warn_undeployed(&table);
        self.shared.routes.store(Arc::new(table));
        tracing::info!(addr = %self.shared.local_addr, channels = channels.len(), "http channels changed");
        Ok(())
    }
}

fn no_channel(name: &str) -> ConfigError {
    ConfigError::one(format!("channel \"{name}\""), "no such channel")
}

impl ChannelAdapter for HttpServer {
    type Config = HttpConfig;

    fn kind(&self) -> ChannelKind {
        ChannelKind::Http
    }

    async fn start(&self) -> Result<(), ChannelError> {
        HttpServer::start(self).await
    }

    async fn stop(&self) {
        self.shutdown().await;
    }

    fn apply(&self, config: HttpConfig) -> Result<(), ChannelError> {
        self.apply_config(config).map_err(ChannelError::from)
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, mut stop: watch::Receiver<bool>) {
    let graceful = GracefulShutdown::new();
    // Set when the drain deadline passes: every connection still open closes. Each connection
    // holds a receiver, so the sender sees them all gone.
    let (force_close, _) = watch::channel(false);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    serve_connection(&shared, &graceful, force_close.subscribe(), stream);
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "http accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            // A change is the stop signal; an error means the server itself is gone.
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    tracing::info!(addr = %shared.local_addr, "http channel draining");
    let drain = async {
        shared.wait_idle().await;
        graceful.shutdown().await;
    };
    let deadline = from_ms(shared.drain_timeout_ms.load(Ordering::Relaxed));
    let drained = match deadline {
        None => {
            drain.await;
            true
        }
        Some(limit) => tokio::time::timeout(limit, drain).await.is_ok(),
    };
    if !drained {
        tracing::warn!(addr = %shared.local_addr, "http drain timeout passed; closing the connections still open");
        force_close.send_replace(true);
        force_close.closed().await;
    }
    tracing::info!(addr = %shared.local_addr, "http channel stopped");
    shared.stopped.send_replace(true);
}

fn serve_connection(
    shared: &Arc<Shared>,
    graceful: &GracefulShutdown,
    mut force_close: watch::Receiver<bool>,
    stream: TcpStream,
) {
    // Replies are written whole; Nagle would only delay them.
    let _ = stream.set_nodelay(true);
    let io = TokioIo::new(stream);
    let conn_shared = Arc::clone(shared);
    let service = service_fn(move |req| {
        let shared = Arc::clone(&conn_shared);
        async move { Ok::<_, Infallible>(handle(shared, req).await) }
    });
    let watcher = graceful.watcher();
    let header_timeout = from_ms(shared.header_read_timeout_ms.load(Ordering::Relaxed));

    #[cfg(not(feature = "http2"))]
    tokio::spawn(async move {
        let mut builder = hyper::server::conn::http1::Builder::new();
        if let Some(limit) = header_timeout {
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limit);
        }
        let conn = builder.serve_connection(io, service);
        tokio::select! {
            served = watcher.watch(conn) => if let Err(e) = served {
                tracing::debug!(error = %e, "http connection ended with an error");
            },
            // Dropping the connection closes it, and drops the request it was serving.
            _ = force_close.wait_for(|f| *f) => {
                tracing::debug!("http connection closed at the drain deadline");
            }
        }
    });

    #[cfg(feature = "http2")]
    tokio::spawn(async move {
        let mut builder =
            hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
        if let Some(limit) = header_timeout {
            builder
                .http1()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limit);
        }
        let conn = builder.serve_connection(io, service);
        tokio::select! {
            served = watcher.watch(conn) => if let Err(e) = served {
                tracing::debug!(error = %e, "http connection ended with an error");
            },
            // Dropping the connection closes it, and drops the request it was serving.
            _ = force_close.wait_for(|f| *f) => {
                tracing::debug!("http connection closed at the drain deadline");
            }
        }
    });
}

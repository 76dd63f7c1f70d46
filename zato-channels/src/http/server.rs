//! The HTTP server: one listener, many channels, owned by the platform; its lifecycle from bind
//! to a graceful shutdown.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::{Semaphore, watch};
use zato_core::{ChannelAdapter, ChannelError, ConfigError, Platform};

use super::config::HttpConfig;
use super::connection::{Signals, serve_connection};
use super::shared::{Phase, Shared, to_ms};

/// The HTTP channel adapter: a listener serving any number of
/// [`HttpChannelConfig`](crate::HttpChannelConfig)s.
///
/// Cheap to clone; every clone is the same server. Binding puts it on the platform, under its
/// [name](Self::name): from then on [`Platform::channels`] lists its channels and changes them,
/// [`Platform::start`] starts it and [`Platform::shutdown`] drains it. Channels and security
/// definitions can be added, changed and removed while it serves: each change validates the
/// whole configuration, builds a new route table and swaps it in atomically. Requests already
/// running finish under the table they started with.
///
/// Serving runs on spawned tasks, and the platform holds the server: dropping every handle does
/// not stop it; call [`shutdown`](Self::shutdown) or [`Platform::shutdown`].
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
/// let server = HttpServer::serve("127.0.0.1:0", platform.clone(), config).await?;
/// println!("{} listening on {}", server.name(), server.local_addr());
/// assert_eq!(platform.channels().list()[0].name, "ping");
/// platform.shutdown().await;
/// # Ok::<(), zato_channels::ChannelError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct HttpServer {
    pub(super) shared: Arc<Shared>,
}

impl fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = self.shared.routes.load();
        let names: Vec<&str> = table.channels.iter().map(|c| c.name.as_str()).collect();
        f.debug_struct("HttpServer")
            .field("name", &self.shared.name)
            .field("local_addr", &self.shared.local_addr)
            .field("channels", &names)
            .field("draining", &self.shared.draining.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl HttpServer {
    /// Binds a listener and puts the server on `platform`, named `http@` and the bound address
    /// (`http@127.0.0.1:11223`), without serving yet; add channels, then
    /// [`start`](Self::start) it or [`Platform::start`] every adapter at once.
    ///
    /// # Errors
    ///
    /// [`ChannelError::Bind`] when the address is invalid, does not resolve or cannot be bound,
    /// saying why; [`ChannelError::DuplicateAdapter`] when the platform already has an adapter of
    /// that name.
    pub async fn bind<A>(addr: A, platform: Platform) -> Result<HttpServer, ChannelError>
    where
        A: ToSocketAddrs + fmt::Display,
    {
        let listener = listen(addr).await?;
        let local_addr = local_addr(&listener)?;
        HttpServer::register(format!("http@{local_addr}"), platform, listener, local_addr)
    }

    /// Like [`bind`](Self::bind), naming the server `name` on the platform.
    ///
    /// # Errors
    ///
    /// [`ChannelError::Config`] when `name` is empty, [`ChannelError::DuplicateAdapter`] when
    /// the platform already has an adapter of that name (checked before binding),
    /// [`ChannelError::Bind`] when the address cannot be bound.
    pub async fn bind_named<A>(
        name: impl Into<String>,
        addr: A,
        platform: Platform,
    ) -> Result<HttpServer, ChannelError>
    where
        A: ToSocketAddrs + fmt::Display,
    {
        let name = name.into();
        if name.trim().is_empty() {
            return Err(ConfigError::one("name", "must not be empty").into());
        }
        if platform.channels().adapter(&name).is_some() {
            return Err(ChannelError::DuplicateAdapter(name));
        }
        let listener = listen(addr).await?;
        let local_addr = local_addr(&listener)?;
        HttpServer::register(name, platform, listener, local_addr)
    }

    fn register(
        name: String,
        platform: Platform,
        listener: TcpListener,
        local_addr: SocketAddr,
    ) -> Result<HttpServer, ChannelError> {
        let shared = Arc::new(Shared::new(name, platform, listener, local_addr));
        let server = HttpServer { shared };
        let adapter: Arc<dyn ChannelAdapter> = Arc::new(server.clone());
        // Set once, here, before anyone else can see the server.
        let _ = server.shared.registration.set(Arc::downgrade(&adapter));
        // On error the server is dropped, and its listener closed, here.
        server.shared.platform.channels().add(adapter)?;
        Ok(server)
    }

    /// Binds, applies `config` and starts serving: all an embedding application needs.
    ///
    /// # Errors
    ///
    /// Those of [`bind`](Self::bind), and [`ChannelError::Config`] listing every problem of the
    /// configuration, when the server is taken off the platform again.
    pub async fn serve<A>(
        addr: A,
        platform: Platform,
        config: HttpConfig,
    ) -> Result<HttpServer, ChannelError>
    where
        A: ToSocketAddrs + fmt::Display,
    {
        let server = HttpServer::bind(addr, platform).await?;
        if let Err(e) = server.apply_config(config) {
            server.shutdown().await;
            return Err(e.into());
        }
        server.start().await?;
        Ok(server)
    }

    /// Begins serving; the same as [`ChannelAdapter::start`], without importing the trait.
    ///
    /// # Errors
    ///
    /// [`ChannelError::AlreadyServing`] when the server serves already, [`ChannelError::Stopped`]
    /// when it was stopped.
    pub async fn start(&self) -> Result<(), ChannelError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let listener = {
            let mut phase = self.shared.lock_phase();
            match std::mem::replace(&mut *phase, Phase::Serving(stop_tx)) {
                Phase::Bound(listener) => listener,
                Phase::Serving(previous) => {
                    *phase = Phase::Serving(previous);
                    return Err(ChannelError::AlreadyServing(self.shared.name.to_string()));
                }
                Phase::Stopped => {
                    *phase = Phase::Stopped;
                    return Err(ChannelError::Stopped(self.shared.name.to_string()));
                }
            }
        };
        tracing::info!(adapter = %self.shared.name, addr = %self.shared.local_addr, "http channel listening");
        tokio::spawn(accept_loop(Arc::clone(&self.shared), listener, stop_rx));
        Ok(())
    }

    /// The server's name on the platform.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Limits how long a client may take to send a request's headers (HTTP/1), closing the
    /// connection of one that dawdles (a slowloris). Applies to connections accepted from then
    /// on. The default is [`DEFAULT_HEADER_READ_TIMEOUT`](crate::DEFAULT_HEADER_READ_TIMEOUT)
    /// (30 s); `None` sets no limit.
    pub fn set_header_read_timeout(&self, timeout: Option<Duration>) {
        self.shared
            .header_read_timeout_ms
            .store(to_ms(timeout), Ordering::Relaxed);
    }

    /// How long a client may take to send a request's headers; `None` for no limit.
    pub fn header_read_timeout(&self) -> Option<Duration> {
        self.shared.header_read_timeout()
    }

    /// Limits how long [`shutdown`](Self::shutdown) waits for requests in flight to be answered
    /// and connections to close; when it passes, the connections still open are closed, and
    /// requests still running on them are abandoned. Read when the shutdown begins. The default
    /// is [`DEFAULT_DRAIN_TIMEOUT`](crate::DEFAULT_DRAIN_TIMEOUT) (30 s); `None` waits as long
    /// as it takes.
    pub fn set_drain_timeout(&self, timeout: Option<Duration>) {
        self.shared
            .drain_timeout_ms
            .store(to_ms(timeout), Ordering::Relaxed);
    }

    /// How long a shutdown waits before closing what is still open; `None` for no limit.
    pub fn drain_timeout(&self) -> Option<Duration> {
        self.shared.drain_timeout()
    }

    /// Limits how many connections are open at once (at least 1). At the limit the server
    /// accepts no more until one closes; new clients wait in the operating system's backlog.
    /// Read when serving starts. The default is
    /// [`DEFAULT_MAX_CONNECTIONS`](crate::DEFAULT_MAX_CONNECTIONS).
    pub fn set_max_connections(&self, max: usize) {
        self.shared
            .max_connections
            .store(max.max(1), Ordering::Relaxed);
    }

    /// How many connections may be open at once.
    pub fn max_connections(&self) -> usize {
        self.shared.max_connections.load(Ordering::Relaxed)
    }

    /// Limits the request body bytes that the requests in flight on this listener may hold
    /// together, so that many slow or large uploads cannot exhaust the process's memory.
    ///
    /// A body's declared `Content-Length` is counted whole before its first byte is read; a
    /// chunked body is counted as it arrives; both are given back once the request has been
    /// answered. A request whose body would pass the budget is refused with a 503, a
    /// `Retry-After` and `Connection: close`: the server protecting itself, not the caller's
    /// fault. Requests without a body are never refused. Takes effect at once. The default is
    /// [`DEFAULT_BODY_MEMORY_BUDGET`](crate::DEFAULT_BODY_MEMORY_BUDGET) (256 MiB); each
    /// channel's [`max_body_size`](crate::HttpChannelConfig::max_body_size) still bounds its
    /// own bodies.
    ///
    /// # Examples
    ///
    /// ```
    /// use zato_channels::{HttpConfig, HttpServer};
    /// use zato_core::Platform;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let platform = Platform::new();
    /// let server = HttpServer::bind("127.0.0.1:0", platform.clone()).await?;
    /// server.set_body_memory_budget(64 * 1024 * 1024);
    /// assert_eq!(server.body_memory_budget(), 64 * 1024 * 1024);
    /// assert_eq!(server.body_memory_in_use(), 0);
    /// platform.shutdown().await;
    /// # Ok::<(), zato_channels::ChannelError>(())
    /// # }).unwrap();
    /// ```
    pub fn set_body_memory_budget(&self, bytes: u64) {
        self.shared.body_budget.set_limit(bytes);
    }

    /// The request body bytes the requests in flight may hold together.
    pub fn body_memory_budget(&self) -> u64 {
        self.shared.body_budget.limit()
    }

    /// The request body bytes the requests in flight hold now, declared lengths included.
    pub fn body_memory_in_use(&self) -> u64 {
        self.shared.body_budget.used()
    }

    /// The address the listener is bound to (with the port chosen when binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// The platform whose services the channels invoke.
    pub fn platform(&self) -> &Platform {
        &self.shared.platform
    }

    /// Stops serving gracefully and takes the server off its platform. From the moment it is
    /// called, the listener accepts no new connection and requests arriving on open connections
    /// get a 503 with `Connection: close`; the returned future completes once every request in
    /// flight has been answered and every connection closed, or once the
    /// [drain timeout](Self::set_drain_timeout) (30 s by default) has passed, when the
    /// connections still open are closed, abandoning their requests. Calling it again, or on a
    /// server never started, is harmless.
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
        self.leave_platform();
        let mut stopped = shared.stopped.subscribe();
        async move {
            // An error means the sender is gone, which cannot happen while `shared` lives.
            let _ = stopped.wait_for(|s| *s).await;
        }
    }

    /// Takes the server off its platform, if the adapter of its name there is still this one
    /// (not another that took the name after this one left). Frees the name, and ends the cycle
    /// of the platform holding the server holding the platform.
    fn leave_platform(&self) {
        let Some(ours) = self.shared.registration.get().and_then(Weak::upgrade) else {
            return;
        };
        self.shared.platform.channels().remove_exact(&ours);
    }
}

/// Resolves and binds `addr`, saying what was wrong with an address that is not one.
async fn listen<A>(addr: A) -> Result<TcpListener, ChannelError>
where
    A: ToSocketAddrs + fmt::Display,
{
    let shown = addr.to_string();
    let bind_err = |source| ChannelError::Bind {
        addr: shown.clone(),
        source,
    };
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| bind_err(unresolved(e)))?
        .collect();
    if resolved.is_empty() {
        return Err(bind_err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolves to nothing",
        )));
    }
    TcpListener::bind(resolved.as_slice())
        .await
        .map_err(bind_err)
}

/// The error of an address that did not resolve, saying what a valid one looks like when the
/// trouble is its form (`11223` alone) rather than the name service; the resolver's own error
/// stays its `source()`.
fn unresolved(e: io::Error) -> io::Error {
    let why = if e.kind() == io::ErrorKind::InvalidInput {
        "invalid address, expected host:port such as 127.0.0.1:11223"
    } else {
        "could not resolve the address"
    };
    io::Error::new(e.kind(), Unresolved { why, source: e })
}

/// What was wrong with an address, and the resolver's error.
#[derive(Debug)]
struct Unresolved {
    why: &'static str,
    source: io::Error,
}

impl fmt::Display for Unresolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.why)
    }
}

impl std::error::Error for Unresolved {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn local_addr(listener: &TcpListener) -> Result<SocketAddr, ChannelError> {
    listener.local_addr().map_err(|source| ChannelError::Bind {
        addr: "the bound listener".to_owned(),
        source,
    })
}

/// Accepts connections until told to stop, at most `max_connections` open at once, then drains:
/// waits for the requests in flight and the connections, up to the drain timeout, and closes
/// what remains.
async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, mut stop: watch::Receiver<bool>) {
    // Set when draining begins: every connection finishes its request and closes. Each
    // connection holds a receiver, so the sender sees them all gone.
    let (graceful, _) = watch::channel(false);
    // Set when the drain deadline passes: every connection still open closes.
    let (force_close, _) = watch::channel(false);
    let open = Arc::new(Semaphore::new(
        shared
            .max_connections
            .load(Ordering::Relaxed)
            .clamp(1, Semaphore::MAX_PERMITS),
    ));
    loop {
        // A permit first: at the limit, connections wait in the kernel's backlog, unaccepted.
        let permit = tokio::select! {
            permit = Arc::clone(&open).acquire_owned() => permit,
            // A change is the stop signal; an error means the server itself is gone.
            _ = stop.changed() => break,
        };
        // The semaphore is never closed.
        let Ok(permit) = permit else { break };
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let signals = Signals {
                        graceful: graceful.subscribe(),
                        force_close: force_close.subscribe(),
                    };
                    serve_connection(&shared, signals, stream, peer, permit);
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "http accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    tracing::info!(adapter = %shared.name, "http channel draining");
    let drain = async {
        shared.wait_idle().await;
        graceful.send_replace(true);
        graceful.closed().await;
    };
    let drained = match shared.drain_timeout() {
        None => {
            drain.await;
            true
        }
        Some(limit) => tokio::time::timeout(limit, drain).await.is_ok(),
    };
    if !drained {
        tracing::warn!(adapter = %shared.name, "http drain timeout passed; closing the connections still open");
        force_close.send_replace(true);
        force_close.closed().await;
    }
    tracing::info!(adapter = %shared.name, "http channel stopped");
    shared.stopped.send_replace(true);
}

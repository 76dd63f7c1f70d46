//! [`SwiftConnection`]: a bb8 pool of authenticated clients behind an `ArcSwap`, reconfigured
//! live, and its place in zato-core's outgoing-connection registry.

use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use bb8::{ManageConnection, Pool, PooledConnection, RunError};
use zato_core::{ConfigError, OutgoingConnections, ServiceError};

use crate::client::{Shared, SwiftClient};
use crate::config::SwiftConfig;
use crate::error::{SwiftError, SwiftErrorKind};

/// Hands out clients that share one token cache and one HTTP client. bb8 connects in a
/// background task and only logs its errors, so the session is authenticated by
/// [`SwiftConnection::client`] before the pool is asked: an authentication error reaches the
/// caller at once instead of turning into a pool timeout.
struct Manager {
    shared: Arc<Shared>,
    _alive: AliveGuard,
}

/// Counts the pools of a connection that still exist: the current one, plus old ones whose
/// checked-out clients have not all been returned. bb8 drops the manager, and so this guard,
/// when the last handle on its pool goes.
struct AliveGuard(Arc<AtomicU64>);

impl AliveGuard {
    fn new(counter: &Arc<AtomicU64>) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        AliveGuard(counter.clone())
    }
}

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl ManageConnection for Manager {
    type Connection = SwiftClient;
    type Error = SwiftError;

    async fn connect(&self) -> Result<SwiftClient, SwiftError> {
        Ok(SwiftClient {
            shared: self.shared.clone(),
        })
    }

    async fn is_valid(&self, _: &mut SwiftClient) -> Result<(), SwiftError> {
        Ok(())
    }

    fn has_broken(&self, _: &mut SwiftClient) -> bool {
        false
    }
}

/// One generation of the pool: built from one configuration.
struct Generation {
    pool: Pool<Manager>,
    shared: Arc<Shared>,
    config: Arc<SwiftConfig>,
    number: u64,
}

/// A named Swift outgoing connection: a pool of authenticated clients, reconfigurable while
/// requests flow.
///
/// # Examples
///
/// ```no_run
/// use zato_swift::{PutOptions, SwiftConfig, SwiftConnection};
///
/// # async fn run() -> Result<(), zato_swift::SwiftError> {
/// let conn = SwiftConnection::new(SwiftConfig::v1(
///     "Invoice Dispatcher",
///     "http://127.0.0.1:8080/auth/v1.0",
///     "test:tester",
///     "testing",
/// ))?;
/// let client = conn.client().await?;
/// client.put_object("CRM", "123.json", &b"{}"[..], &PutOptions::default()).await?;
/// # Ok(()) }
/// ```
pub struct SwiftConnection {
    current: ArcSwap<Generation>,
    /// Serializes [`reconfigure`](SwiftConnection::reconfigure), so the generation in force is
    /// always the newest one; readers never take it.
    reconfiguring: Mutex<()>,
    alive: Arc<AtomicU64>,
    waits: AtomicU64,
    checkout_timeouts: AtomicU64,
}

impl fmt::Debug for SwiftConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = self.current.load();
        f.debug_struct("SwiftConnection")
            .field("config", &g.config)
            .field("stats", &self.stats())
            .finish()
    }
}

/// A client checked out of the pool; it goes back when dropped. Derefs to [`SwiftClient`].
pub struct PooledSwiftClient {
    inner: PooledConnection<'static, Manager>,
}

impl fmt::Debug for PooledSwiftClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.inner, f)
    }
}

impl Deref for PooledSwiftClient {
    type Target = SwiftClient;

    fn deref(&self) -> &SwiftClient {
        &self.inner
    }
}

/// A snapshot of a connection's pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// The configured maximum.
    pub max_size: u32,
    /// Clients that exist now.
    pub size: u32,
    /// Clients waiting in the pool.
    pub idle: u32,
    /// Clients checked out.
    pub in_use: u32,
    /// How many times the connection was configured (1 for a new one).
    pub generation: u64,
    /// Pools that still exist: 1, plus old pools still draining after a reconfiguration.
    pub pools_alive: u64,
    /// Checkouts that found no idle client and had to wait, since the connection was made.
    pub waits: u64,
    /// Checkouts that waited `pool_wait` in vain, since the connection was made.
    pub checkout_timeouts: u64,
}

fn build(
    config: SwiftConfig,
    number: u64,
    alive: &Arc<AtomicU64>,
) -> Result<Generation, SwiftError> {
    let shared = Arc::new(Shared::new(config)?);
    let config = shared.config.clone();
    let pool = Pool::builder()
        .max_size(config.pool_size)
        .min_idle(Some(0))
        .connection_timeout(config.pool_wait())
        .retry_connection(false)
        .test_on_check_out(false)
        // Pooled clients are handles on a shared session; they never go stale, so no reaper
        // task is needed, and a connection can be built outside a tokio runtime.
        .idle_timeout(None)
        .max_lifetime(None)
        .build_unchecked(Manager {
            shared: shared.clone(),
            _alive: AliveGuard::new(alive),
        });
    Ok(Generation {
        pool,
        shared,
        config,
        number,
    })
}

impl SwiftConnection {
    /// A connection for `config`. Nothing is sent until the first [`client`](Self::client).
    ///
    /// # Errors
    ///
    /// [`SwiftErrorKind::Config`] listing every problem of the configuration.
    pub fn new(config: SwiftConfig) -> Result<Self, SwiftError> {
        let alive = Arc::new(AtomicU64::new(0));
        Ok(SwiftConnection {
            current: ArcSwap::from_pointee(build(config, 1, &alive)?),
            reconfiguring: Mutex::new(()),
            alive,
            waits: AtomicU64::new(0),
            checkout_timeouts: AtomicU64::new(0),
        })
    }

    /// The connection's name.
    pub fn name(&self) -> String {
        self.current.load().config.name.clone()
    }

    /// The current configuration, with `custom_options` folded into the fields they name.
    pub fn config(&self) -> Arc<SwiftConfig> {
        self.current.load().config.clone()
    }

    /// Checks a client out of the pool, waiting up to `pool_wait` for a free one. The first
    /// checkout of a pool authenticates.
    ///
    /// # Errors
    ///
    /// [`SwiftErrorKind::Inactive`] when the connection is not active,
    /// [`SwiftErrorKind::PoolExhausted`] when no client became free in time, or the authentication
    /// error.
    pub async fn client(&self) -> Result<PooledSwiftClient, SwiftError> {
        let g = self.current.load_full();
        self.checkout(&g)
            .await
            .map_err(|e| e.with_connection(&g.shared.name))
    }

    async fn checkout(&self, g: &Generation) -> Result<PooledSwiftClient, SwiftError> {
        if !g.config.is_active {
            return Err(SwiftErrorKind::Inactive.into());
        }
        // Lock-free when a valid token is cached.
        g.shared.auth.session().await?;
        let state = g.pool.state();
        if state.idle_connections == 0 && state.connections >= g.config.pool_size {
            self.waits.fetch_add(1, Ordering::Relaxed);
        }
        match g.pool.get_owned().await {
            Ok(inner) => Ok(PooledSwiftClient { inner }),
            Err(RunError::User(e)) => Err(e),
            Err(RunError::TimedOut) => Err({
                self.checkout_timeouts.fetch_add(1, Ordering::Relaxed);
                SwiftErrorKind::PoolExhausted {
                    waited: g.config.pool_wait(),
                    pool_size: g.config.pool_size,
                }
                .into()
            }),
        }
    }

    /// Replaces the configuration while requests flow: the new pool is built first and swapped
    /// in atomically; clients already checked out finish their work on the old pool, which is
    /// dropped when the last of them is returned. Concurrent calls take effect one after the
    /// other, each as a new generation, so the last one to return is in force.
    ///
    /// The name cannot change: the connection is registered under it in zato-core's
    /// [`OutgoingConnections`]. To rename, register a new connection and remove the old one.
    ///
    /// # Errors
    ///
    /// [`SwiftErrorKind::Config`] when the configuration is invalid or renames the connection; the
    /// old configuration then stays in force.
    pub fn reconfigure(&self, config: SwiftConfig) -> Result<(), SwiftError> {
        // A panic while building leaves nothing half-done behind the lock: carry on.
        let _serial = self
            .reconfiguring
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let current = self.current.load_full();
        if config.name != current.config.name {
            return Err(ConfigError::one(
                "name",
                format!(
                    "cannot rename connection `{}` to `{}` by reconfiguring it: it is \
                     registered under its name; add a new connection instead",
                    current.config.name, config.name
                ),
            )
            .within(&current.config.path())
            .into());
        }
        let number = current.number + 1;
        let next = build(config, number, &self.alive)?;
        tracing::info!(connection = %next.config.name, generation = number, "swift connection reconfigured");
        self.current.store(Arc::new(next));
        Ok(())
    }

    /// The pool's current size and use.
    pub fn stats(&self) -> PoolStats {
        let g = self.current.load();
        let s = g.pool.state();
        PoolStats {
            max_size: g.config.pool_size,
            size: s.connections,
            idle: s.idle_connections,
            in_use: s.connections.saturating_sub(s.idle_connections),
            generation: g.number,
            pools_alive: self.alive.load(Ordering::SeqCst),
            waits: self.waits.load(Ordering::Relaxed),
            checkout_timeouts: self.checkout_timeouts.load(Ordering::Relaxed),
        }
    }
}

/// Reaches Swift connections of zato-core's outgoing-connection registry by name.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use zato_core::OutgoingConnections;
/// use zato_swift::{SwiftConfig, SwiftConnection, SwiftOutgoing};
///
/// let conns = OutgoingConnections::new();
/// let config = SwiftConfig::v1("Invoice Dispatcher", "http://127.0.0.1:1/auth/v1.0", "u", "k");
/// conns.add_swift(SwiftConnection::new(config).unwrap());
/// assert!(conns.swift("Invoice Dispatcher").is_ok());
/// assert_eq!(conns.swift("Other").unwrap_err().status().as_u16(), 503);
/// ```
pub trait SwiftOutgoing {
    /// The Swift connection named `name`.
    ///
    /// # Errors
    ///
    /// A 503 [`ServiceError`] naming the connection when none is defined.
    fn swift(&self, name: &str) -> Result<Arc<SwiftConnection>, ServiceError>;

    /// Registers `conn` under its configured name, replacing any Swift connection of that name.
    fn add_swift(&self, conn: SwiftConnection) -> Arc<SwiftConnection>;
}

impl SwiftOutgoing for OutgoingConnections {
    fn swift(&self, name: &str) -> Result<Arc<SwiftConnection>, ServiceError> {
        self.require::<SwiftConnection>(name)
    }

    fn add_swift(&self, conn: SwiftConnection) -> Arc<SwiftConnection> {
        let conn = Arc::new(conn);
        self.insert(conn.name(), conn.clone());
        conn
    }
}

//! [`RedisConnection`]: one Redis server behind a reconnecting, multiplexed connection with a
//! bounded number of commands in flight, reconfigured live, and its place in zato-core's
//! outgoing-connection registry.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{OnceCell, watch};
use zato_core::{ConfigError, OutgoingConnections, OutgoingError, OutgoingErrorKind, ServiceError};

use crate::config::RedisConfig;
use crate::memory::RedisMemory;

/// How a Redis command failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisErrorKind {
    /// The connection is inactive.
    Inactive,
    /// The server could not be reached, or the connection was lost.
    Unreachable,
    /// The server did not answer in time.
    Timeout,
    /// The server answered with an error (`WRONGTYPE`, `NOAUTH`, an unknown command, …).
    Server,
    /// The answer was not of the type asked for.
    Type,
    /// The call was wrong before anything was sent (a TTL of zero).
    Argument,
}

/// A failure of a Redis outgoing connection, naming it. Holds no secret.
#[derive(Debug, thiserror::Error)]
#[error("redis connection `{connection}`: {message}")]
pub struct RedisError {
    connection: String,
    kind: RedisErrorKind,
    message: String,
    #[source]
    source: Option<redis::RedisError>,
}

impl RedisError {
    pub(crate) fn new(connection: &str, kind: RedisErrorKind, message: impl Into<String>) -> Self {
        RedisError {
            connection: connection.to_owned(),
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn from_redis(connection: &str, e: redis::RedisError) -> Self {
        let kind = if e.is_timeout() {
            RedisErrorKind::Timeout
        } else if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
            RedisErrorKind::Unreachable
        } else if e.kind() == redis::ErrorKind::Parse {
            RedisErrorKind::Type
        } else {
            RedisErrorKind::Server
        };
        RedisError {
            connection: connection.to_owned(),
            kind,
            message: e.to_string(),
            source: Some(e),
        }
    }

    /// How it failed.
    pub fn kind(&self) -> RedisErrorKind {
        self.kind
    }

    /// The connection's name.
    pub fn connection(&self) -> &str {
        &self.connection
    }
}

impl From<RedisError> for ServiceError {
    fn from(e: RedisError) -> Self {
        let kind = match e.kind {
            RedisErrorKind::Inactive | RedisErrorKind::Unreachable => {
                OutgoingErrorKind::Unavailable
            }
            RedisErrorKind::Timeout => OutgoingErrorKind::Timeout,
            RedisErrorKind::Server | RedisErrorKind::Type | RedisErrorKind::Argument => {
                OutgoingErrorKind::BadGateway
            }
        };
        let outgoing = OutgoingError::new(e.connection.clone(), kind, e.message.clone());
        ServiceError::Outgoing(outgoing.with_source(e))
    }
}

/// One generation of the connection: built from one configuration.
struct Generation {
    config: Arc<RedisConfig>,
    client: redis::Client,
    manager: OnceCell<ConnectionManager>,
    number: u64,
}

fn build(config: RedisConfig, number: u64) -> Result<Generation, ConfigError> {
    ConfigError::check(config.problems())?;
    let client = redis::Client::open(config.full_url()?)
        .map_err(|e| ConfigError::one("url", format!("refused by the client: {e}")))?;
    Ok(Generation {
        config: Arc::new(config),
        client,
        manager: OnceCell::new(),
        number,
    })
}

/// A snapshot of what a connection did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisStats {
    /// How many times the connection was configured (1 for a new one).
    pub generation: u64,
    /// Commands sent.
    pub commands: u64,
    /// Commands that failed.
    pub errors: u64,
}

/// A named Redis outgoing connection: a key-value store and cache, and raw commands.
///
/// It holds one multiplexed connection that reconnects by itself; at most `max_in_flight`
/// commands are in flight at once, and each waits at most `connect_timeout` plus
/// `response_timeout`. Nothing is sent until the first command.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use zato_redis::{RedisConfig, RedisConnection};
///
/// # async fn run() -> Result<(), zato_redis::RedisError> {
/// let cache = RedisConnection::new(RedisConfig::new("cache", "redis://127.0.0.1:6379/0"))
///     .expect("a valid configuration");
/// cache.set("invoice:1", "sent", Some(Duration::from_secs(60))).await?;
/// assert_eq!(cache.get_string("invoice:1").await?.as_deref(), Some("sent"));
/// assert_eq!(cache.incr("invoices", 1).await?, 1);
/// let n: i64 = cache.command(redis::cmd("HSET").arg("h").arg("f").arg("v")).await?;
/// assert!(cache.delete("invoice:1").await?);
/// # Ok(()) }
/// ```
pub struct RedisConnection {
    current: ArcSwap<Generation>,
    reconfiguring: Mutex<()>,
    changes: watch::Sender<u64>,
    commands: AtomicU64,
    errors: AtomicU64,
    /// Set on a test double: commands run on this keyspace, and no server is involved.
    memory: Option<Arc<RedisMemory>>,
}

impl fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConnection")
            .field("config", &self.current.load().config)
            .field("stats", &self.stats())
            .finish()
    }
}

impl RedisConnection {
    /// A connection for `config`. Nothing is sent until the first command.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] listing the configuration's problems.
    pub fn new(config: RedisConfig) -> Result<Self, ConfigError> {
        Ok(RedisConnection {
            current: ArcSwap::from_pointee(build(config, 1)?),
            reconfiguring: Mutex::new(()),
            changes: watch::channel(1).0,
            commands: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            memory: None,
        })
    }

    /// A test double named `name`: it connects to no server, and runs the commands a service
    /// sends through it on the keyspace in memory returned beside it ([`RedisMemory`], which
    /// can also make commands fail). Register it as any connection
    /// ([`RedisOutgoing::add_redis`]), under the name the service uses.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use zato_redis::{RedisConnection, RedisErrorKind};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (cache, memory) = RedisConnection::in_memory("Cache");
    /// cache.set("invoice:1", "sent", Some(Duration::from_secs(60))).await.unwrap();
    /// assert_eq!(cache.incr("invoices", 2).await.unwrap(), 2);
    /// assert_eq!(memory.value("invoice:1").as_deref(), Some(&b"sent"[..]));
    /// assert_eq!(memory.keys(), ["invoice:1", "invoices"]);
    ///
    /// memory.fail(RedisErrorKind::Unreachable, "the server is down");
    /// let err = cache.get("invoice:1").await.unwrap_err();
    /// assert_eq!(err.to_string(), "redis connection `Cache`: the server is down");
    /// # });
    /// ```
    #[expect(
        clippy::expect_used,
        reason = "a fixed address and a name: the configuration cannot be refused"
    )]
    pub fn in_memory(name: &str) -> (RedisConnection, Arc<RedisMemory>) {
        let memory = Arc::new(RedisMemory::default());
        let config = RedisConfig::new(name, "redis://127.0.0.1:6379/0");
        let conn = RedisConnection {
            current: ArcSwap::from_pointee(
                build(config, 1).expect("the double's configuration is valid"),
            ),
            reconfiguring: Mutex::new(()),
            changes: watch::channel(1).0,
            commands: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            memory: Some(memory.clone()),
        };
        (conn, memory)
    }

    /// The connection's name.
    pub fn name(&self) -> String {
        self.current.load().config.name.clone()
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<RedisConfig> {
        self.current.load().config.clone()
    }

    /// A client for the configuration in force, to open connections of one's own (the
    /// channels' blocking reads).
    pub(crate) fn client(&self) -> redis::Client {
        self.current.load().client.clone()
    }

    /// Hears of each reconfiguration (the generation's number).
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Replaces the configuration while commands flow: commands already sent finish on the old
    /// connection; the channels using it reconnect with the new settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when the configuration is invalid or renames the connection; the old one
    /// stays in force.
    pub fn reconfigure(&self, config: RedisConfig) -> Result<(), ConfigError> {
        let _serial = self
            .reconfiguring
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let current = self.current.load_full();
        if config.name != current.config.name {
            return Err(ConfigError::one(
                "name",
                "cannot rename a connection by reconfiguring it; add a new one instead",
            ));
        }
        let next = build(config, current.number + 1)?;
        let number = next.number;
        self.current.store(Arc::new(next));
        self.changes.send_replace(number);
        tracing::info!(connection = %current.config.name, generation = number, "redis connection reconfigured");
        Ok(())
    }

    /// What the connection did.
    pub fn stats(&self) -> RedisStats {
        RedisStats {
            generation: self.current.load().number,
            commands: self.commands.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }

    /// Runs one command and reads its answer as `T`.
    ///
    /// # Errors
    ///
    /// A [`RedisError`]: inactive, unreachable, timed out, refused by the server, or an answer
    /// of another type.
    pub async fn command<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
    ) -> Result<T, RedisError> {
        let g = self.current.load_full();
        let name = &g.config.name;
        if !g.config.is_active {
            return Err(RedisError::new(
                name,
                RedisErrorKind::Inactive,
                "the connection is not active",
            ));
        }
        self.commands.fetch_add(1, Ordering::Relaxed);
        if let Some(memory) = &self.memory {
            let result = memory.run(name, cmd).and_then(|value| {
                redis::from_redis_value(value)
                    .map_err(|e| RedisError::new(name, RedisErrorKind::Type, e.to_string()))
            });
            if result.is_err() {
                self.errors.fetch_add(1, Ordering::Relaxed);
            }
            return result;
        }
        let limit = g.config.connect_timeout() + g.config.response_timeout();
        let run = async {
            let mut manager = g
                .manager
                .get_or_try_init(|| async {
                    let config = ConnectionManagerConfig::new()
                        .set_connection_timeout(Some(g.config.connect_timeout()))
                        .set_response_timeout(Some(g.config.response_timeout()))
                        .set_number_of_retries(2)
                        .set_max_delay(Duration::from_secs(1))
                        .set_concurrency_limit(
                            usize::try_from(g.config.max_in_flight).unwrap_or(usize::MAX),
                        );
                    ConnectionManager::new_lazy_with_config(g.client.clone(), config)
                })
                .await
                .map_err(|e| RedisError::from_redis(name, e))?
                .clone();
            cmd.query_async::<T>(&mut manager)
                .await
                .map_err(|e| RedisError::from_redis(name, e))
        };
        let result = match tokio::time::timeout(limit, run).await {
            Ok(result) => result,
            Err(_) => Err(RedisError::new(
                name,
                RedisErrorKind::Timeout,
                format!("no answer within {limit:?}"),
            )),
        };
        if result.is_err() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// The value of `key`, or `None` when it has none.
    ///
    /// # Errors
    ///
    /// As [`command`](Self::command).
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, RedisError> {
        self.command(redis::cmd("GET").arg(key)).await
    }

    /// The value of `key` as text, or `None` when it has none.
    ///
    /// # Errors
    ///
    /// As [`command`](Self::command); [`RedisErrorKind::Type`] when the value is not UTF-8.
    pub async fn get_string(&self, key: &str) -> Result<Option<String>, RedisError> {
        match self.get(key).await? {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| {
                RedisError::new(
                    &self.name(),
                    RedisErrorKind::Type,
                    "the value is not UTF-8 text",
                )
            }),
        }
    }

    /// Sets `key` to `value`, expiring after `ttl` when given (millisecond precision).
    ///
    /// # Errors
    ///
    /// As [`command`](Self::command); [`RedisErrorKind::Argument`] for a TTL under a
    /// millisecond.
    pub async fn set(
        &self,
        key: &str,
        value: impl AsRef<[u8]>,
        ttl: Option<Duration>,
    ) -> Result<(), RedisError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value.as_ref());
        if let Some(ttl) = ttl {
            let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
            if ms == 0 {
                return Err(RedisError::new(
                    &self.name(),
                    RedisErrorKind::Argument,
                    "a TTL must be at least a millisecond",
                ));
            }
            cmd.arg("PX").arg(ms);
        }
        self.command::<()>(&cmd).await
    }

    /// Deletes `key`; whether it existed.
    ///
    /// # Errors
    ///
    /// As [`command`](Self::command).
    pub async fn delete(&self, key: &str) -> Result<bool, RedisError> {
        let n: u64 = self.command(redis::cmd("DEL").arg(key)).await?;
        Ok(n > 0)
    }

    /// Adds `by` to the integer at `key` atomically (a missing key counts as 0); the new value.
    ///
    /// # Errors
    ///
    /// As [`command`](Self::command); [`RedisErrorKind::Server`] when the value is not an
    /// integer.
    pub async fn incr(&self, key: &str, by: i64) -> Result<i64, RedisError> {
        self.command(redis::cmd("INCRBY").arg(key).arg(by)).await
    }

    /// The time left before `key` expires: `None` when it has no TTL or does not exist.
    ///
    /// # Errors
    ///
    /// As [`command`](Self::command).
    pub async fn ttl(&self, key: &str) -> Result<Option<Duration>, RedisError> {
        let ms: i64 = self.command(redis::cmd("PTTL").arg(key)).await?;
        Ok(u64::try_from(ms).ok().map(Duration::from_millis))
    }

    /// Sends `PING`; how long the answer took.
    ///
    /// # Errors
    ///
    /// As [`command`](Self::command).
    pub async fn ping(&self) -> Result<Duration, RedisError> {
        let started = Instant::now();
        let _: String = self.command(&redis::cmd("PING")).await?;
        Ok(started.elapsed())
    }
}

/// Reaches Redis connections of zato-core's outgoing-connection registry by name:
/// `ctx.outgoing().redis("cache")?`.
///
/// # Examples
///
/// ```
/// use zato_core::OutgoingConnections;
/// use zato_redis::{RedisConfig, RedisConnection, RedisOutgoing};
///
/// let conns = OutgoingConnections::new();
/// conns.add_redis(RedisConnection::new(RedisConfig::new("cache", "redis://127.0.0.1")).unwrap());
/// assert!(conns.redis("cache").is_ok());
/// assert_eq!(conns.redis("other").unwrap_err().status().as_u16(), 503);
/// ```
pub trait RedisOutgoing {
    /// The Redis connection named `name`.
    ///
    /// # Errors
    ///
    /// A 503 [`ServiceError`] naming the connection when none is defined.
    fn redis(&self, name: &str) -> Result<Arc<RedisConnection>, ServiceError>;

    /// Registers `conn` under its configured name, replacing any Redis connection of that name.
    fn add_redis(&self, conn: RedisConnection) -> Arc<RedisConnection>;
}

impl RedisOutgoing for OutgoingConnections {
    fn redis(&self, name: &str) -> Result<Arc<RedisConnection>, ServiceError> {
        self.require::<RedisConnection>(name)
    }

    fn add_redis(&self, conn: RedisConnection) -> Arc<RedisConnection> {
        let conn = Arc::new(conn);
        self.insert(conn.name(), conn.clone());
        conn
    }
}

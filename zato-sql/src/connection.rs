//! [`SqlConnection`]: a sqlx pool behind an `ArcSwap`, reconfigured live, and the pool of
//! each engine ([`SqlPool`]).

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use sqlx::Executor;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlSslMode};
use sqlx::pool::PoolOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgSslMode};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool};
use zato_core::metrics::Histogram;

use crate::config::{Engine, SqlConfig, TlsMode};
use crate::error::{SqlError, SqlErrorKind};
use crate::handle::SqlHandle;

/// A pool of one engine: the sqlx pool itself, on which plain sqlx queries run.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SqlPool {
    /// A PostgreSQL pool.
    Postgres(PgPool),
    /// A MySQL or MariaDB pool.
    MySql(MySqlPool),
    /// A SQLite pool.
    Sqlite(SqlitePool),
}

impl SqlPool {
    /// The engine of the pool.
    pub fn engine(&self) -> Engine {
        match self {
            SqlPool::Postgres(_) => Engine::Postgresql,
            SqlPool::MySql(_) => Engine::Mysql,
            SqlPool::Sqlite(_) => Engine::Sqlite,
        }
    }

    pub(crate) fn size(&self) -> u32 {
        match self {
            SqlPool::Postgres(p) => p.size(),
            SqlPool::MySql(p) => p.size(),
            SqlPool::Sqlite(p) => p.size(),
        }
    }

    pub(crate) fn idle(&self) -> u32 {
        let n = match self {
            SqlPool::Postgres(p) => p.num_idle(),
            SqlPool::MySql(p) => p.num_idle(),
            SqlPool::Sqlite(p) => p.num_idle(),
        };
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    async fn close(&self) {
        match self {
            SqlPool::Postgres(p) => p.close().await,
            SqlPool::MySql(p) => p.close().await,
            SqlPool::Sqlite(p) => p.close().await,
        }
    }
}

/// One generation of the pool: built from one configuration.
#[derive(Debug)]
pub(crate) struct Generation {
    pub(crate) pool: SqlPool,
    pub(crate) config: Arc<SqlConfig>,
    pub(crate) number: u64,
}

/// The counters of a connection, kept across generations.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) waits: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) queries: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) query_nanos: AtomicU64,
}

pub(crate) struct Inner {
    pub(crate) name: String,
    pub(crate) current: ArcSwap<Generation>,
    /// Serializes reconfigurations, so the generation in force is the newest; readers never
    /// take it.
    reconfiguring: Mutex<()>,
    pub(crate) counters: Counters,
    pub(crate) latency: Option<Histogram>,
}

/// A named outgoing SQL connection: a bounded sqlx pool, reconfigured while queries run.
///
/// A [`reconfigure`](Self::reconfigure) builds the new pool and swaps it in; queries already
/// under way finish on the old pool, which is closed once every handle taken from it has had
/// its time (its `pool_wait` and `statement_timeout`). A pool connects lazily: building checks
/// the configuration, [`ping`](Self::ping) the server.
///
/// # Examples
///
/// ```
/// use zato_sql::{SqlConfig, SqlConnection};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), zato_sql::SqlError> {
/// let conn = SqlConnection::new(SqlConfig::sqlite("Log", ":memory:"))?;
/// let db = conn.handle()?;
/// db.execute("CREATE TABLE t (id INTEGER, what TEXT)", &[]).await?;
/// db.execute("INSERT INTO t VALUES (?, ?)", &[1.into(), "hello".into()]).await?;
///
/// #[derive(serde::Deserialize)]
/// struct T { id: i64, what: String }
/// let rows: Vec<T> = db.fetch_all("SELECT id, what FROM t", &[]).await?;
/// assert_eq!((rows[0].id, rows[0].what.as_str()), (1, "hello"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqlConnection {
    inner: Arc<Inner>,
}

impl fmt::Debug for SqlConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlConnection")
            .field("config", &self.inner.current.load().config)
            .field("stats", &self.stats())
            .finish()
    }
}

/// A snapshot of a connection's pool and what went through it.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct SqlPoolStats {
    /// The configured maximum.
    pub max_size: u32,
    /// Connections open now.
    pub size: u32,
    /// Connections idle in the pool.
    pub idle: u32,
    /// Connections checked out.
    pub in_use: u32,
    /// How many times the connection was configured (1 for a new one).
    pub generation: u64,
    /// Queries of the typed helpers that found no idle connection and waited.
    pub waits: u64,
    /// Waits for a connection that ran out (503s).
    pub timeouts: u64,
    /// Statements run by the typed helpers.
    pub queries: u64,
    /// Those of them that failed.
    pub errors: u64,
    /// Their time, added up, in seconds.
    pub query_seconds: f64,
}

fn tls_pg(mode: TlsMode) -> PgSslMode {
    match mode {
        TlsMode::Disable => PgSslMode::Disable,
        TlsMode::Prefer => PgSslMode::Prefer,
        TlsMode::Require => PgSslMode::Require,
        TlsMode::VerifyCa => PgSslMode::VerifyCa,
        TlsMode::VerifyFull => PgSslMode::VerifyFull,
    }
}

fn tls_mysql(mode: TlsMode) -> MySqlSslMode {
    match mode {
        TlsMode::Disable => MySqlSslMode::Disabled,
        TlsMode::Prefer => MySqlSslMode::Preferred,
        TlsMode::Require => MySqlSslMode::Required,
        TlsMode::VerifyCa => MySqlSslMode::VerifyCa,
        TlsMode::VerifyFull => MySqlSslMode::VerifyIdentity,
    }
}

fn options<DB: sqlx::Database>(config: &SqlConfig) -> PoolOptions<DB> {
    PoolOptions::<DB>::new()
        .max_connections(config.pool_size)
        .min_connections(0)
        .acquire_timeout(config.pool_wait_duration())
        .idle_timeout(Some(Duration::from_secs(600)))
        .max_lifetime(Some(Duration::from_secs(1800)))
        // A broken connection fails its query, which is reported; a ping per checkout would
        // double the round trips of every query.
        .test_before_acquire(false)
}

/// Builds the pool of `config`, connecting lazily.
fn build_pool(config: &SqlConfig) -> Result<SqlPool, SqlError> {
    let fail = |m: String| SqlError::new(&config.name, SqlErrorKind::Unreachable, m);
    // The pool's reaper is a task of the runtime: without one sqlx would panic.
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(SqlError::new(
            &config.name,
            SqlErrorKind::Unavailable,
            "a SQL connection is built within a tokio runtime",
        ));
    }
    let password = config.password.as_ref().map(|p| p.expose().as_str());
    let timeout_ms = config.statement_timeout_duration().as_millis().max(1);
    Ok(match config.engine {
        Engine::Postgresql => {
            let mut o = PgConnectOptions::new_without_pgpass()
                .host(&config.host)
                .port(config.port_or_default())
                .username(&config.user)
                .ssl_mode(tls_pg(config.tls))
                .application_name("zato")
                .options([("statement_timeout", timeout_ms.to_string())]);
            if !config.database.is_empty() {
                o = o.database(&config.database);
            }
            if let Some(p) = password {
                o = o.password(p);
            }
            SqlPool::Postgres(options(config).connect_lazy_with(o))
        }
        Engine::Mysql => {
            let mut o = MySqlConnectOptions::new()
                .host(&config.host)
                .port(config.port_or_default())
                .username(&config.user)
                .ssl_mode(tls_mysql(config.tls));
            if !config.database.is_empty() {
                o = o.database(&config.database);
            }
            if let Some(p) = password {
                o = o.password(p);
            }
            let secs = timeout_ms as f64 / 1000.0;
            let pool = options::<sqlx::MySql>(config).after_connect(
                move |conn: &mut sqlx::MySqlConnection, _| {
                    Box::pin(async move {
                        // MariaDB's, in seconds; MySQL's (SELECTs only), in milliseconds.
                        let maria = format!("SET SESSION max_statement_time = {secs}");
                        if conn.execute(maria.as_str()).await.is_err() {
                            let mysql = format!("SET SESSION max_execution_time = {timeout_ms}");
                            conn.execute(mysql.as_str()).await?;
                        }
                        Ok(())
                    })
                },
            );
            SqlPool::MySql(pool.connect_lazy_with(o))
        }
        Engine::Sqlite => {
            let o = if config.database == ":memory:" {
                SqliteConnectOptions::from_str("sqlite::memory:")
                    .map_err(|e| fail(format!("cannot open SQLite in memory: {e}")))?
            } else {
                if let Some(dir) = Path::new(&config.database).parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        fail(format!(
                            "cannot create the directory of the SQLite file: {e}"
                        ))
                    })?;
                }
                SqliteConnectOptions::new()
                    .filename(&config.database)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
            };
            let o = o.busy_timeout(config.pool_wait_duration());
            SqlPool::Sqlite(options(config).connect_lazy_with(o))
        }
    })
}

/// Closes `pool` once the handles taken from it have had their time.
fn retire(pool: SqlPool, config: &SqlConfig) {
    let grace = (config.pool_wait_duration() + config.statement_timeout_duration())
        .min(Duration::from_secs(600))
        + Duration::from_secs(1);
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            tokio::time::sleep(grace).await;
            pool.close().await;
        });
    }
}

impl SqlConnection {
    /// A connection for `config`, checked. Nothing is sent until the first query. Call it
    /// within a tokio runtime.
    ///
    /// # Errors
    ///
    /// An [`SqlError`] when the configuration has problems, a SQLite file's directory cannot
    /// be made, or no tokio runtime is running.
    pub fn new(config: SqlConfig) -> Result<Self, SqlError> {
        Self::with_latency(config, None)
    }

    /// The same, recording each statement's time in `latency`.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_latency(config: SqlConfig, latency: Option<Histogram>) -> Result<Self, SqlError> {
        check(&config)?;
        let pool = build_pool(&config)?;
        Ok(SqlConnection {
            inner: Arc::new(Inner {
                name: config.name.clone(),
                current: ArcSwap::from_pointee(Generation {
                    pool,
                    config: Arc::new(config),
                    number: 1,
                }),
                reconfiguring: Mutex::new(()),
                counters: Counters::default(),
                latency,
            }),
        })
    }

    /// The connection's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<SqlConfig> {
        self.inner.current.load().config.clone()
    }

    /// A handle on the pool in force, for one piece of work: the queries made through it run
    /// on that pool even if the connection is reconfigured meanwhile.
    ///
    /// # Errors
    ///
    /// A 503 [`SqlError`] when the connection is inactive.
    pub fn handle(&self) -> Result<SqlHandle, SqlError> {
        let generation = self.inner.current.load_full();
        if !generation.config.is_active {
            return Err(SqlError::new(
                &self.inner.name,
                SqlErrorKind::Unavailable,
                "the connection is inactive",
            ));
        }
        Ok(SqlHandle::new(self.inner.clone(), generation))
    }

    /// Replaces the configuration while queries run: the new pool is built and swapped in;
    /// queries under way finish on the old one.
    ///
    /// # Errors
    ///
    /// An [`SqlError`] when the configuration has problems or renames the connection; the old
    /// one then stays in force.
    pub fn reconfigure(&self, config: SqlConfig) -> Result<(), SqlError> {
        let _serial = self
            .inner
            .reconfiguring
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if config.name != self.inner.name {
            return Err(SqlError::new(
                &self.inner.name,
                SqlErrorKind::Unavailable,
                format!(
                    "cannot rename the connection to `{}`: add a new one instead",
                    config.name
                ),
            ));
        }
        check(&config)?;
        let pool = build_pool(&config)?;
        let old = self.inner.current.load_full();
        let number = old.number + 1;
        self.inner.current.store(Arc::new(Generation {
            pool,
            config: Arc::new(config),
            number,
        }));
        tracing::info!(connection = %self.inner.name, generation = number, "sql connection reconfigured");
        retire(old.pool.clone(), &old.config);
        Ok(())
    }

    /// Closes the pool in force once the handles taken from it have had their time: what
    /// removing the connection does.
    pub fn retire(&self) {
        let g = self.inner.current.load();
        retire(g.pool.clone(), &g.config);
    }

    /// Runs `SELECT 1` on a pooled connection; how long it took.
    ///
    /// # Errors
    ///
    /// The [`SqlError`] of the query.
    pub async fn ping(&self) -> Result<Duration, SqlError> {
        let started = Instant::now();
        self.handle()?.execute("SELECT 1", &[]).await?;
        Ok(started.elapsed())
    }

    /// The pool's size and use, and what went through it.
    pub fn stats(&self) -> SqlPoolStats {
        let g = self.inner.current.load();
        let c = &self.inner.counters;
        let size = g.pool.size();
        let idle = g.pool.idle();
        SqlPoolStats {
            max_size: g.config.pool_size,
            size,
            idle,
            in_use: size.saturating_sub(idle),
            generation: g.number,
            waits: c.waits.load(Ordering::Relaxed),
            timeouts: c.timeouts.load(Ordering::Relaxed),
            queries: c.queries.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            query_seconds: c.query_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

fn check(config: &SqlConfig) -> Result<(), SqlError> {
    let problems = config.problems();
    if problems.is_empty() {
        return Ok(());
    }
    let text: Vec<String> = problems
        .iter()
        .map(|p| format!("{}: {}", p.path, p.message))
        .collect();
    Err(SqlError::new(
        &config.name,
        SqlErrorKind::Unavailable,
        format!("invalid configuration: {}", text.join("; ")),
    ))
}

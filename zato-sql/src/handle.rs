//! [`SqlHandle`], what a service queries through, and [`SqlOutgoing`], how it finds one by
//! name in zato-core's outgoing connections.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use sqlx::mysql::MySqlPool;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use zato_core::{OutgoingConnections, ServiceError};

use crate::config::Engine;
use crate::connection::{Generation, Inner, SqlConnection, SqlPool};
use crate::error::{SqlError, SqlErrorKind};
use crate::rows::{self, bind_json};

/// What a statement gives back.
enum Outcome {
    Rows(Vec<Map<String, Value>>),
    Affected(u64),
}

/// A service's handle on an outgoing SQL connection, from
/// [`ctx.outgoing().sql(name)`](SqlOutgoing::sql): the pool in force when it was taken.
///
/// Plain sqlx queries run on [`postgres`](Self::postgres), [`mysql`](Self::mysql) or
/// [`sqlite`](Self::sqlite), with [`error`](Self::error) to turn their errors into a typed
/// [`SqlError`]; the typed helpers ([`fetch_all`](Self::fetch_all), [`fetch_optional`](Self::fetch_optional),
/// [`execute`](Self::execute)) take `?`, `$1` parameters as JSON values, turn rows into any serde
/// type (a SimpleIO output struct included), and count in the connection's metrics.
#[derive(Clone)]
pub struct SqlHandle {
    inner: Arc<Inner>,
    generation: Arc<Generation>,
}

impl fmt::Debug for SqlHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlHandle")
            .field("connection", &self.inner.name)
            .field("engine", &self.generation.config.engine)
            .field("generation", &self.generation.number)
            .finish()
    }
}

impl SqlHandle {
    pub(crate) fn new(inner: Arc<Inner>, generation: Arc<Generation>) -> Self {
        SqlHandle { inner, generation }
    }

    /// The connection's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The engine.
    pub fn engine(&self) -> Engine {
        self.generation.pool.engine()
    }

    /// The database of the connection: a SQLite file's path.
    pub(crate) fn config_database(&self) -> String {
        self.generation.config.database.clone()
    }

    /// The sqlx pool, of whichever engine.
    pub fn pool(&self) -> &SqlPool {
        &self.generation.pool
    }

    fn wrong(&self, wanted: &str) -> SqlError {
        SqlError::new(
            &self.inner.name,
            SqlErrorKind::WrongEngine,
            format!("the connection is {}, not {wanted}", self.engine().as_str()),
        )
    }

    /// The PostgreSQL pool, for plain sqlx queries.
    ///
    /// # Errors
    ///
    /// A 500 [`SqlError`] when the connection is of another engine.
    pub fn postgres(&self) -> Result<&PgPool, SqlError> {
        match &self.generation.pool {
            SqlPool::Postgres(p) => Ok(p),
            _ => Err(self.wrong("postgresql")),
        }
    }

    /// The MySQL or MariaDB pool, for plain sqlx queries.
    ///
    /// # Errors
    ///
    /// A 500 [`SqlError`] when the connection is of another engine.
    pub fn mysql(&self) -> Result<&MySqlPool, SqlError> {
        match &self.generation.pool {
            SqlPool::MySql(p) => Ok(p),
            _ => Err(self.wrong("mysql")),
        }
    }

    /// The SQLite pool, for plain sqlx queries.
    ///
    /// # Errors
    ///
    /// A 500 [`SqlError`] when the connection is of another engine.
    pub fn sqlite(&self) -> Result<&SqlitePool, SqlError> {
        match &self.generation.pool {
            SqlPool::Sqlite(p) => Ok(p),
            _ => Err(self.wrong("sqlite")),
        }
    }

    /// An error of a plain sqlx query on this handle's pool, typed: a pool timeout is a 503,
    /// an unreachable server a 502, a statement timeout a 504; the password is never in it.
    pub fn error(&self, e: sqlx::Error) -> SqlError {
        let g = &self.generation;
        SqlError::from_sqlx(
            &self.inner.name,
            e,
            Some((
                g.pool.size(),
                g.config.pool_size,
                g.config.pool_wait_duration(),
            )),
            g.config.statement_timeout_duration(),
            g.config.password.as_ref().map(|p| p.expose().as_str()),
        )
    }

    /// Runs `sql` with `params` and turns each row into a `T` by its column names.
    ///
    /// # Errors
    ///
    /// A typed [`SqlError`]: 503, 502, 504, or 500 when a row does not fit `T`.
    pub async fn fetch_all<T: DeserializeOwned>(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<T>, SqlError> {
        self.fetch_json(sql, params)
            .await?
            .into_iter()
            .map(|row| self.typed(row))
            .collect()
    }

    /// Runs `sql` with `params` and turns its first row, if any, into a `T`.
    ///
    /// # Errors
    ///
    /// As [`fetch_all`](Self::fetch_all).
    pub async fn fetch_optional<T: DeserializeOwned>(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<Option<T>, SqlError> {
        self.fetch_json(sql, params)
            .await?
            .into_iter()
            .next()
            .map(|row| self.typed(row))
            .transpose()
    }

    /// Runs `sql` with `params`; each row as a JSON object by column name.
    ///
    /// # Errors
    ///
    /// As [`fetch_all`](Self::fetch_all).
    pub async fn fetch_json(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<Map<String, Value>>, SqlError> {
        match self.run(sql, params, true).await? {
            Outcome::Rows(rows) => Ok(rows),
            Outcome::Affected(_) => Ok(Vec::new()),
        }
    }

    /// Runs `sql` with `params`; how many rows it changed.
    ///
    /// # Errors
    ///
    /// As [`fetch_all`](Self::fetch_all).
    pub async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        match self.run(sql, params, false).await? {
            Outcome::Affected(n) => Ok(n),
            Outcome::Rows(rows) => Ok(rows.len() as u64),
        }
    }

    fn typed<T: DeserializeOwned>(&self, row: Map<String, Value>) -> Result<T, SqlError> {
        serde_json::from_value(Value::Object(row)).map_err(|e| {
            SqlError::new(
                &self.inner.name,
                SqlErrorKind::Decode,
                format!("a row does not fit the type asked for: {e}"),
            )
        })
    }

    async fn run(&self, sql: &str, params: &[Value], rows: bool) -> Result<Outcome, SqlError> {
        let c = &self.inner.counters;
        let started = Instant::now();
        let limit = self.generation.config.statement_timeout_duration() + Duration::from_secs(1);
        let result = match tokio::time::timeout(limit, self.run_on(sql, params, rows)).await {
            Ok(r) => r,
            Err(_) => Err(SqlError::new(
                &self.inner.name,
                SqlErrorKind::StatementTimeout {
                    after: self.generation.config.statement_timeout_duration(),
                },
                format!(
                    "the statement ran past its timeout of {:.3}s",
                    self.generation.config.statement_timeout
                ),
            )),
        };
        let elapsed = started.elapsed();
        c.queries.fetch_add(1, Ordering::Relaxed);
        c.query_nanos.fetch_add(
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        if let Some(h) = &self.inner.latency {
            h.observe(elapsed.as_secs_f64());
        }
        if let Err(e) = &result {
            c.errors.fetch_add(1, Ordering::Relaxed);
            if matches!(e.kind(), SqlErrorKind::PoolTimeout { .. }) {
                c.timeouts.fetch_add(1, Ordering::Relaxed);
            }
        }
        result
    }

    async fn run_on(&self, sql: &str, params: &[Value], rows: bool) -> Result<Outcome, SqlError> {
        match self.run_in(&self.generation, sql, params, rows).await {
            // The handle outlived its pool's grace after a reconfiguration: the pool in force
            // takes the query.
            Err(e) if matches!(e.kind(), SqlErrorKind::Unavailable) => {
                let now = self.inner.current.load_full();
                if now.number == self.generation.number {
                    return Err(e);
                }
                self.run_in(&now, sql, params, rows).await
            }
            other => other,
        }
    }

    async fn run_in(
        &self,
        g: &Generation,
        sql: &str,
        params: &[Value],
        rows: bool,
    ) -> Result<Outcome, SqlError> {
        let err = |e: sqlx::Error| {
            SqlError::from_sqlx(
                &self.inner.name,
                e,
                Some((
                    g.pool.size(),
                    g.config.pool_size,
                    g.config.pool_wait_duration(),
                )),
                g.config.statement_timeout_duration(),
                g.config.password.as_ref().map(|p| p.expose().as_str()),
            )
        };
        if g.pool.idle() == 0 && g.pool.size() >= g.config.pool_size {
            self.inner.counters.waits.fetch_add(1, Ordering::Relaxed);
        }
        macro_rules! go {
            ($pool:expr, $to_json:path) => {{
                let mut conn = $pool.acquire().await.map_err(err)?;
                let q = bind_json!(sqlx::query(sql), params);
                if rows {
                    let found = q.fetch_all(&mut *conn).await.map_err(err)?;
                    let mut out = Vec::with_capacity(found.len());
                    for row in &found {
                        out.push($to_json(row).map_err(err)?);
                    }
                    Ok(Outcome::Rows(out))
                } else {
                    let done = q.execute(&mut *conn).await.map_err(err)?;
                    Ok(Outcome::Affected(done.rows_affected()))
                }
            }};
        }
        match &g.pool {
            SqlPool::Postgres(p) => go!(p, rows::pg_row),
            SqlPool::MySql(p) => go!(p, rows::mysql_row),
            SqlPool::Sqlite(p) => go!(p, rows::sqlite_row),
        }
    }
}

/// Reaches SQL connections of zato-core's outgoing-connection registry by name:
/// `ctx.outgoing().sql("Billing DB")?`.
///
/// # Examples
///
/// ```
/// use zato_core::OutgoingConnections;
/// use zato_sql::{SqlConfig, SqlConnection, SqlOutgoing};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let conns = OutgoingConnections::new();
/// conns.add_sql(SqlConnection::new(SqlConfig::sqlite("Billing DB", ":memory:")).unwrap());
/// assert!(conns.sql("Billing DB").is_ok());
/// assert_eq!(conns.sql("Other").unwrap_err().status().as_u16(), 503);
/// # }
/// ```
pub trait SqlOutgoing {
    /// A handle on the SQL connection named `name`.
    ///
    /// # Errors
    ///
    /// A 503 [`ServiceError`] naming the connection when none is defined or it is inactive.
    fn sql(&self, name: &str) -> Result<SqlHandle, ServiceError>;

    /// Registers `conn` under its name, replacing any SQL connection of that name.
    fn add_sql(&self, conn: SqlConnection) -> Arc<SqlConnection>;
}

impl SqlOutgoing for OutgoingConnections {
    fn sql(&self, name: &str) -> Result<SqlHandle, ServiceError> {
        Ok(self.require::<SqlConnection>(name)?.handle()?)
    }

    fn add_sql(&self, conn: SqlConnection) -> Arc<SqlConnection> {
        let conn = Arc::new(conn);
        self.insert(conn.name().to_owned(), conn.clone());
        conn
    }
}

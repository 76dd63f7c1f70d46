//! One outbox channel's poller: takes a batch of ready rows in a transaction, invokes the
//! service for each, writes their outcomes and commits.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Map, Value};
use tokio::sync::{Notify, watch};
use zato_core::{ChannelInfo, Cid, DataFormat, Platform, RawRequest, ServiceError};

use super::adapter::OutboxCounters;
use super::config::{OnSuccess, SQL_OUTBOX_KIND, SqlOutboxConfig};
use crate::rows::{self, bind_json};
use crate::{Engine, SqlConnection, SqlError, SqlHandle, SqlPool};

/// The longest `last_error` written, in characters.
const MAX_ERROR_CHARS: usize = 2000;

/// What became of one row.
enum RowOutcome {
    Done,
    Retry {
        attempts: u32,
        error: String,
        at_ms: i64,
    },
    Failed {
        attempts: u32,
        error: String,
    },
}

/// One lock per SQLite table of this process: SQLite has no row locks, so its rows are taken
/// by one poller at a time.
static SQLITE_TABLES: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Mutex::default);

fn sqlite_lock(database: &str, table: &str) -> Arc<tokio::sync::Mutex<()>> {
    SQLITE_TABLES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(format!("{database}\0{table}"))
        .or_default()
        .clone()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Polls until `stop` turns true; the batch under way finishes first.
pub(crate) async fn run(
    platform: Platform,
    config: Arc<SqlOutboxConfig>,
    stats: Arc<OutboxCounters>,
    mut stop: watch::Receiver<bool>,
) {
    stats.polling.store(true, Ordering::Relaxed);
    let info = Arc::new(ChannelInfo::new(
        config.name.as_str(),
        SQL_OUTBOX_KIND,
        DataFormat::Json,
    ));
    let wake = Arc::new(Notify::new());
    if let Some(channel) = config.listen.clone() {
        tokio::spawn(listen(
            platform.clone(),
            config.connection.clone(),
            channel,
            wake.clone(),
            stop.clone(),
            config.poll_every(),
        ));
    }
    while !*stop.borrow() {
        let worker = Worker {
            platform: &platform,
            config: &config,
            stats: &stats,
            info: &info,
        };
        let full = match worker.poll().await {
            Ok(taken) => {
                stats.polls.fetch_add(1, Ordering::Relaxed);
                taken >= config.batch_size as usize
            }
            Err(e) => {
                stats.poll_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(channel = %config.name, error = %e, "sql outbox poll failed");
                false
            }
        };
        if full {
            continue;
        }
        worker.count_pending().await;
        tokio::select! {
            () = tokio::time::sleep(config.poll_every()) => {}
            () = wake.notified() => {}
            _ = stop.changed() => {}
        }
    }
    stats.polling.store(false, Ordering::Relaxed);
}

/// Wakes the poller on each notification of `channel` (PostgreSQL only), reconnecting after a
/// failure, until `stop` turns true.
async fn listen(
    platform: Platform,
    connection: String,
    channel: String,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
    retry: Duration,
) {
    while !*stop.borrow() {
        let pool = platform
            .outgoing()
            .get::<SqlConnection>(&connection)
            .and_then(|c| c.handle().ok());
        let Some(SqlPool::Postgres(pool)) = pool.map(|h| h.pool().clone()) else {
            tracing::warn!(%connection, "sql outbox: listen is for PostgreSQL connections only");
            return;
        };
        let listening = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen(&channel).await?;
            loop {
                listener.recv().await?;
                wake.notify_one();
            }
            #[allow(unreachable_code, reason = "the loop ends by an error only")]
            Ok::<(), sqlx::Error>(())
        };
        tokio::select! {
            r = listening => {
                if let Err(e) = r {
                    tracing::debug!(%connection, error = %e, "sql outbox listener lost; polling meanwhile");
                }
            }
            _ = stop.changed() => return,
        }
        tokio::select! {
            () = tokio::time::sleep(retry) => {}
            _ = stop.changed() => return,
        }
    }
}

struct Worker<'a> {
    platform: &'a Platform,
    config: &'a SqlOutboxConfig,
    stats: &'a OutboxCounters,
    info: &'a Arc<ChannelInfo>,
}

macro_rules! one_batch {
    ($self:ident, $handle:ident, $pool:expr, $to_json:path, $engine:expr) => {{
        let err = |e: sqlx::Error| $handle.error(e);
        let t = &$self.config.table;
        let ph = |n: usize| placeholder($engine, n);
        let lock = if $engine == Engine::Postgresql || $engine == Engine::Mysql {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let select = format!(
            "SELECT * FROM {t} WHERE status = 'pending' AND available_at <= {} ORDER BY id LIMIT {}{lock}",
            ph(1),
            $self.config.batch_size
        );
        let mut tx = $pool.begin().await.map_err(err)?;
        let found = sqlx::query(&select)
            .bind(now_ms())
            .fetch_all(&mut *tx)
            .await
            .map_err(err)?;
        let mut taken = Vec::with_capacity(found.len());
        for row in &found {
            taken.push($to_json(row).map_err(err)?);
        }
        let n = taken.len();
        let outcomes = $self.handle_rows(taken).await;
        // The rows done are written in one statement; each other outcome in its own.
        let mut done = Vec::new();
        for (id, outcome) in outcomes {
            if matches!(outcome, RowOutcome::Done) {
                done.push(id);
                continue;
            }
            let (sql, params) = $self.write(&id, outcome, &ph);
            bind_json!(sqlx::query(&sql), &params)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        if !done.is_empty() {
            let sql = $self.write_done(done.len(), &ph);
            bind_json!(sqlx::query(&sql), &done)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        tx.commit().await.map_err(err)?;
        Ok(n)
    }};
}

fn placeholder(engine: Engine, n: usize) -> String {
    match engine {
        Engine::Postgresql => format!("${n}"),
        _ => "?".to_owned(),
    }
}

impl Worker<'_> {
    fn handle(&self) -> Result<SqlHandle, SqlError> {
        match self
            .platform
            .outgoing()
            .get::<SqlConnection>(&self.config.connection)
        {
            Some(conn) => conn.handle(),
            None => Err(SqlError::new(
                &self.config.connection,
                crate::SqlErrorKind::Unavailable,
                "no such SQL connection on this node",
            )),
        }
    }

    /// Takes and handles one batch; how many rows it held.
    async fn poll(&self) -> Result<usize, SqlError> {
        let handle = self.handle()?;
        match handle.pool().clone() {
            SqlPool::Postgres(pool) => {
                one_batch!(self, handle, pool, rows::pg_row, Engine::Postgresql)
            }
            SqlPool::MySql(pool) => one_batch!(self, handle, pool, rows::mysql_row, Engine::Mysql),
            SqlPool::Sqlite(pool) => {
                let lock = sqlite_lock(&handle.config_database(), &self.config.table);
                let _one_poller = lock.lock().await;
                one_batch!(self, handle, pool, rows::sqlite_row, Engine::Sqlite)
            }
        }
    }

    /// Counts the pending rows, for the metrics; a failure leaves the last count.
    async fn count_pending(&self) {
        let Ok(handle) = self.handle() else {
            return;
        };
        let sql = format!(
            "SELECT COUNT(*) AS n FROM {} WHERE status = 'pending'",
            self.config.table
        );
        if let Ok(rows) = handle.fetch_json(&sql, &[]).await
            && let Some(n) = rows
                .first()
                .and_then(|r| r.get("n"))
                .and_then(Value::as_u64)
        {
            self.stats.pending.store(n, Ordering::Relaxed);
        }
    }

    /// Invokes the service for each row, `concurrency` at a time; each row's id and outcome.
    async fn handle_rows(&self, taken: Vec<Map<String, Value>>) -> Vec<(Value, RowOutcome)> {
        futures_util::stream::iter(taken)
            .map(|row| self.handle_row(row))
            .buffer_unordered(self.config.concurrency.max(1) as usize)
            .collect()
            .await
    }

    async fn handle_row(&self, row: Map<String, Value>) -> (Value, RowOutcome) {
        let id = row.get("id").cloned().unwrap_or(Value::Null);
        let attempts = row
            .get("attempts")
            .and_then(Value::as_u64)
            .and_then(|a| u32::try_from(a).ok())
            .unwrap_or(0);
        self.stats.in_flight.fetch_add(1, Ordering::Relaxed);
        let body = Value::Object(row).to_string();
        let raw = RawRequest::new(Cid::new(), self.info.clone(), body)
            .with_content_type("application/json");
        let limit = self.config.timeout_duration();
        let started = Instant::now();
        let result =
            match tokio::time::timeout(limit, self.platform.invoke_raw(&self.config.service, raw))
                .await
            {
                Ok(invocation) => invocation.result.map(|_| ()),
                Err(_) => Err(ServiceError::Timeout(limit)),
            };
        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        let outcome = match result {
            Ok(()) => {
                self.stats.done.fetch_add(1, Ordering::Relaxed);
                RowOutcome::Done
            }
            Err(e) => {
                let attempts = attempts.saturating_add(1);
                let error: String = e.to_string().chars().take(MAX_ERROR_CHARS).collect();
                tracing::debug!(channel = %self.config.name, %id, attempts, took = ?started.elapsed(), %error, "sql outbox row failed");
                if attempts >= self.config.max_attempts {
                    self.stats.failed.fetch_add(1, Ordering::Relaxed);
                    RowOutcome::Failed { attempts, error }
                } else {
                    self.stats.retried.fetch_add(1, Ordering::Relaxed);
                    let wait = self.config.backoff_after(attempts);
                    let at_ms = now_ms()
                        .saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
                    RowOutcome::Retry {
                        attempts,
                        error,
                        at_ms,
                    }
                }
            }
        };
        (id, outcome)
    }

    /// The statement that marks done (or deletes) `n` rows, their ids its parameters.
    fn write_done(&self, n: usize, ph: &dyn Fn(usize) -> String) -> String {
        let t = &self.config.table;
        let ids: Vec<String> = (1..=n).map(ph).collect();
        let ids = ids.join(", ");
        match self.config.on_success {
            OnSuccess::Mark => {
                format!("UPDATE {t} SET status = 'done', last_error = NULL WHERE id IN ({ids})")
            }
            OnSuccess::Delete => format!("DELETE FROM {t} WHERE id IN ({ids})"),
        }
    }

    /// The statement that writes `outcome` of the row `id`.
    fn write(
        &self,
        id: &Value,
        outcome: RowOutcome,
        ph: &dyn Fn(usize) -> String,
    ) -> (String, Vec<Value>) {
        let t = &self.config.table;
        match outcome {
            RowOutcome::Done => match self.config.on_success {
                OnSuccess::Mark => (
                    format!(
                        "UPDATE {t} SET status = 'done', last_error = NULL WHERE id = {}",
                        ph(1)
                    ),
                    vec![id.clone()],
                ),
                OnSuccess::Delete => (
                    format!("DELETE FROM {t} WHERE id = {}", ph(1)),
                    vec![id.clone()],
                ),
            },
            RowOutcome::Retry {
                attempts,
                error,
                at_ms,
            } => (
                format!(
                    "UPDATE {t} SET attempts = {}, last_error = {}, available_at = {} WHERE id = {}",
                    ph(1),
                    ph(2),
                    ph(3),
                    ph(4)
                ),
                vec![attempts.into(), error.into(), at_ms.into(), id.clone()],
            ),
            RowOutcome::Failed { attempts, error } => (
                format!(
                    "UPDATE {t} SET status = 'failed', attempts = {}, last_error = {} WHERE id = {}",
                    ph(1),
                    ph(2),
                    ph(3)
                ),
                vec![attempts.into(), error.into(), id.clone()],
            ),
        }
    }
}

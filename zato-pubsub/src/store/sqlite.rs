//! The store of a single node: SQLite in one file under the node's data directory. sqlx builds
//! it in (no server to run), its write-ahead log survives a crash, and the same SQL as on
//! PostgreSQL does the work; one connection serializes the writers, as SQLite would anyway.
//! Transactions that write begin `IMMEDIATE`: several stores on one file (nodes in one process)
//! then wait their turn rather than fail when another wrote between their read and write.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, raw_sql};

use super::{
    Claimed, DeadLetter, Failed, Message, NewMessage, QueueStats, Store, StoreError,
    dead_letter_headers, headers_text, now_ms, parse_headers,
};

/// Topics and subscriptions in a SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

/// `?, ?, …` for `n` values.
fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

const COLUMNS: &str = "m.id, m.topic, m.data, m.publisher, m.cid, m.published_at, m.headers, m.priority, m.expires_at";

fn message(row: &SqliteRow) -> Result<Message, sqlx::Error> {
    Ok(Message {
        id: row.try_get("id")?,
        topic: row.try_get("topic")?,
        data: Bytes::from(row.try_get::<Vec<u8>, _>("data")?),
        publisher: row.try_get("publisher")?,
        cid: row.try_get("cid")?,
        published_at: row.try_get("published_at")?,
        headers: parse_headers(&row.try_get::<String, _>("headers")?),
        priority: row.try_get("priority")?,
        expires_at: row.try_get("expires_at")?,
        attempts: 0,
        deliveries: 0,
    })
}

impl SqliteStore {
    /// The store in the file `path`, created with its directory when missing, in WAL mode,
    /// each write synced. Creates its tables.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the file cannot be opened or created.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        let store = SqliteStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn drop_orphans(&self, ids: &[i64]) -> Result<(), StoreError> {
        for chunk in ids.chunks(500) {
            let sql = format!(
                "DELETE FROM pubsub_message WHERE id IN ({}) AND NOT EXISTS (SELECT 1 FROM pubsub_queue q WHERE q.msg_id = pubsub_message.id)",
                marks(chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            query.execute(&self.pool).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        raw_sql(
            r#"
            CREATE TABLE IF NOT EXISTS pubsub_message (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                topic TEXT NOT NULL,
                data BLOB NOT NULL,
                publisher TEXT NOT NULL,
                cid TEXT NOT NULL,
                published_at INTEGER NOT NULL,
                headers TEXT NOT NULL,
                priority INTEGER NOT NULL,
                expires_at INTEGER
            );
            CREATE INDEX IF NOT EXISTS pubsub_message_topic ON pubsub_message (topic, published_at);
            CREATE TABLE IF NOT EXISTS pubsub_subscription (name TEXT PRIMARY KEY);
            CREATE TABLE IF NOT EXISTS pubsub_queue (
                sub TEXT NOT NULL,
                msg_id INTEGER NOT NULL REFERENCES pubsub_message (id) ON DELETE CASCADE,
                attempts INTEGER NOT NULL DEFAULT 0,
                deliveries INTEGER NOT NULL DEFAULT 0,
                not_before INTEGER NOT NULL DEFAULT 0,
                lease_until INTEGER NOT NULL DEFAULT 0,
                holder TEXT,
                last_error TEXT,
                dead INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (sub, msg_id)
            );
            CREATE INDEX IF NOT EXISTS pubsub_queue_msg ON pubsub_queue (msg_id);
            CREATE INDEX IF NOT EXISTS pubsub_queue_lease ON pubsub_queue (sub, lease_until);
            "#,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn subscribe(&self, subscription: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT OR IGNORE INTO pubsub_subscription (name) VALUES (?)")
            .bind(subscription)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn unsubscribe(&self, subscription: &str) -> Result<(), StoreError> {
        let ids: Vec<i64> =
            sqlx::query_scalar("DELETE FROM pubsub_queue WHERE sub = ? RETURNING msg_id")
                .bind(subscription)
                .fetch_all(&self.pool)
                .await?;
        sqlx::query("DELETE FROM pubsub_subscription WHERE name = ?")
            .bind(subscription)
            .execute(&self.pool)
            .await?;
        self.drop_orphans(&ids).await
    }

    async fn publish(
        &self,
        topic: &str,
        max_depth: u64,
        messages: &[NewMessage],
        subscriptions: &[String],
    ) -> Result<Vec<i64>, StoreError> {
        if messages.is_empty() || subscriptions.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let depth: i64 = sqlx::query_scalar("SELECT count(*) FROM pubsub_message WHERE topic = ?")
            .bind(topic)
            .fetch_one(&mut *tx)
            .await?;
        let depth = u64::try_from(depth).unwrap_or_default();
        if depth + messages.len() as u64 > max_depth {
            return Err(StoreError::TopicFull {
                topic: topic.to_owned(),
                depth,
                max_depth,
            });
        }
        let now = now_ms();
        let mut ids = Vec::with_capacity(messages.len());
        for n in messages {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO pubsub_message (topic, data, publisher, cid, published_at, headers, priority, expires_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(topic)
            .bind(n.data.as_ref())
            .bind(&n.publisher)
            .bind(&n.cid)
            .bind(now)
            .bind(headers_text(&n.headers))
            .bind(n.priority)
            .bind(n.expires_at)
            .fetch_one(&mut *tx)
            .await?;
            for sub in subscriptions {
                sqlx::query("INSERT INTO pubsub_queue (sub, msg_id) VALUES (?, ?)")
                    .bind(sub)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            ids.push(id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    async fn claim(
        &self,
        subscription: &str,
        holder: &str,
        max: u32,
        lease_ms: u64,
    ) -> Result<Claimed, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let out: Option<i64> = sqlx::query_scalar(
            "SELECT lease_until FROM pubsub_queue WHERE sub = ? AND lease_until > ? AND dead = 0 ORDER BY lease_until LIMIT 1",
        )
        .bind(subscription)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(until) = out {
            return Ok(Claimed {
                messages: Vec::new(),
                retry_at: Some(until),
            });
        }
        let head: Option<i64> = sqlx::query_scalar(
            "SELECT not_before FROM pubsub_queue WHERE sub = ? AND dead = 0 ORDER BY msg_id LIMIT 1",
        )
        .bind(subscription)
        .fetch_optional(&mut *tx)
        .await?;
        match head {
            None => return Ok(Claimed::default()),
            Some(at) if at > now => {
                return Ok(Claimed {
                    messages: Vec::new(),
                    retry_at: Some(at),
                });
            }
            Some(_) => {}
        }
        let lease_until = now.saturating_add(i64::try_from(lease_ms).unwrap_or(i64::MAX));
        let rows = sqlx::query(
            "UPDATE pubsub_queue SET lease_until = ?, holder = ?, deliveries = deliveries + 1 \
             WHERE sub = ? AND msg_id IN (SELECT msg_id FROM pubsub_queue WHERE sub = ? AND dead = 0 AND not_before <= ? ORDER BY msg_id LIMIT ?) \
             RETURNING msg_id, attempts, deliveries",
        )
        .bind(lease_until)
        .bind(holder)
        .bind(subscription)
        .bind(subscription)
        .bind(now)
        .bind(i64::from(max))
        .fetch_all(&mut *tx)
        .await?;
        let mut state = std::collections::HashMap::new();
        for row in &rows {
            let id: i64 = row.try_get("msg_id")?;
            let attempts: i32 = row.try_get("attempts")?;
            let deliveries: i32 = row.try_get("deliveries")?;
            state.insert(id, (attempts, deliveries));
        }
        let mut messages = Vec::with_capacity(state.len());
        if !state.is_empty() {
            let sql = format!(
                "SELECT {COLUMNS} FROM pubsub_message m WHERE m.id IN ({}) ORDER BY m.id",
                marks(state.len())
            );
            let mut query = sqlx::query(&sql);
            for id in state.keys() {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *tx).await? {
                let mut msg = message(&row)?;
                if let Some((attempts, deliveries)) = state.get(&msg.id) {
                    msg.attempts = *attempts;
                    msg.deliveries = *deliveries;
                }
                messages.push(msg);
            }
        }
        tx.commit().await?;
        Ok(Claimed {
            messages,
            retry_at: None,
        })
    }

    async fn ack(&self, subscription: &str, holder: &str, ids: &[i64]) -> Result<u64, StoreError> {
        let mut gone = Vec::new();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "DELETE FROM pubsub_queue WHERE sub = ? AND holder = ? AND msg_id IN ({}) RETURNING msg_id",
                marks(chunk.len())
            );
            let mut query = sqlx::query_scalar(&sql).bind(subscription).bind(holder);
            for id in chunk {
                query = query.bind(id);
            }
            let done: Vec<i64> = query.fetch_all(&self.pool).await?;
            gone.extend(done);
        }
        self.drop_orphans(&gone).await?;
        Ok(gone.len() as u64)
    }

    async fn release(
        &self,
        subscription: &str,
        holder: &str,
        ids: &[i64],
    ) -> Result<(), StoreError> {
        for chunk in ids.chunks(500) {
            let sql = format!(
                "UPDATE pubsub_queue SET lease_until = 0, holder = NULL, deliveries = max(deliveries - 1, 0) \
                 WHERE sub = ? AND holder = ? AND msg_id IN ({})",
                marks(chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(subscription).bind(holder);
            for id in chunk {
                query = query.bind(id);
            }
            query.execute(&self.pool).await?;
        }
        Ok(())
    }

    async fn fail(
        &self,
        subscription: &str,
        holder: &str,
        id: i64,
        error: &str,
        max_attempts: u32,
        retry_at: i64,
        dead_letter: Option<DeadLetter<'_>>,
    ) -> Result<Failed, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let attempts: Option<i32> = sqlx::query_scalar(
            "UPDATE pubsub_queue SET attempts = attempts + 1, last_error = ?, not_before = ?, lease_until = 0, holder = NULL \
             WHERE sub = ? AND holder = ? AND msg_id = ? RETURNING attempts",
        )
        .bind(error)
        .bind(retry_at)
        .bind(subscription)
        .bind(holder)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(attempts) = attempts else {
            return Ok(Failed::NotHeld);
        };
        if u32::try_from(attempts).unwrap_or(u32::MAX) < max_attempts {
            tx.commit().await?;
            return Ok(Failed::Retry);
        }
        match dead_letter.filter(|d| !d.subscriptions.is_empty()) {
            Some(dlq) => {
                let row = sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM pubsub_message m WHERE m.id = ?"
                ))
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                let original = message(&row)?;
                let headers = dead_letter_headers(
                    &original.headers,
                    &original.topic,
                    subscription,
                    id,
                    error,
                );
                let new_id: i64 = sqlx::query_scalar(
                    "INSERT INTO pubsub_message (topic, data, publisher, cid, published_at, headers, priority, expires_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, NULL) RETURNING id",
                )
                .bind(dlq.topic)
                .bind(original.data.as_ref())
                .bind(&original.publisher)
                .bind(&original.cid)
                .bind(now_ms())
                .bind(&headers)
                .bind(original.priority)
                .fetch_one(&mut *tx)
                .await?;
                for sub in dlq.subscriptions {
                    sqlx::query("INSERT INTO pubsub_queue (sub, msg_id) VALUES (?, ?)")
                        .bind(sub)
                        .bind(new_id)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("DELETE FROM pubsub_queue WHERE sub = ? AND msg_id = ?")
                    .bind(subscription)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                self.drop_orphans(&[id]).await?;
            }
            None => {
                sqlx::query("UPDATE pubsub_queue SET dead = 1 WHERE sub = ? AND msg_id = ?")
                    .bind(subscription)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
        }
        Ok(Failed::Dead)
    }

    async fn purge(&self, topic: &str, older_than: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM pubsub_message WHERE topic = ? AND (published_at < ? OR (expires_at IS NOT NULL AND expires_at <= ?))",
        )
        .bind(topic)
        .bind(older_than)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn subscription_stats(&self, subscription: &str) -> Result<QueueStats, StoreError> {
        let (depth, oldest, dead): (i64, Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT count(*), min(m.published_at), sum(q.dead) \
             FROM pubsub_queue q JOIN pubsub_message m ON m.id = q.msg_id WHERE q.sub = ?",
        )
        .bind(subscription)
        .fetch_one(&self.pool)
        .await?;
        Ok(QueueStats {
            depth: u64::try_from(depth).unwrap_or_default(),
            oldest,
            dead: u64::try_from(dead.unwrap_or_default()).unwrap_or_default(),
        })
    }

    async fn topic_stats(&self, topic: &str) -> Result<QueueStats, StoreError> {
        let (depth, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT count(*), min(published_at) FROM pubsub_message WHERE topic = ?",
        )
        .bind(topic)
        .fetch_one(&self.pool)
        .await?;
        Ok(QueueStats {
            depth: u64::try_from(depth).unwrap_or_default(),
            oldest,
            dead: 0,
        })
    }

    async fn browse(&self, subscription: &str, max: u32) -> Result<Vec<Message>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS}, q.attempts, q.deliveries FROM pubsub_queue q JOIN pubsub_message m ON m.id = q.msg_id \
             WHERE q.sub = ? ORDER BY q.msg_id LIMIT ?"
        ))
        .bind(subscription)
        .bind(i64::from(max))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut msg = message(row)?;
            msg.attempts = row.try_get("attempts")?;
            msg.deliveries = row.try_get("deliveries")?;
            out.push(msg);
        }
        Ok(out)
    }
}

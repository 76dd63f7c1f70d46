//! The store of a cluster: PostgreSQL, the cluster's own database. Deliverers of one
//! subscription on several nodes take turns through `FOR UPDATE SKIP LOCKED` on its row, and
//! are woken by `LISTEN`/`NOTIFY` when any node publishes.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use sqlx::Row;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions, PgRow};
use tokio::sync::watch;

use super::{
    Claimed, DeadLetter, Failed, Message, NewMessage, QueueStats, Store, StoreError,
    dead_letter_headers, headers_text, now_ms, parse_headers,
};

/// The first key of the advisory locks the store takes, so as not to meet other users' locks.
const LOCK_SPACE: i32 = 0x5a50;

/// Topics and subscriptions in a PostgreSQL schema: the tables `pubsub_message`,
/// `pubsub_queue` and `pubsub_subscription`.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    schema: String,
    channel: String,
}

impl PgStore {
    /// A store in `schema` of the database at `url`, through a pool of at most `pool_size`
    /// connections, each waited for at most 10 seconds. Creates its tables.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the database cannot be reached, or the schema's name is not a
    /// plain lowercase identifier.
    pub async fn connect(url: &str, schema: &str, pool_size: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.clamp(2, 64))
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        PgStore::new(pool, schema).await
    }

    /// A store in `schema` on `pool`. Creates its tables.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    pub async fn new(pool: PgPool, schema: &str) -> Result<Self, StoreError> {
        let plain = !schema.is_empty()
            && schema.len() <= 48
            && schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !plain {
            return Err(StoreError::Database(sqlx::Error::Configuration(
                format!("the schema `{schema}` is not a lowercase identifier").into(),
            )));
        }
        let store = PgStore {
            pool,
            schema: schema.to_owned(),
            channel: format!("zato_pubsub_{schema}"),
        };
        store.migrate().await?;
        Ok(store)
    }

    fn t(&self, table: &str) -> String {
        format!("\"{}\".pubsub_{table}", self.schema)
    }

    /// Removes the messages that no subscription holds any more.
    async fn drop_orphans(&self, ids: &[i64]) -> Result<(), StoreError> {
        // Run after the queue rows' deletion committed: two subscriptions acknowledging the
        // last rows of one message at once then each see the other's deletion.
        let sql = format!(
            "DELETE FROM {m} WHERE id = ANY($1) AND NOT EXISTS (SELECT 1 FROM {q} WHERE {q}.msg_id = {m}.id)",
            m = self.t("message"),
            q = self.t("queue")
        );
        sqlx::query(&sql).bind(ids).execute(&self.pool).await?;
        Ok(())
    }
}

fn message(row: &PgRow) -> Result<Message, sqlx::Error> {
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

#[async_trait]
impl Store for PgStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        let (m, q, s) = (self.t("message"), self.t("queue"), self.t("subscription"));
        let sql = format!(
            r#"
            SELECT pg_advisory_xact_lock({LOCK_SPACE}, 0);
            CREATE SCHEMA IF NOT EXISTS "{schema}";
            CREATE TABLE IF NOT EXISTS {m} (
                id BIGSERIAL PRIMARY KEY,
                topic TEXT NOT NULL,
                data BYTEA NOT NULL,
                publisher TEXT NOT NULL,
                cid TEXT NOT NULL,
                published_at BIGINT NOT NULL,
                headers TEXT NOT NULL,
                priority INT NOT NULL,
                expires_at BIGINT
            );
            CREATE INDEX IF NOT EXISTS pubsub_message_topic ON {m} (topic, published_at);
            CREATE TABLE IF NOT EXISTS {s} (name TEXT PRIMARY KEY);
            CREATE TABLE IF NOT EXISTS {q} (
                sub TEXT NOT NULL,
                msg_id BIGINT NOT NULL REFERENCES {m} (id) ON DELETE CASCADE,
                attempts INT NOT NULL DEFAULT 0,
                deliveries INT NOT NULL DEFAULT 0,
                not_before BIGINT NOT NULL DEFAULT 0,
                lease_until BIGINT NOT NULL DEFAULT 0,
                holder TEXT,
                last_error TEXT,
                dead BOOLEAN NOT NULL DEFAULT FALSE,
                PRIMARY KEY (sub, msg_id)
            );
            CREATE INDEX IF NOT EXISTS pubsub_queue_msg ON {q} (msg_id);
            CREATE INDEX IF NOT EXISTS pubsub_queue_lease ON {q} (sub, lease_until);
            "#,
            schema = self.schema
        );
        let mut tx = self.pool.begin().await?;
        for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn subscribe(&self, subscription: &str) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO {} (name) VALUES ($1) ON CONFLICT DO NOTHING",
            self.t("subscription")
        );
        sqlx::query(&sql)
            .bind(subscription)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn unsubscribe(&self, subscription: &str) -> Result<(), StoreError> {
        let sql = format!(
            "DELETE FROM {} WHERE sub = $1 RETURNING msg_id",
            self.t("queue")
        );
        let ids: Vec<i64> = sqlx::query_scalar(&sql)
            .bind(subscription)
            .fetch_all(&self.pool)
            .await?;
        let sql = format!("DELETE FROM {} WHERE name = $1", self.t("subscription"));
        sqlx::query(&sql)
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
        let (m, q) = (self.t("message"), self.t("queue"));
        let mut tx = self.pool.begin().await?;
        // One publisher of a topic at a time checks its depth: the bound holds in a cluster.
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(LOCK_SPACE)
            .bind(topic)
            .execute(&mut *tx)
            .await?;
        let depth: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {m} WHERE topic = $1"))
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
        let data: Vec<Vec<u8>> = messages.iter().map(|n| n.data.to_vec()).collect();
        let publisher: Vec<&str> = messages.iter().map(|n| n.publisher.as_str()).collect();
        let cid: Vec<&str> = messages.iter().map(|n| n.cid.as_str()).collect();
        let headers: Vec<String> = messages.iter().map(|n| headers_text(&n.headers)).collect();
        let priority: Vec<i32> = messages.iter().map(|n| n.priority).collect();
        let expires: Vec<Option<i64>> = messages.iter().map(|n| n.expires_at).collect();
        let sql = format!(
            "INSERT INTO {m} (topic, data, publisher, cid, published_at, headers, priority, expires_at) \
             SELECT $1, d, p, c, $2, h, pr, e \
             FROM UNNEST($3::bytea[], $4::text[], $5::text[], $6::text[], $7::int[], $8::bigint[]) \
             WITH ORDINALITY AS t(d, p, c, h, pr, e, n) ORDER BY n RETURNING id"
        );
        let mut ids: Vec<i64> = sqlx::query_scalar(&sql)
            .bind(topic)
            .bind(now_ms())
            .bind(&data)
            .bind(&publisher)
            .bind(&cid)
            .bind(&headers)
            .bind(&priority)
            .bind(&expires)
            .fetch_all(&mut *tx)
            .await?;
        ids.sort_unstable();
        let sql = format!(
            "INSERT INTO {q} (sub, msg_id) SELECT s, i FROM UNNEST($1::text[]) s CROSS JOIN UNNEST($2::bigint[]) i"
        );
        sqlx::query(&sql)
            .bind(subscriptions)
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&self.channel)
            .bind(topic)
            .execute(&mut *tx)
            .await?;
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
        let (m, q, s) = (self.t("message"), self.t("queue"), self.t("subscription"));
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        // Another node claiming this subscription right now: its turn.
        let turn: Option<String> = sqlx::query_scalar(&format!(
            "SELECT name FROM {s} WHERE name = $1 FOR UPDATE SKIP LOCKED"
        ))
        .bind(subscription)
        .fetch_optional(&mut *tx)
        .await?;
        if turn.is_none() {
            return Ok(Claimed::default());
        }
        // A batch out, on this node or another: the next waits for its acknowledgement or lease.
        let out: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT lease_until FROM {q} WHERE sub = $1 AND lease_until > $2 AND NOT dead ORDER BY lease_until LIMIT 1"
        ))
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
        let head: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT not_before FROM {q} WHERE sub = $1 AND NOT dead ORDER BY msg_id LIMIT 1"
        ))
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
        let rows = sqlx::query(&format!(
            "UPDATE {q} SET lease_until = $3, holder = $4, deliveries = deliveries + 1 \
             WHERE sub = $1 AND msg_id IN (SELECT msg_id FROM {q} WHERE sub = $1 AND NOT dead AND not_before <= $2 ORDER BY msg_id LIMIT $5) \
             RETURNING msg_id, attempts, deliveries"
        ))
        .bind(subscription)
        .bind(now)
        .bind(lease_until)
        .bind(holder)
        .bind(i64::from(max))
        .fetch_all(&mut *tx)
        .await?;
        let mut state = std::collections::HashMap::new();
        for row in &rows {
            let id: i64 = row.try_get("msg_id")?;
            state.insert(id, (row.try_get("attempts")?, row.try_get("deliveries")?));
        }
        let ids: Vec<i64> = state.keys().copied().collect();
        let rows = sqlx::query(&format!(
            "SELECT id, topic, data, publisher, cid, published_at, headers, priority, expires_at FROM {m} WHERE id = ANY($1) ORDER BY id"
        ))
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut messages = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut msg = message(row)?;
            if let Some((attempts, deliveries)) = state.get(&msg.id) {
                msg.attempts = *attempts;
                msg.deliveries = *deliveries;
            }
            messages.push(msg);
        }
        Ok(Claimed {
            messages,
            retry_at: None,
        })
    }

    async fn ack(&self, subscription: &str, holder: &str, ids: &[i64]) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let sql = format!(
            "DELETE FROM {} WHERE sub = $1 AND holder = $2 AND msg_id = ANY($3) RETURNING msg_id",
            self.t("queue")
        );
        let gone: Vec<i64> = sqlx::query_scalar(&sql)
            .bind(subscription)
            .bind(holder)
            .bind(ids)
            .fetch_all(&self.pool)
            .await?;
        self.drop_orphans(&gone).await?;
        Ok(gone.len() as u64)
    }

    async fn release(
        &self,
        subscription: &str,
        holder: &str,
        ids: &[i64],
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "UPDATE {} SET lease_until = 0, holder = NULL, deliveries = GREATEST(deliveries - 1, 0) \
             WHERE sub = $1 AND holder = $2 AND msg_id = ANY($3)",
            self.t("queue")
        );
        sqlx::query(&sql)
            .bind(subscription)
            .bind(holder)
            .bind(ids)
            .execute(&self.pool)
            .await?;
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
        let (m, q) = (self.t("message"), self.t("queue"));
        let mut tx = self.pool.begin().await?;
        let attempts: Option<i32> = sqlx::query_scalar(&format!(
            "UPDATE {q} SET attempts = attempts + 1, last_error = $4, not_before = $5, lease_until = 0, holder = NULL \
             WHERE sub = $1 AND holder = $2 AND msg_id = $3 RETURNING attempts"
        ))
        .bind(subscription)
        .bind(holder)
        .bind(id)
        .bind(error)
        .bind(retry_at)
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
                    "SELECT id, topic, data, publisher, cid, published_at, headers, priority, expires_at FROM {m} WHERE id = $1"
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
                let new_id: i64 = sqlx::query_scalar(&format!(
                    "INSERT INTO {m} (topic, data, publisher, cid, published_at, headers, priority, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, NULL) RETURNING id"
                ))
                .bind(dlq.topic)
                .bind(original.data.as_ref())
                .bind(&original.publisher)
                .bind(&original.cid)
                .bind(now_ms())
                .bind(&headers)
                .bind(original.priority)
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query(&format!(
                    "INSERT INTO {q} (sub, msg_id) SELECT s, $2 FROM UNNEST($1::text[]) s"
                ))
                .bind(dlq.subscriptions)
                .bind(new_id)
                .execute(&mut *tx)
                .await?;
                sqlx::query(&format!("DELETE FROM {q} WHERE sub = $1 AND msg_id = $2"))
                    .bind(subscription)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(&self.channel)
                    .bind(dlq.topic)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                self.drop_orphans(&[id]).await?;
            }
            None => {
                sqlx::query(&format!(
                    "UPDATE {q} SET dead = TRUE WHERE sub = $1 AND msg_id = $2"
                ))
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
        let sql = format!(
            "DELETE FROM {} WHERE topic = $1 AND (published_at < $2 OR (expires_at IS NOT NULL AND expires_at <= $3))",
            self.t("message")
        );
        let done = sqlx::query(&sql)
            .bind(topic)
            .bind(older_than)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn subscription_stats(&self, subscription: &str) -> Result<QueueStats, StoreError> {
        let sql = format!(
            "SELECT count(*), min(m.published_at), count(*) FILTER (WHERE q.dead) \
             FROM {q} q JOIN {m} m ON m.id = q.msg_id WHERE q.sub = $1",
            q = self.t("queue"),
            m = self.t("message")
        );
        let (depth, oldest, dead): (i64, Option<i64>, i64) = sqlx::query_as(&sql)
            .bind(subscription)
            .fetch_one(&self.pool)
            .await?;
        Ok(QueueStats {
            depth: u64::try_from(depth).unwrap_or_default(),
            oldest,
            dead: u64::try_from(dead).unwrap_or_default(),
        })
    }

    async fn topic_stats(&self, topic: &str) -> Result<QueueStats, StoreError> {
        let sql = format!(
            "SELECT count(*), min(published_at) FROM {} WHERE topic = $1",
            self.t("message")
        );
        let (depth, oldest): (i64, Option<i64>) = sqlx::query_as(&sql)
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
        let sql = format!(
            "SELECT m.id, m.topic, m.data, m.publisher, m.cid, m.published_at, m.headers, m.priority, m.expires_at, q.attempts, q.deliveries \
             FROM {q} q JOIN {m} m ON m.id = q.msg_id WHERE q.sub = $1 ORDER BY q.msg_id LIMIT $2",
            q = self.t("queue"),
            m = self.t("message")
        );
        let rows = sqlx::query(&sql)
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

    async fn listen(
        &self,
        wake: watch::Sender<u64>,
    ) -> Result<Option<tokio::task::JoinHandle<()>>, StoreError> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(&self.channel).await?;
        Ok(Some(tokio::spawn(async move {
            loop {
                // recv() connects again by itself after a lost connection.
                match listener.recv().await {
                    Ok(_) => wake.send_modify(|n| *n = n.wrapping_add(1)),
                    Err(e) => {
                        tracing::warn!(error = %e, "pub/sub: listening for publications failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        })))
    }
}

//! [`PgClaims`]: the cluster's [`ClaimStore`], one row per claimed item in PostgreSQL.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement};
use zato_core::claims::{ClaimError, ClaimItem, ClaimStore};

use crate::store::{PgSettings, connect};

/// The longest one claim operation waits for the database.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a done item's row keeps it from being handled again: longer than any listing of
/// an object store lags behind its deletes.
const DONE_KEPT_SECS: f64 = 3600.0;

/// How long the row of an item that was let go and never came back is kept.
const STALE_AFTER: &str = "7 days";

/// How long a claim whose lease ran out is kept when no one took its item over: after that its
/// holder is taken to be gone for good, and so is its item.
const HELD_GRACE: &str = "10 minutes";

pub(crate) const SETUP: &str = r#"
CREATE TABLE IF NOT EXISTS claims (
    scope text NOT NULL,
    key text NOT NULL,
    version text NOT NULL,
    holder text,
    expires timestamptz NOT NULL,
    attempts integer NOT NULL,
    done boolean NOT NULL DEFAULT false,
    updated timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
"#;

/// A claim is taken in one statement: the row is inserted, or updated only when its lease ran
/// out (or it was let go and its retry time came) or it records another version as done. The
/// row lock of `ON CONFLICT DO UPDATE` makes two nodes racing for one item see one winner.
/// Times are the database's, so the nodes' clocks do not matter.
const CLAIM: &str = r#"
INSERT INTO claims AS c (scope, key, version, holder, expires, attempts)
VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5), 1)
ON CONFLICT (scope, key) DO UPDATE SET
    holder = EXCLUDED.holder,
    expires = EXCLUDED.expires,
    attempts = CASE WHEN c.version = EXCLUDED.version AND NOT c.done
                    THEN c.attempts + 1 ELSE 1 END,
    version = EXCLUDED.version,
    done = false,
    updated = now()
WHERE (c.done AND c.version <> EXCLUDED.version)
   OR (NOT c.done AND c.expires < now())
RETURNING attempts
"#;

const RENEW: &str = "UPDATE claims SET expires = now() + make_interval(secs => $4), updated = now() \
     WHERE scope = $1 AND key = $2 AND holder = $3 AND NOT done RETURNING 1";

const RELEASE: &str = "UPDATE claims SET holder = NULL, expires = now() + make_interval(secs => $4), \
     attempts = CASE WHEN $5 THEN attempts ELSE greatest(attempts - 1, 0) END, updated = now() \
     WHERE scope = $1 AND key = $2 AND holder = $3 AND NOT done";

const FINISH: &str = "UPDATE claims SET holder = NULL, done = true, \
     expires = now() + make_interval(secs => $4), updated = now() \
     WHERE scope = $1 AND key = $2 AND holder = $3";

/// The cluster's claims: a table `claims` in the cluster's schema, one row per item, keyed by
/// scope and key. Exact: one statement decides each claim, under the row's lock, with the
/// database's clock.
///
/// - A claim counts its attempt in the row, so the count survives restarts of every node.
/// - A done item keeps its row for an hour, marked done with its version, so a listing that
///   still shows a deleted object does not get it handled twice.
/// - Its statements commit without waiting for the disk (`synchronous_commit = off`): a
///   database crash may forget the last claims, so an object may be handled twice then.
/// - [`prune`](ClaimStore::prune) removes the rows of done items after that hour, claims whose
///   lease ran out with no one taking the item over after 10 minutes more, and rows of items
///   let go and never claimed again after a week.
///
/// A node of a cluster sets it on its platform when it joins
/// ([`ClusterNode::join`](crate::ClusterNode::join)); it may be built on its own, too.
pub struct PgClaims {
    settings: PgSettings,
    client: tokio::sync::Mutex<Option<Arc<Conn>>>,
}

/// A connection with the claim statements prepared on it.
struct Conn {
    client: Client,
    claim: Statement,
    renew: Statement,
    release: Statement,
    finish: Statement,
}

impl fmt::Debug for PgClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgClaims")
            .field("schema", &self.settings.schema)
            .finish_non_exhaustive()
    }
}

fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl PgClaims {
    /// The claims of the cluster `settings` names. It connects on first use, with a connection
    /// of its own, so that claims do not wait behind configuration changes.
    pub fn new(settings: PgSettings) -> Self {
        PgClaims {
            settings,
            client: tokio::sync::Mutex::new(None),
        }
    }

    /// The open connection, opened (the table created and the statements prepared) when there
    /// is none.
    async fn conn(&self) -> Result<Arc<Conn>, ClaimError> {
        let mut guard = self.client.lock().await;
        if let Some(conn) = guard.as_ref().filter(|c| !c.client.is_closed()) {
            return Ok(conn.clone());
        }
        *guard = None;
        let db =
            |e: tokio_postgres::Error| ClaimError(format!("the cluster database: {}", message(&e)));
        let client = connect(&self.settings)
            .await
            .map_err(|e| ClaimError(format!("the cluster database: {e}")))?;
        // A claim is a lease, not a record to keep: its commit does not wait for the disk.
        // A database crash may forget the last claims committed, which only lets an object
        // be claimed again (handled twice at worst, never lost).
        client
            .batch_execute(&format!("SET synchronous_commit = off; {SETUP}"))
            .await
            .map_err(db)?;
        let conn = Arc::new(Conn {
            claim: client.prepare(CLAIM).await.map_err(db)?,
            renew: client.prepare(RENEW).await.map_err(db)?,
            release: client.prepare(RELEASE).await.map_err(db)?,
            finish: client.prepare(FINISH).await.map_err(db)?,
            client,
        });
        *guard = Some(conn.clone());
        Ok(conn)
    }

    /// Runs one prepared statement, bounded in time; a connection that failed is replaced
    /// next time.
    async fn run(
        &self,
        statement: fn(&Conn) -> &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, ClaimError> {
        let conn = self.conn().await?;
        let query = conn.client.query(statement(&conn), params);
        match tokio::time::timeout(OPERATION_TIMEOUT, query).await {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(e)) => {
                if e.is_closed() || conn.client.is_closed() {
                    self.forget(&conn).await;
                }
                Err(ClaimError(format!("the cluster database: {}", message(&e))))
            }
            Err(_) => {
                self.forget(&conn).await;
                Err(ClaimError(format!(
                    "the cluster database did not answer within {OPERATION_TIMEOUT:?}"
                )))
            }
        }
    }

    async fn forget(&self, failed: &Arc<Conn>) {
        let mut guard = self.client.lock().await;
        if guard.as_ref().is_some_and(|c| Arc::ptr_eq(c, failed)) {
            *guard = None;
        }
    }
}

fn message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

#[async_trait::async_trait]
impl ClaimStore for PgClaims {
    fn kind(&self) -> &str {
        "postgresql"
    }

    async fn claim(
        &self,
        item: &ClaimItem<'_>,
        holder: &str,
        lease: Duration,
    ) -> Result<Option<u32>, ClaimError> {
        let lease = seconds(lease);
        let rows = self
            .run(
                |c| &c.claim,
                &[&item.scope, &item.key, &item.version, &holder, &lease],
            )
            .await?;
        Ok(rows
            .first()
            .map(|row| u32::try_from(row.get::<_, i32>(0)).unwrap_or(1)))
    }

    async fn renew(
        &self,
        item: &ClaimItem<'_>,
        holder: &str,
        lease: Duration,
    ) -> Result<bool, ClaimError> {
        let lease = seconds(lease);
        let rows = self
            .run(|c| &c.renew, &[&item.scope, &item.key, &holder, &lease])
            .await?;
        Ok(rows.len() == 1)
    }

    async fn release(
        &self,
        item: &ClaimItem<'_>,
        holder: &str,
        retry_after: Duration,
        counted: bool,
    ) -> Result<(), ClaimError> {
        let after = seconds(retry_after);
        self.run(
            |c| &c.release,
            &[&item.scope, &item.key, &holder, &after, &counted],
        )
        .await
        .map(drop)
    }

    async fn finish(&self, item: &ClaimItem<'_>, holder: &str) -> Result<(), ClaimError> {
        self.run(
            |c| &c.finish,
            &[&item.scope, &item.key, &holder, &DONE_KEPT_SECS],
        )
        .await
        .map(drop)
    }

    async fn prune(&self, scope: &str) -> Result<(), ClaimError> {
        let sql = format!(
            "DELETE FROM claims WHERE scope = $1 AND \
             ((done AND expires < now()) \
              OR (NOT done AND holder IS NOT NULL AND expires < now() - interval '{HELD_GRACE}') \
              OR updated < now() - interval '{STALE_AFTER}')"
        );
        let conn = self.conn().await?;
        tokio::time::timeout(OPERATION_TIMEOUT, conn.client.execute(&sql, &[&scope]))
            .await
            .map_err(|_| ClaimError("the cluster database did not answer".to_owned()))?
            .map_err(|e| ClaimError(format!("the cluster database: {}", message(&e))))
            .map(drop)
    }
}

//! [`SwiftClaims`]: claims kept as objects of a claims container, for nodes that share no
//! database.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use zato_core::claims::{ClaimError, ClaimItem, ClaimStore};
use zato_swift::{
    ListOptions, ObjectEntry, PutOptions, SwiftConnection, SwiftError, SwiftErrorKind,
};

/// How long a node that took over a run-out claim waits before reading it back, so that a
/// node writing at the same moment is seen.
const SETTLE: Duration = Duration::from_millis(250);

/// A claim object not written for this long is pruned.
const STALE_AFTER: chrono::TimeDelta = chrono::TimeDelta::days(7);
/// The most claim objects one prune deletes.
const MAX_PRUNED: usize = 1000;

/// One claim, the body of its claim object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    /// Who holds it; `None` once let go.
    holder: Option<String>,
    /// When the lease runs out (or the retry time comes), in milliseconds since the epoch.
    expires_ms: u64,
    /// Attempts at this version.
    attempts: u32,
    /// The version of the item claimed.
    version: String,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn after(d: Duration) -> u64 {
    now_ms().saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn failed(e: &SwiftError) -> ClaimError {
    ClaimError(format!("the claims container: {e}"))
}

/// Claims as objects of a claims container of the inbox's own Swift account, named after the
/// objects they claim: nothing is written in the inbox.
///
/// Swift has no compare-and-set, so this is the best Swift offers, not an exact lock:
/// - a first claim is a `PUT` with `If-None-Match: *`, which one proxy serves atomically;
///   on a replicated cluster two nodes writing the same claim within the replication window
///   may both succeed;
/// - a claim whose lease ran out is taken over by writing it again, then reading it back after
///   250 ms: of two nodes taking over at once, the one whose write is not read back steps
///   back; eventually consistent reads can still show both nodes their own write;
/// - leases are compared with each node's clock: keep the nodes' clocks within a small part
///   of the lease;
/// - the claim object is deleted once its item is done, so a listing that still shows a deleted
///   object lets it be claimed again; the object is then found gone and not handled.
///
/// Claim objects no one wrote for a week (their objects were removed from the inbox by hand)
/// are deleted by [`prune`](ClaimStore::prune).
///
/// In each of these windows an object may be handled twice; none loses one. A node of a cluster
/// claims in PostgreSQL instead, which is exact.
#[derive(Debug, Clone)]
pub struct SwiftClaims {
    conn: Arc<SwiftConnection>,
    container: String,
}

impl SwiftClaims {
    /// Claims kept in `container`, through `conn`.
    pub fn new(conn: Arc<SwiftConnection>, container: impl Into<String>) -> Self {
        SwiftClaims {
            conn,
            container: container.into(),
        }
    }

    async fn read(&self, key: &str) -> Result<Option<Record>, ClaimError> {
        let client = self.conn.client().await.map_err(|e| failed(&e))?;
        match client.get_object(&self.container, key).await {
            Ok(object) => Ok(serde_json::from_slice(&object.data).ok()),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(failed(&e)),
        }
    }

    /// Writes `record`; with `fresh`, only when no claim exists. Returns `false` when one did.
    async fn write(&self, key: &str, record: &Record, fresh: bool) -> Result<bool, ClaimError> {
        let body = serde_json::to_vec(record).map_err(|e| ClaimError(e.to_string()))?;
        let mut opts = PutOptions::default().content_type("application/json");
        if fresh {
            opts = opts.if_none_match();
        }
        let client = self.conn.client().await.map_err(|e| failed(&e))?;
        match client.put_object(&self.container, key, body, &opts).await {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.kind(), SwiftErrorKind::Conflict { .. }) => Ok(false),
            Err(e) => Err(failed(&e)),
        }
    }

    /// The record, when it is `holder`'s.
    async fn held(&self, key: &str, holder: &str) -> Result<Option<Record>, ClaimError> {
        Ok(self
            .read(key)
            .await?
            .filter(|r| r.holder.as_deref() == Some(holder)))
    }
}

#[async_trait::async_trait]
impl ClaimStore for SwiftClaims {
    fn kind(&self) -> &str {
        "swift"
    }

    async fn claim(
        &self,
        item: &ClaimItem<'_>,
        holder: &str,
        lease: Duration,
    ) -> Result<Option<u32>, ClaimError> {
        let mut record = Record {
            holder: Some(holder.to_owned()),
            expires_ms: after(lease),
            attempts: 1,
            version: item.version.to_owned(),
        };
        if self.write(item.key, &record, true).await? {
            return Ok(Some(1));
        }
        let Some(current) = self.read(item.key).await? else {
            // Deleted meanwhile: its item was done; a later poll sees whether it is still there.
            return Ok(None);
        };
        if current.holder.as_deref() == Some(holder) {
            // A retried write of ours that went through the first time.
            return Ok(Some(current.attempts));
        }
        if current.expires_ms > now_ms() {
            return Ok(None);
        }
        if current.version == item.version {
            record.attempts = current.attempts.saturating_add(1);
        }
        record.expires_ms = after(lease);
        self.write(item.key, &record, false).await?;
        tokio::time::sleep(SETTLE).await;
        Ok(self.held(item.key, holder).await?.map(|_| record.attempts))
    }

    async fn renew(
        &self,
        item: &ClaimItem<'_>,
        holder: &str,
        lease: Duration,
    ) -> Result<bool, ClaimError> {
        let Some(mut record) = self.held(item.key, holder).await? else {
            return Ok(false);
        };
        record.expires_ms = after(lease);
        self.write(item.key, &record, false).await
    }

    async fn release(
        &self,
        item: &ClaimItem<'_>,
        holder: &str,
        retry_after: Duration,
        counted: bool,
    ) -> Result<(), ClaimError> {
        let Some(mut record) = self.held(item.key, holder).await? else {
            return Ok(());
        };
        record.holder = None;
        record.expires_ms = after(retry_after);
        if !counted {
            record.attempts = record.attempts.saturating_sub(1);
        }
        self.write(item.key, &record, false).await.map(drop)
    }

    async fn finish(&self, item: &ClaimItem<'_>, holder: &str) -> Result<(), ClaimError> {
        if self.held(item.key, holder).await?.is_none() {
            return Ok(());
        }
        self.delete(item.key).await
    }

    /// Deletes the claims no one wrote for a week: a live claim is renewed, a claim let go is
    /// claimed again within minutes while its object is there, so these are claims of objects
    /// that were removed from the inbox by hand.
    async fn prune(&self, _scope: &str) -> Result<(), ClaimError> {
        let cutoff = chrono::Utc::now().naive_utc() - STALE_AFTER;
        let mut stale = Vec::new();
        {
            let client = self.conn.client().await.map_err(|e| failed(&e))?;
            let mut listing =
                std::pin::pin!(client.objects(&self.container, ListOptions::default()));
            while let Some(entry) = listing.next().await {
                let entry = entry.map_err(|e| failed(&e))?;
                let ObjectEntry::Object(o) = entry else {
                    continue;
                };
                let written =
                    chrono::NaiveDateTime::parse_from_str(&o.last_modified, "%Y-%m-%dT%H:%M:%S%.f");
                if written.is_ok_and(|w| w < cutoff) {
                    stale.push(o.name);
                }
                if stale.len() >= MAX_PRUNED {
                    break;
                }
            }
        }
        for name in stale {
            self.delete(&name).await?;
        }
        Ok(())
    }
}

impl SwiftClaims {
    async fn delete(&self, key: &str) -> Result<(), ClaimError> {
        let client = self.conn.client().await.map_err(|e| failed(&e))?;
        match client.delete_object(&self.container, key).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(failed(&e)),
        }
    }
}

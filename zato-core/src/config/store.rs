//! Where a node's configuration is kept: the [`ConfigStore`] trait and its in-memory backend.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;

use serde_json::Value;

use super::document::ObjectKey;
use super::schema::Objects;

/// How many versions [`MemoryStore`] remembers unless told otherwise.
pub const DEFAULT_HISTORY: usize = 100;

/// One object as stored: its configuration, secrets included, and the version that last
/// changed it.
#[derive(Clone, PartialEq)]
pub struct Stored {
    /// The object in normal form.
    pub value: Value,
    /// The store version of its last change: its `ETag`.
    pub version: u64,
}

impl fmt::Debug for Stored {
    // The value holds secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stored")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// The configuration at one version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// The store's version: how many changes it has accepted.
    pub version: u64,
    /// Every object by address.
    pub objects: std::collections::BTreeMap<ObjectKey, Stored>,
}

impl Snapshot {
    /// The objects' values, without their versions.
    pub fn values(&self) -> Objects {
        self.objects
            .iter()
            .map(|(k, s)| (k.clone(), s.value.clone()))
            .collect()
    }
}

/// What one change did to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// It was created.
    Created,
    /// It was changed.
    Updated,
    /// It was deleted.
    Deleted,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Created => "created",
            Op::Updated => "updated",
            Op::Deleted => "deleted",
        })
    }
}

/// A change for the store to record: the version it was based on, who made it, and each object's
/// new value (`None` deletes it).
#[derive(Clone)]
pub struct Commit {
    /// The store version the change was made against.
    pub base: u64,
    /// Who made it: `admin-api`, `cli:alice@host`, `file /etc/zato/node.toml`.
    pub author: String,
    /// The objects changed.
    pub changes: Vec<(ObjectKey, Option<Value>)>,
}

impl fmt::Debug for Commit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<String> = self.changes.iter().map(|(k, _)| k.to_string()).collect();
        f.debug_struct("Commit")
            .field("base", &self.base)
            .field("author", &self.author)
            .field("changes", &keys)
            .finish()
    }
}

/// One version in the history: when, who, and what changed (never the values).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HistoryEntry {
    /// The version the change made.
    pub version: u64,
    /// When, in RFC 3339.
    pub time: String,
    /// Who.
    pub author: String,
    /// What: `updated outgoing.swift."Invoice Dispatcher"`.
    pub changes: Vec<String>,
}

/// Why the store refused or failed a commit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The change was based on an older version than the store's.
    #[error("the configuration changed meanwhile: it is at version {current}")]
    Stale {
        /// The store's version.
        current: u64,
    },
    /// The backend failed.
    #[error("the config store failed: {0}")]
    Backend(String),
}

/// Keeps a node's configuration: the current version and a short history of who changed what.
///
/// The embedded default is [`MemoryStore`]; a cluster backs it with a database that every node
/// shares. Writes are optimistic: a commit based on a version that is no longer the latest is
/// refused with [`StoreError::Stale`].
#[async_trait::async_trait]
pub trait ConfigStore: Send + Sync + fmt::Debug {
    /// The configuration now.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when it cannot be read.
    async fn load(&self) -> Result<Snapshot, StoreError>;

    /// Records a change and returns the new version.
    ///
    /// # Errors
    ///
    /// [`StoreError::Stale`] when `commit.base` is not the current version; nothing is recorded.
    async fn commit(&self, commit: Commit) -> Result<u64, StoreError>;

    /// The latest versions, newest first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when it cannot be read.
    async fn history(&self) -> Result<Vec<HistoryEntry>, StoreError>;

    /// Names the fields that hold secrets, whatever the object: the secret fields of every kind
    /// the node knows. A [`ConfigRuntime`](super::ConfigRuntime) says them as each kind is
    /// registered, before its first commit, so that a store that keeps its data elsewhere (a
    /// cluster's database) encrypts them in every row it writes. The memory store keeps nothing
    /// outside the process and ignores them.
    fn protect(&self, _fields: &[String]) {}
}

/// The in-memory store: one node's configuration, for as long as the process lives.
///
/// # Examples
///
/// ```
/// use zato_core::config::{Commit, ConfigStore, MemoryStore, ObjectKey, Section};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let key = ObjectKey::new(Section::Services, "service", "demo.ping");
/// let change = vec![(key.clone(), Some(serde_json::json!({"name": "demo.ping", "is_active": false})))];
/// let v = store.commit(Commit { base: 0, author: "me".into(), changes: change.clone() }).await?;
/// assert_eq!(v, 1);
/// assert!(store.commit(Commit { base: 0, author: "me".into(), changes: change }).await.is_err());
/// assert_eq!(store.load().await?.objects[&key].version, 1);
/// assert_eq!(store.history().await?[0].changes, ["created services.\"demo.ping\""]);
/// # Ok::<(), zato_core::config::StoreError>(())
/// # }).unwrap();
/// ```
pub struct MemoryStore {
    state: Mutex<(Snapshot, VecDeque<HistoryEntry>)>,
    max_history: usize,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let version = self.lock().0.version;
        f.debug_struct("MemoryStore")
            .field("version", &version)
            .field("max_history", &self.max_history)
            .finish()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::with_history(DEFAULT_HISTORY)
    }
}

impl MemoryStore {
    /// An empty store at version 0, remembering [`DEFAULT_HISTORY`] versions.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// An empty store remembering `max_history` versions (at least one).
    pub fn with_history(max_history: usize) -> Self {
        MemoryStore {
            state: Mutex::new((Snapshot::default(), VecDeque::new())),
            max_history: max_history.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Snapshot, VecDeque<HistoryEntry>)> {
        // Every write below completes or leaves the state as it was.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl ConfigStore for MemoryStore {
    async fn load(&self) -> Result<Snapshot, StoreError> {
        Ok(self.lock().0.clone())
    }

    async fn commit(&self, commit: Commit) -> Result<u64, StoreError> {
        let mut state = self.lock();
        let (snapshot, history) = &mut *state;
        if commit.base != snapshot.version {
            return Err(StoreError::Stale {
                current: snapshot.version,
            });
        }
        let version = snapshot.version + 1;
        let mut changes = Vec::with_capacity(commit.changes.len());
        for (key, value) in commit.changes {
            let op = match value {
                Some(value) => {
                    let op = if snapshot.objects.contains_key(&key) {
                        Op::Updated
                    } else {
                        Op::Created
                    };
                    snapshot
                        .objects
                        .insert(key.clone(), Stored { value, version });
                    op
                }
                None => {
                    if snapshot.objects.remove(&key).is_none() {
                        continue;
                    }
                    Op::Deleted
                }
            };
            changes.push(format!("{op} {key}"));
        }
        snapshot.version = version;
        history.push_front(HistoryEntry {
            version,
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            author: commit.author,
            changes,
        });
        history.truncate(self.max_history);
        Ok(version)
    }

    async fn history(&self) -> Result<Vec<HistoryEntry>, StoreError> {
        Ok(self.lock().1.iter().cloned().collect())
    }
}

/// What a node knows of the other nodes sharing its store: a cluster. The admin API shows each
/// write's acknowledgements and the cluster's state through it, and counts the node ready only
/// when it is in touch with the store.
#[async_trait::async_trait]
pub trait Replication: Send + Sync + fmt::Debug {
    /// Waits up to `limit` until every live node applied `version`; one JSON object per node:
    /// `{"node", "status": "applied" | "failed" | "not_answered", "error"?}`.
    ///
    /// # Errors
    ///
    /// The store's, when the acknowledgements cannot be read.
    async fn acks(
        &self,
        version: u64,
        limit: std::time::Duration,
    ) -> Result<Vec<Value>, StoreError>;

    /// The nodes, each with its applied version, lag, last heartbeat and last error.
    ///
    /// # Errors
    ///
    /// The store's.
    async fn status(&self) -> Result<Value, StoreError>;

    /// `Ok` when the node is in touch with the store; why not otherwise.
    ///
    /// # Errors
    ///
    /// Why the node is not ready.
    fn ready(&self) -> Result<(), String>;
}

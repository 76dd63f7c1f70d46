//! [`ClusterNode`]: one node following the cluster's configuration: it applies each new version
//! (told by `NOTIFY`, and by polling), acknowledges it, and beats its heart.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_postgres::AsyncMessage;
use zato_core::config::{ChangeError, ConfigRuntime, ConfigStore};

use crate::claims::PgClaims;
use crate::store::PgStore;

/// How often a node checks the latest version on its own, besides notifications.
pub const POLL_INTERVAL: Duration = Duration::from_secs(10);
/// How often a node says it is alive.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(2);
/// A node whose heartbeat is older is not waited for.
pub const LIVE_WITHIN: Duration = Duration::from_secs(10);
/// How long a write waits for the nodes' acknowledgements unless told otherwise.
pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(5);

/// What one node did with a version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum NodeAck {
    /// It applied it.
    Applied {
        /// The node.
        node: String,
    },
    /// It could not apply it.
    Failed {
        /// The node.
        node: String,
        /// Why.
        error: String,
    },
    /// It did not answer in time.
    NotAnswered {
        /// The node.
        node: String,
    },
}

struct Inner {
    store: Arc<PgStore>,
    runtime: ConfigRuntime,
    name: String,
    connected: AtomicBool,
    acked: AtomicU64,
    last_error: Mutex<Option<String>>,
    stop: watch::Sender<bool>,
}

/// A node of a cluster: follows the store's versions until dropped or
/// [`leave`](ClusterNode::leave)s.
#[derive(Clone)]
pub struct ClusterNode {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ClusterNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterNode")
            .field("name", &self.inner.name)
            .field("applied", &self.inner.runtime.applied_version())
            .finish_non_exhaustive()
    }
}

impl ClusterNode {
    /// Joins: registers the node under `name` (serving on `addresses`), sets the cluster's
    /// [`PgClaims`] as the platform's claim store, applies the store's configuration, and from
    /// then on follows it.
    ///
    /// # Errors
    ///
    /// The store's, when the node cannot be registered or the configuration loaded.
    pub async fn join(
        store: Arc<PgStore>,
        runtime: ConfigRuntime,
        name: impl Into<String>,
        addresses: impl Into<String>,
    ) -> Result<ClusterNode, ChangeError> {
        let name = name.into();
        store.protect(&runtime.secret_field_names());
        // A database written before every secret field was known holds some in plain text.
        let rewritten = store.reseal().await?;
        if rewritten > 0 {
            tracing::info!(
                rows = rewritten,
                "encrypted the secrets that rows of the database held in plain text"
            );
        }
        // Before the configuration is applied, so that no channel claims work elsewhere first.
        runtime
            .platform()
            .set_claims(Arc::new(PgClaims::new(store.settings().clone())));
        store.register_node(&name, &addresses.into()).await?;
        let (stop, _) = watch::channel(false);
        let node = ClusterNode {
            inner: Arc::new(Inner {
                store,
                runtime,
                name,
                connected: AtomicBool::new(true),
                acked: AtomicU64::new(0),
                last_error: Mutex::new(None),
                stop,
            }),
        };
        node.sync_and_ack().await;
        tokio::spawn(follow(node.inner.clone()));
        tracing::info!(node = %node.inner.name, version = node.inner.runtime.applied_version(), "joined the cluster");
        Ok(node)
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The store it follows.
    pub fn store(&self) -> &Arc<PgStore> {
        &self.inner.store
    }

    /// Whether it is in touch with the database now.
    pub fn is_connected(&self) -> bool {
        self.inner.connected.load(Ordering::Relaxed)
    }

    /// Stops following.
    pub fn leave(&self) {
        let _ = self.inner.stop.send(true);
    }

    async fn sync_and_ack(&self) {
        sync_and_ack(&self.inner).await;
    }

    /// Waits up to `limit` until every live node applied `version`, and says what each did.
    ///
    /// # Errors
    ///
    /// The store's, when the acknowledgements cannot be read.
    pub async fn wait_for_acks(
        &self,
        version: u64,
        limit: Duration,
    ) -> Result<Vec<NodeAck>, zato_core::config::StoreError> {
        let deadline = Instant::now() + limit;
        loop {
            let acks = self.inner.store.acks(version, LIVE_WITHIN).await?;
            let done = acks.iter().all(|(_, a)| a.is_some());
            if done || Instant::now() >= deadline {
                return Ok(acks
                    .into_iter()
                    .map(|(node, outcome)| match outcome {
                        Some(Ok(())) => NodeAck::Applied { node },
                        Some(Err(error)) => NodeAck::Failed { node, error },
                        None => NodeAck::NotAnswered { node },
                    })
                    .collect());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Applies what is new and acknowledges the version now applied.
async fn sync_and_ack(inner: &Inner) {
    let outcome = inner.runtime.sync().await;
    let applied = inner.runtime.applied_version();
    let error = match &outcome {
        Ok(_) => None,
        Err(ChangeError::ApplyFailed(e)) => Some(e.to_string()),
        Err(e) => {
            // The store could not be read: not in touch.
            inner.connected.store(false, Ordering::Relaxed);
            tracing::warn!(node = %inner.name, error = %e, "cannot read the cluster's configuration");
            return;
        }
    };
    *inner
        .last_error
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = error.clone();
    if applied > inner.acked.load(Ordering::Relaxed) || error.is_some() {
        match inner
            .store
            .ack(&inner.name, applied, error.as_deref().map_or(Ok(()), Err))
            .await
        {
            Ok(()) => {
                inner.acked.fetch_max(applied, Ordering::Relaxed);
                inner.connected.store(true, Ordering::Relaxed);
            }
            Err(e) => {
                inner.connected.store(false, Ordering::Relaxed);
                tracing::warn!(node = %inner.name, error = %e, "cannot acknowledge a version");
            }
        }
    }
}

/// Listens for new versions on a connection of its own, polls, and beats the heart; connects
/// again with backoff when the database goes away, and catches up at once when it is back.
async fn follow(inner: Arc<Inner>) {
    let mut stop = inner.stop.subscribe();
    let mut attempt = 0u32;
    loop {
        if *stop.borrow() {
            return;
        }
        let ended = listen(&inner, &mut stop).await;
        inner.connected.store(false, Ordering::Relaxed);
        match ended {
            Ok(()) => return,
            Err(e) => {
                let delay =
                    Duration::from_millis(100u64 << attempt.min(6)).min(Duration::from_secs(5));
                attempt += 1;
                tracing::warn!(node = %inner.name, error = %e, retry_in_ms = delay.as_millis() as u64, "lost the cluster database; reconnecting");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    _ = stop.changed() => return,
                }
            }
        }
        if inner.connected.load(Ordering::Relaxed) {
            attempt = 0;
        }
    }
}

/// One session of listening; `Ok` when told to stop.
async fn listen(inner: &Arc<Inner>, stop: &mut watch::Receiver<bool>) -> Result<(), String> {
    let settings = inner.store.settings().clone();
    let (client, mut connection) = tokio::time::timeout(
        settings.connect_timeout,
        tokio_postgres::connect(settings.url.expose(), tokio_postgres::NoTls),
    )
    .await
    .map_err(|_| "no connection in time".to_owned())?
    .map_err(|e| e.to_string())?;
    let (tx, mut notifications) = tokio::sync::mpsc::channel::<()>(16);
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(_)) => {
                    // A full queue already holds a wake-up: one catch-up applies them all.
                    let _ = tx.try_send(());
                }
                Ok(_) => {}
                Err(e) => return e.to_string(),
            }
        }
        "the connection closed".to_owned()
    });
    client
        .batch_execute(&format!("LISTEN \"{}\"", inner.store.channel()))
        .await
        .map_err(|e| e.to_string())?;
    inner.connected.store(true, Ordering::Relaxed);
    // Whatever was missed while away.
    sync_and_ack(inner).await;
    let mut poll = tokio::time::interval(POLL_INTERVAL);
    let mut beat = tokio::time::interval(HEARTBEAT_INTERVAL);
    let result = loop {
        tokio::select! {
            _ = stop.changed() => break Ok(()),
            got = notifications.recv() => match got {
                Some(()) => sync_and_ack(inner).await,
                None => break Err("the listening connection ended".to_owned()),
            },
            _ = poll.tick() => sync_and_ack(inner).await,
            _ = beat.tick() => {
                let error = inner.last_error.lock().unwrap_or_else(PoisonError::into_inner).clone();
                if let Err(e) = inner.store.heartbeat(&inner.name, inner.runtime.applied_version(), error.as_deref()).await {
                    inner.connected.store(false, Ordering::Relaxed);
                    tracing::warn!(node = %inner.name, error = %e, "heartbeat failed");
                } else {
                    inner.connected.store(true, Ordering::Relaxed);
                }
            }
        }
        if driver.is_finished() {
            break Err("the listening connection ended".to_owned());
        }
    };
    driver.abort();
    drop(client);
    result
}

#[async_trait::async_trait]
impl zato_core::config::Replication for ClusterNode {
    async fn acks(
        &self,
        version: u64,
        limit: Duration,
    ) -> Result<Vec<serde_json::Value>, zato_core::config::StoreError> {
        let acks = self.wait_for_acks(version, limit).await?;
        Ok(acks
            .iter()
            .map(|a| serde_json::to_value(a).unwrap_or_default())
            .collect())
    }

    async fn status(&self) -> Result<serde_json::Value, zato_core::config::StoreError> {
        let nodes = self.inner.store.nodes(LIVE_WITHIN).await?;
        let latest = self.inner.store.latest_version().await?;
        let nodes: Vec<serde_json::Value> = nodes
            .iter()
            .map(|n| {
                serde_json::json!({
                    "node": n.name,
                    "addresses": n.addresses,
                    "started": n.started,
                    "applied": n.applied,
                    "lag": n.lag,
                    "heartbeat_secs_ago": (n.heartbeat_secs_ago * 10.0).round() / 10.0,
                    "live": n.live,
                    "last_error": n.last_error,
                })
            })
            .collect();
        Ok(serde_json::json!({"version": latest, "this_node": self.inner.name, "nodes": nodes}))
    }

    fn ready(&self) -> Result<(), String> {
        if self.is_connected() {
            Ok(())
        } else {
            Err(
                "the cluster database cannot be reached; serving the last applied configuration"
                    .to_owned(),
            )
        }
    }
}

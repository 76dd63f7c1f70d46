//! [`NatsAdapter`]: the NATS channels of a platform, each a consumer of its own.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use zato_core::metrics::{Collector, Scrape};
use zato_core::{
    ChannelAdapter, ChannelError, ChannelInfo, ChannelKind, ChannelSummary, ConfigError, Platform,
};

use crate::config::NatsChannelConfig;
use crate::connection::NatsConnection;
use crate::consumer::{self, ChannelStats, Worker};

/// One channel: its configuration, counters, and its consumer when it runs.
struct Entry {
    config: Arc<NatsChannelConfig>,
    stats: Arc<ChannelStats>,
    running: Option<(watch::Sender<bool>, JoinHandle<()>)>,
}

struct Inner {
    name: String,
    platform: Platform,
    channels: Mutex<BTreeMap<String, Entry>>,
    /// Held from the start of a change to its end, so changes apply one at a time.
    changing: tokio::sync::Mutex<()>,
    serving: AtomicBool,
    stopped: AtomicBool,
}

/// The NATS channels of one platform: each consumes a subject with a client of its own, made
/// from a connection of `outgoing.nats`, and invokes its service for every message; a JetStream
/// message is acknowledged only once its service succeeded (or it was safely dead-lettered).
///
/// Created idle by [`NatsAdapter::attach`]; channels are added and changed with the
/// [`ChannelAdapter`] methods (or the config document's `channels.nats`), consume from
/// [`start`](ChannelAdapter::start) on, and finish the messages they hold on
/// [`stop`](ChannelAdapter::stop).
#[derive(Clone)]
pub struct NatsAdapter {
    inner: Arc<Inner>,
}

impl fmt::Debug for NatsAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsAdapter")
            .field("name", &self.inner.name)
            .field("channels", &self.channel_names())
            .field("serving", &self.is_serving())
            .finish()
    }
}

/// What a NATS channel has done: messages by how they were settled, and its disconnects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct NatsChannelStats {
    /// Messages delivered to it.
    pub received: u64,
    /// Messages whose service succeeded (JetStream: and that were acknowledged).
    pub acked: u64,
    /// Messages whose service failed.
    pub failed: u64,
    /// JetStream: failed messages given back to come again after `nak_delay`.
    pub naked: u64,
    /// JetStream: messages dead-lettered.
    pub dead_lettered: u64,
    /// JetStream: messages whose settlement failed; they come again.
    pub unsettled: u64,
    /// Messages over `max_bytes`, never handed to the service.
    pub too_large: u64,
    /// Core: replies sent to a message's reply subject.
    pub replies_sent: u64,
    /// Core: replies that could not be sent.
    pub replies_lost: u64,
    /// Times its client lost the server (it reconnects by itself).
    pub disconnects: u64,
    /// Whether it consumes now.
    pub consuming: bool,
}

/// How long a new or changed channel may take to begin consuming before the change returns
/// anyway (it goes on trying in the background).
const READY_WAIT: Duration = Duration::from_secs(15);

impl NatsAdapter {
    /// The adapter named `nats` on `platform`, idle, with no channel; its counters join the
    /// platform's metrics.
    ///
    /// # Errors
    ///
    /// [`ChannelError::DuplicateAdapter`] when the platform has an adapter of that name.
    pub fn attach(platform: &Platform) -> Result<NatsAdapter, ChannelError> {
        let adapter = NatsAdapter {
            inner: Arc::new(Inner {
                name: "nats".to_owned(),
                platform: platform.clone(),
                channels: Mutex::new(BTreeMap::new()),
                changing: tokio::sync::Mutex::new(()),
                serving: AtomicBool::new(false),
                stopped: AtomicBool::new(false),
            }),
        };
        platform.channels().add(Arc::new(adapter.clone()))?;
        platform.metrics().register_collector(
            "channels.nats",
            Box::new(NatsMetrics(Arc::downgrade(&adapter.inner))),
        );
        Ok(adapter)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.inner
            .channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn channel_names(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Whether the channel `name` is consuming now.
    pub fn is_consuming(&self, name: &str) -> bool {
        self.lock()
            .get(name)
            .is_some_and(|e| e.stats.consuming.load(Ordering::Relaxed))
    }

    /// What the channel `name` has done since it was created.
    pub fn stats(&self, name: &str) -> Option<NatsChannelStats> {
        self.lock().get(name).map(|e| {
            let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
            NatsChannelStats {
                received: n(&e.stats.received),
                acked: n(&e.stats.acked),
                failed: n(&e.stats.failed),
                naked: n(&e.stats.naked),
                dead_lettered: n(&e.stats.dead_lettered),
                unsettled: n(&e.stats.unsettled),
                too_large: n(&e.stats.too_large),
                replies_sent: n(&e.stats.replies_sent),
                replies_lost: n(&e.stats.replies_lost),
                disconnects: n(&e.stats.disconnects),
                consuming: e.stats.consuming.load(Ordering::Relaxed),
            }
        })
    }

    /// Starts the consumer of `name`, and waits (a bounded time) until it consumes.
    async fn launch(&self, name: &str) {
        let ready = {
            let mut map = self.lock();
            let Some(entry) = map.get_mut(name) else {
                return;
            };
            if !entry.config.is_active || entry.running.is_some() {
                return;
            }
            let info = ChannelInfo::new(
                entry.config.name.as_str(),
                crate::config::NATS_KIND,
                entry.config.data_format,
            );
            let Some(connection) = self
                .inner
                .platform
                .outgoing()
                .get::<NatsConnection>(&entry.config.connection)
            else {
                tracing::warn!(channel = %name, connection = %entry.config.connection, "nats channel not consuming: no such connection");
                return;
            };
            let worker = Arc::new(Worker {
                connection,
                config: entry.config.clone(),
                info: Arc::new(info),
                platform: self.inner.platform.clone(),
                stats: entry.stats.clone(),
            });
            let (stop_tx, stop_rx) = watch::channel(false);
            let (ready_tx, ready_rx) = oneshot::channel();
            let task = tokio::spawn(consumer::run(worker, stop_rx, ready_tx));
            entry.running = Some((stop_tx, task));
            ready_rx
        };
        match tokio::time::timeout(READY_WAIT, ready).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(why))) => {
                tracing::warn!(channel = %name, error = ?why, "nats channel not consuming yet; retrying in the background");
            }
            _ => {
                tracing::warn!(channel = %name, "nats channel not consuming after {READY_WAIT:?}; still trying");
            }
        }
    }

    /// Stops the consumer of `name`, letting it finish and settle the messages it holds.
    async fn halt(&self, name: &str) {
        let running = self.lock().get_mut(name).and_then(|e| e.running.take());
        if let Some((stop, task)) = running {
            let _ = stop.send(true);
            // The consumer bounds its own drain; this only guards against a stuck server.
            let limit = Duration::from_secs(120);
            let abort = task.abort_handle();
            if tokio::time::timeout(limit, task).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl NatsAdapter {
    /// Creates the channel `config` names, or replaces the one of that name; the config is
    /// checked already. A replaced consumer settles the messages it holds first.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] at `connection` when the platform has no such NATS connection.
    pub async fn upsert(&self, config: NatsChannelConfig) -> Result<(), ConfigError> {
        if self
            .inner
            .platform
            .outgoing()
            .get::<NatsConnection>(&config.connection)
            .is_none()
        {
            return Err(ConfigError::one(
                "connection",
                format!(
                    "no NATS connection named `{}` (outgoing.nats)",
                    config.connection
                ),
            ));
        }
        let _one_at_a_time = self.inner.changing.lock().await;
        let name = config.name.clone();
        self.halt(&name).await;
        {
            let mut map = self.lock();
            let stats = map.get(&name).map(|e| e.stats.clone()).unwrap_or_default();
            map.insert(
                name.clone(),
                Entry {
                    config: Arc::new(config),
                    stats,
                    running: None,
                },
            );
        }
        tracing::info!(channel = %name, "nats channel configured");
        if self.is_serving() {
            self.launch(&name).await;
        }
        Ok(())
    }

    /// Removes the channel `name`, once its consumer settled the messages it holds.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when there is no such channel.
    pub async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        let _one_at_a_time = self.inner.changing.lock().await;
        if !self.lock().contains_key(name) {
            return Err(ConfigError::one("", "no such channel"));
        }
        self.halt(name).await;
        self.lock().remove(name);
        tracing::info!(channel = %name, "nats channel removed");
        Ok(())
    }
}

#[async_trait]
impl ChannelAdapter for NatsAdapter {
    fn kind(&self) -> ChannelKind {
        crate::config::NATS_KIND
    }

    fn name(&self) -> &str {
        &self.inner.name
    }

    fn channels(&self) -> Vec<ChannelSummary> {
        self.lock()
            .values()
            .map(|e| {
                ChannelSummary::new(
                    crate::config::NATS_KIND,
                    e.config.name.as_str(),
                    self.name(),
                )
                .with_service(e.config.service.as_str())
                .with_active(e.config.is_active)
                .with_endpoint(match e.config.mode {
                    crate::config::NatsMode::Jetstream => format!(
                        "stream {:?} subject {:?} via {:?}",
                        e.config.stream, e.config.subject, e.config.connection
                    ),
                    _ => format!(
                        "subject {:?} via {:?}",
                        e.config.subject, e.config.connection
                    ),
                })
            })
            .collect()
    }

    fn channel_config(&self, name: &str) -> Option<serde_json::Value> {
        self.lock()
            .get(name)
            .and_then(|e| serde_json::to_value(&*e.config).ok())
    }

    async fn upsert_channel(&self, config: serde_json::Value) -> Result<(), ConfigError> {
        let (config, _) = zato_core::config::decode_as::<NatsChannelConfig>(&config, &[])?;
        ConfigError::check(config.problems())?;
        self.upsert(config).await
    }

    async fn remove_channel(&self, name: &str) -> Result<(), ConfigError> {
        self.remove(name).await
    }

    async fn start(&self) -> Result<(), ChannelError> {
        if self.inner.stopped.load(Ordering::SeqCst) {
            return Err(ChannelError::Stopped(self.inner.name.clone()));
        }
        if self.inner.serving.swap(true, Ordering::SeqCst) {
            return Err(ChannelError::AlreadyServing(self.inner.name.clone()));
        }
        let _one_at_a_time = self.inner.changing.lock().await;
        let names = self.channel_names();
        futures_util::future::join_all(names.iter().map(|n| self.launch(n))).await;
        Ok(())
    }

    fn is_serving(&self) -> bool {
        self.inner.serving.load(Ordering::SeqCst)
    }

    async fn stop(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        let _one_at_a_time = self.inner.changing.lock().await;
        self.inner.serving.store(false, Ordering::SeqCst);
        let names = self.channel_names();
        futures_util::future::join_all(names.iter().map(|n| self.halt(n))).await;
    }
}

/// The channels' counters, read at each scrape.
#[derive(Debug)]
struct NatsMetrics(Weak<Inner>);

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner").field("name", &self.name).finish()
    }
}

impl Collector for NatsMetrics {
    fn collect(&self, scrape: &mut Scrape) {
        let Some(inner) = self.0.upgrade() else {
            return;
        };
        let messages = scrape.counters(
            "nats_channel_messages",
            "Messages a NATS channel received, and how each was settled",
        );
        let disconnects = scrape.counters(
            "nats_channel_disconnects",
            "Times a NATS channel's client lost the server",
        );
        let consuming = scrape.gauges(
            "nats_channel_consuming",
            "Whether a NATS channel is consuming now (1) or not (0)",
        );
        let map = inner
            .channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (name, e) in map.iter() {
            let channel = || ("channel", Cow::Owned(name.clone()));
            for (outcome, value) in [
                ("received", &e.stats.received),
                ("acked", &e.stats.acked),
                ("failed", &e.stats.failed),
                ("naked", &e.stats.naked),
                ("dead_lettered", &e.stats.dead_lettered),
                ("unsettled", &e.stats.unsettled),
                ("too_large", &e.stats.too_large),
                ("replies_sent", &e.stats.replies_sent),
                ("replies_lost", &e.stats.replies_lost),
            ] {
                messages
                    .get_or_create(&vec![channel(), ("outcome", Cow::Borrowed(outcome))])
                    .inc_by(value.load(Ordering::Relaxed));
            }
            disconnects
                .get_or_create(&vec![channel()])
                .inc_by(e.stats.disconnects.load(Ordering::Relaxed));
            consuming
                .get_or_create(&vec![channel()])
                .set(i64::from(e.stats.consuming.load(Ordering::Relaxed)));
        }
    }
}

//! [`Amqp10Adapter`]: the AMQP 1.0 channels of a platform, each a consumer of its own.

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

use crate::config::Amqp10ChannelConfig;
use crate::connection::Amqp10Connection;
use crate::consumer::{self, ChannelStats, Worker};

/// One channel: its configuration, counters, and its consumer when it runs.
struct Entry {
    config: Arc<Amqp10ChannelConfig>,
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

/// The AMQP 1.0 channels of one platform: each consumes an address with a connection of its own,
/// made from a connection of `outgoing.amqp10`, and invokes its service for every message; a
/// message is accepted only once its service succeeded (or it was safely dead-lettered).
///
/// Created idle by [`Amqp10Adapter::attach`]; channels are added and changed with the
/// [`ChannelAdapter`] methods (or the config document's `channels.amqp10`), consume from
/// [`start`](ChannelAdapter::start) on, and finish the messages they hold on
/// [`stop`](ChannelAdapter::stop).
#[derive(Clone)]
pub struct Amqp10Adapter {
    inner: Arc<Inner>,
}

impl fmt::Debug for Amqp10Adapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Amqp10Adapter")
            .field("name", &self.inner.name)
            .field("channels", &self.channel_names())
            .field("serving", &self.is_serving())
            .finish()
    }
}

/// What an AMQP 1.0 channel has done: messages by how they were settled, and its disconnects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Amqp10ChannelStats {
    /// Messages delivered to it.
    pub received: u64,
    /// Messages whose service succeeded and that were accepted.
    pub acked: u64,
    /// Messages whose service failed.
    pub failed: u64,
    /// Failed messages given back (modified, delivery-failed) to come again.
    pub redelivered: u64,
    /// Messages rejected for the broker's dead-lettering, or sent to `dead_letter_address`.
    pub dead_lettered: u64,
    /// Messages whose settlement failed; they come again.
    pub unsettled: u64,
    /// Messages over `max_bytes`, never handed to the service.
    pub too_large: u64,
    /// Replies sent to a message's `reply-to`.
    pub replies_sent: u64,
    /// Replies that could not be sent.
    pub replies_lost: u64,
    /// Times its connection to the broker was lost (it reconnects with backoff).
    pub disconnects: u64,
    /// Whether it consumes now.
    pub consuming: bool,
}

/// How long a new or changed channel may take to begin consuming before the change returns
/// anyway (it goes on trying in the background).
const READY_WAIT: Duration = Duration::from_secs(15);

impl Amqp10Adapter {
    /// The adapter named `amqp10` on `platform`, idle, with no channel; its counters join the
    /// platform's metrics.
    ///
    /// # Errors
    ///
    /// [`ChannelError::DuplicateAdapter`] when the platform has an adapter of that name.
    pub fn attach(platform: &Platform) -> Result<Amqp10Adapter, ChannelError> {
        let adapter = Amqp10Adapter {
            inner: Arc::new(Inner {
                name: "amqp10".to_owned(),
                platform: platform.clone(),
                channels: Mutex::new(BTreeMap::new()),
                changing: tokio::sync::Mutex::new(()),
                serving: AtomicBool::new(false),
                stopped: AtomicBool::new(false),
            }),
        };
        platform.channels().add(Arc::new(adapter.clone()))?;
        platform.metrics().register_collector(
            "channels.amqp10",
            Box::new(Amqp10Metrics(Arc::downgrade(&adapter.inner))),
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
    pub fn stats(&self, name: &str) -> Option<Amqp10ChannelStats> {
        self.lock().get(name).map(|e| {
            let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
            Amqp10ChannelStats {
                received: n(&e.stats.received),
                acked: n(&e.stats.acked),
                failed: n(&e.stats.failed),
                redelivered: n(&e.stats.redelivered),
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
                crate::config::AMQP10_KIND,
                entry.config.data_format,
            );
            let Some(connection) = self
                .inner
                .platform
                .outgoing()
                .get::<Amqp10Connection>(&entry.config.connection)
            else {
                tracing::warn!(channel = %name, connection = %entry.config.connection, "amqp10 channel not consuming: no such connection");
                return;
            };
            let worker = Arc::new(Worker {
                connection,
                config: entry.config.clone(),
                info: Arc::new(info),
                platform: self.inner.platform.clone(),
                stats: entry.stats.clone(),
                failures: Mutex::new(std::collections::HashMap::new()),
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
                tracing::warn!(channel = %name, error = ?why, "amqp10 channel not consuming yet; retrying in the background");
            }
            _ => {
                tracing::warn!(channel = %name, "amqp10 channel not consuming after {READY_WAIT:?}; still trying");
            }
        }
    }

    /// Stops the consumer of `name`, letting it finish and settle the messages it holds.
    async fn halt(&self, name: &str) {
        let running = self.lock().get_mut(name).and_then(|e| e.running.take());
        if let Some((stop, task)) = running {
            let _ = stop.send(true);
            // The consumer bounds its own drain; this only guards against a stuck broker.
            let limit = Duration::from_secs(120);
            let abort = task.abort_handle();
            if tokio::time::timeout(limit, task).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl Amqp10Adapter {
    /// Creates the channel `config` names, or replaces the one of that name; the config is
    /// checked already. A replaced consumer settles the messages it holds first.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] at `connection` when the platform has no such AMQP 1.0 connection.
    pub async fn upsert(&self, config: Amqp10ChannelConfig) -> Result<(), ConfigError> {
        if self
            .inner
            .platform
            .outgoing()
            .get::<Amqp10Connection>(&config.connection)
            .is_none()
        {
            return Err(ConfigError::one(
                "connection",
                format!(
                    "no AMQP 1.0 connection named `{}` (outgoing.amqp10)",
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
        tracing::info!(channel = %name, "amqp10 channel configured");
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
        tracing::info!(channel = %name, "amqp10 channel removed");
        Ok(())
    }
}

#[async_trait]
impl ChannelAdapter for Amqp10Adapter {
    fn kind(&self) -> ChannelKind {
        crate::config::AMQP10_KIND
    }

    fn name(&self) -> &str {
        &self.inner.name
    }

    fn channels(&self) -> Vec<ChannelSummary> {
        self.lock()
            .values()
            .map(|e| {
                ChannelSummary::new(
                    crate::config::AMQP10_KIND,
                    e.config.name.as_str(),
                    self.name(),
                )
                .with_service(e.config.service.as_str())
                .with_active(e.config.is_active)
                .with_endpoint(format!(
                    "address {:?} via {:?}",
                    e.config.address, e.config.connection
                ))
            })
            .collect()
    }

    fn channel_config(&self, name: &str) -> Option<serde_json::Value> {
        self.lock()
            .get(name)
            .and_then(|e| serde_json::to_value(&*e.config).ok())
    }

    async fn upsert_channel(&self, config: serde_json::Value) -> Result<(), ConfigError> {
        let (config, _) = zato_core::config::decode_as::<Amqp10ChannelConfig>(&config, &[])?;
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
struct Amqp10Metrics(Weak<Inner>);

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner").field("name", &self.name).finish()
    }
}

impl Collector for Amqp10Metrics {
    fn collect(&self, scrape: &mut Scrape) {
        let Some(inner) = self.0.upgrade() else {
            return;
        };
        let messages = scrape.counters(
            "amqp10_channel_messages",
            "Messages an AMQP 1.0 channel received, and how each was settled",
        );
        let disconnects = scrape.counters(
            "amqp10_channel_disconnects",
            "Times an AMQP 1.0 channel lost its broker",
        );
        let consuming = scrape.gauges(
            "amqp10_channel_consuming",
            "Whether an AMQP 1.0 channel is consuming now (1) or not (0)",
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
                ("redelivered", &e.stats.redelivered),
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

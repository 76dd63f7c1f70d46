//! [`RedisStreamAdapter`]: the Redis Streams channels of a platform, each a consumer of its own.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use zato_core::metrics::{Collector, Scrape};
use zato_core::{
    ChannelAdapter, ChannelError, ChannelInfo, ChannelKind, ChannelSummary, ConfigError, Platform,
};

use crate::config::RedisStreamConfig;
use crate::connection::RedisConnection;
use crate::consumer::{self, ChannelStats, Worker};

/// The channel kind of Redis Streams channels.
pub const REDIS_STREAM_KIND: ChannelKind = ChannelKind::new("redis_stream");

/// How long a new or changed channel may take to begin consuming before the change returns.
const READY_WAIT: Duration = Duration::from_secs(15);

struct Entry {
    config: Arc<RedisStreamConfig>,
    stats: Arc<ChannelStats>,
    running: Option<(watch::Sender<bool>, JoinHandle<()>)>,
}

struct Inner {
    platform: Platform,
    channels: Mutex<BTreeMap<String, Entry>>,
    changing: tokio::sync::Mutex<()>,
    serving: AtomicBool,
    stopped: AtomicBool,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner").finish_non_exhaustive()
    }
}

/// The Redis Streams channels of one platform (`channels.redis_stream`): each reads its stream
/// as a consumer of its group through a connection of `outgoing.redis`, and acknowledges an
/// entry only once its service succeeded or it was dead-lettered.
#[derive(Clone)]
pub struct RedisStreamAdapter {
    inner: Arc<Inner>,
}

impl fmt::Debug for RedisStreamAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStreamAdapter")
            .field("channels", &self.lock().keys().collect::<Vec<_>>())
            .field("serving", &self.is_serving())
            .finish()
    }
}

/// What a Redis Streams channel has done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RedisStreamStats {
    /// Entries handed to it (read, or claimed).
    pub received: u64,
    /// Entries acknowledged after their service succeeded.
    pub acked: u64,
    /// Failures left pending, to be claimed again after `claim_idle`.
    pub failed: u64,
    /// Entries dead-lettered.
    pub dead_lettered: u64,
    /// Entries claimed from idle consumers (itself included, for a retry).
    pub claimed: u64,
    /// Entries whose settlement failed: they stay pending.
    pub unsettled: u64,
    /// Times it lost its server and connected again.
    pub reconnects: u64,
    /// Whether it consumes now.
    pub consuming: bool,
}

impl RedisStreamAdapter {
    /// The adapter on `platform`, idle, with no channel; its counters join the metrics.
    ///
    /// # Errors
    ///
    /// [`ChannelError::DuplicateAdapter`] when the platform has one already.
    pub fn attach(platform: &Platform) -> Result<RedisStreamAdapter, ChannelError> {
        let adapter = RedisStreamAdapter {
            inner: Arc::new(Inner {
                platform: platform.clone(),
                channels: Mutex::new(BTreeMap::new()),
                changing: tokio::sync::Mutex::new(()),
                serving: AtomicBool::new(false),
                stopped: AtomicBool::new(false),
            }),
        };
        platform.channels().add(Arc::new(adapter.clone()))?;
        platform.metrics().register_collector(
            "channels.redis_stream",
            Box::new(Metrics(Arc::downgrade(&adapter.inner))),
        );
        Ok(adapter)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.inner
            .channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// What the channel `name` has done since it was created.
    pub fn stats(&self, name: &str) -> Option<RedisStreamStats> {
        self.lock().get(name).map(|e| snapshot(&e.stats))
    }

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
                REDIS_STREAM_KIND,
                entry.config.data_format,
            );
            let worker = Arc::new(Worker {
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
                tracing::warn!(channel = %name, error = %why, "redis stream channel not consuming yet; retrying in the background");
            }
            _ => {
                tracing::warn!(channel = %name, "redis stream channel not consuming after {READY_WAIT:?}; still trying");
            }
        }
    }

    async fn halt(&self, name: &str) {
        let running = self.lock().get_mut(name).and_then(|e| e.running.take());
        if let Some((stop, task)) = running {
            let _ = stop.send(true);
            let limit = self
                .lock()
                .get(name)
                .map_or(Duration::from_secs(60), |e| e.config.timeout_duration())
                + Duration::from_secs(30);
            let abort = task.abort_handle();
            if tokio::time::timeout(limit, task).await.is_err() {
                // What it held stays pending for this consumer, read first on its next start.
                abort.abort();
            }
        }
    }

    /// Creates the channel `config` names, or replaces the one of that name; the config is
    /// checked already. A replaced consumer settles the entries it holds first.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] at `connection` when the platform has no such Redis connection.
    pub async fn upsert(&self, config: RedisStreamConfig) -> Result<(), ConfigError> {
        if self
            .inner
            .platform
            .outgoing()
            .get::<RedisConnection>(&config.connection)
            .is_none()
        {
            return Err(ConfigError::one(
                "connection",
                format!(
                    "no Redis connection named `{}` (outgoing.redis)",
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
        tracing::info!(channel = %name, "redis stream channel configured");
        if self.is_serving() {
            self.launch(&name).await;
        }
        Ok(())
    }

    /// Removes the channel `name`, once its consumer settled the entries it holds.
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
        tracing::info!(channel = %name, "redis stream channel removed");
        Ok(())
    }
}

fn snapshot(s: &ChannelStats) -> RedisStreamStats {
    let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
    RedisStreamStats {
        received: n(&s.received),
        acked: n(&s.acked),
        failed: n(&s.failed),
        dead_lettered: n(&s.dead_lettered),
        claimed: n(&s.claimed),
        unsettled: n(&s.unsettled),
        reconnects: n(&s.reconnects),
        consuming: s.consuming.load(Ordering::Relaxed),
    }
}

#[async_trait]
impl ChannelAdapter for RedisStreamAdapter {
    fn kind(&self) -> ChannelKind {
        REDIS_STREAM_KIND
    }

    fn name(&self) -> &str {
        "redis_stream"
    }

    fn channels(&self) -> Vec<ChannelSummary> {
        self.lock()
            .values()
            .map(|e| {
                ChannelSummary::new(REDIS_STREAM_KIND, e.config.name.as_str(), self.name())
                    .with_service(e.config.service.as_str())
                    .with_active(e.config.is_active)
                    .with_endpoint(format!(
                        "stream {:?} group {:?} via {:?}",
                        e.config.stream, e.config.group, e.config.connection
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
        let (config, _) = zato_core::config::decode_as::<RedisStreamConfig>(&config, &[])?;
        ConfigError::check(config.problems())?;
        self.upsert(config).await
    }

    async fn remove_channel(&self, name: &str) -> Result<(), ConfigError> {
        self.remove(name).await
    }

    async fn start(&self) -> Result<(), ChannelError> {
        if self.inner.stopped.load(Ordering::SeqCst) {
            return Err(ChannelError::Stopped(self.name().to_owned()));
        }
        if self.inner.serving.swap(true, Ordering::SeqCst) {
            return Err(ChannelError::AlreadyServing(self.name().to_owned()));
        }
        let _one_at_a_time = self.inner.changing.lock().await;
        let names: Vec<String> = self.lock().keys().cloned().collect();
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
        let names: Vec<String> = self.lock().keys().cloned().collect();
        futures_util::future::join_all(names.iter().map(|n| self.halt(n))).await;
    }
}

/// The channels' counters, read at each scrape.
#[derive(Debug)]
struct Metrics(Weak<Inner>);

impl Collector for Metrics {
    fn collect(&self, scrape: &mut Scrape) {
        let Some(inner) = self.0.upgrade() else {
            return;
        };
        let messages = scrape.counters(
            "redis_stream_channel_messages",
            "Entries a Redis Streams channel received, and how each was settled",
        );
        let reconnects = scrape.counters(
            "redis_stream_channel_reconnects",
            "Times a Redis Streams channel lost its server and connected again",
        );
        let consuming = scrape.gauges(
            "redis_stream_channel_consuming",
            "Whether a Redis Streams channel is consuming now (1) or not (0)",
        );
        let map = inner
            .channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (name, e) in map.iter() {
            let s = snapshot(&e.stats);
            let channel = || ("channel", Cow::Owned(name.clone()));
            for (outcome, value) in [
                ("received", s.received),
                ("acked", s.acked),
                ("failed", s.failed),
                ("dead_lettered", s.dead_lettered),
                ("claimed", s.claimed),
                ("unsettled", s.unsettled),
            ] {
                messages
                    .get_or_create(&vec![channel(), ("outcome", Cow::Borrowed(outcome))])
                    .inc_by(value);
            }
            reconnects
                .get_or_create(&vec![channel()])
                .inc_by(s.reconnects);
            consuming
                .get_or_create(&vec![channel()])
                .set(i64::from(s.consuming));
        }
    }
}

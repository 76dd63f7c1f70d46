//! [`SwiftInboxAdapter`]: the Swift inbox channels of a platform, each a poller of its own.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zato_core::metrics::Labels;
use zato_core::metrics::prometheus_client::collector::Collector;
use zato_core::metrics::prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use zato_core::metrics::prometheus_client::metrics::counter::Counter;
use zato_core::metrics::prometheus_client::metrics::family::Family;
use zato_core::metrics::prometheus_client::metrics::gauge::Gauge;
use zato_core::{ChannelAdapter, ChannelError, ChannelKind, ChannelSummary, ConfigError, Platform};
use zato_swift::SwiftConnection;

use super::config::SwiftInboxConfig;
use super::poller::{self, InboxStats, Worker};

/// One channel: its configuration, counters, and its poller when it runs.
struct Entry {
    config: Arc<SwiftInboxConfig>,
    stats: Arc<InboxStats>,
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

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner").field("name", &self.name).finish()
    }
}

/// The Swift inbox channels of one platform: each polls a container and invokes its service
/// for every object in it (see [the module](super)).
///
/// Created idle by [`SwiftInboxAdapter::attach`]; channels are added and changed with the
/// [`ChannelAdapter`] methods (or the config document's `channels.swift_inbox`), poll from
/// [`start`](ChannelAdapter::start) on, and finish the objects they hold on
/// [`stop`](ChannelAdapter::stop).
#[derive(Clone)]
pub struct SwiftInboxAdapter {
    inner: Arc<Inner>,
}

impl fmt::Debug for SwiftInboxAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SwiftInboxAdapter")
            .field("name", &self.inner.name)
            .field("channels", &self.channel_names())
            .field("serving", &self.is_serving())
            .finish()
    }
}

/// What a Swift inbox channel has done since it was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SwiftInboxStats {
    /// Passes over the inbox that read it to the end (or until stopped).
    pub polls: u64,
    /// Passes that failed (Swift or the claim store unreachable).
    pub poll_errors: u64,
    /// Objects this node claimed.
    pub claimed: u64,
    /// Objects another holder had claimed.
    pub contended: u64,
    /// Objects whose service succeeded, archived or deleted.
    pub succeeded: u64,
    /// Failed attempts let go to be tried again.
    pub retried: u64,
    /// Objects moved to the error container after their last attempt.
    pub failed: u64,
    /// Objects moved to the error container as malformed.
    pub malformed: u64,
    /// Objects found gone when read.
    pub gone: u64,
    /// Attempts cut short by Swift (reading or moving), not counted.
    pub storage_errors: u64,
    /// Claims that ran out while their object was handled.
    pub leases_lost: u64,
    /// Objects being handled now.
    pub in_flight: u64,
    /// Whether it polls now.
    pub polling: bool,
}

impl SwiftInboxAdapter {
    /// The adapter named `swift_inbox` on `platform`, idle, with no channel; its counters join
    /// the platform's metrics.
    ///
    /// # Errors
    ///
    /// [`ChannelError::DuplicateAdapter`] when the platform has an adapter of that name.
    pub fn attach(platform: &Platform) -> Result<SwiftInboxAdapter, ChannelError> {
        let adapter = SwiftInboxAdapter {
            inner: Arc::new(Inner {
                name: "swift_inbox".to_owned(),
                platform: platform.clone(),
                channels: Mutex::new(BTreeMap::new()),
                changing: tokio::sync::Mutex::new(()),
                serving: AtomicBool::new(false),
                stopped: AtomicBool::new(false),
            }),
        };
        platform.channels().add(Arc::new(adapter.clone()))?;
        platform.metrics().register_collector(
            "channels.swift_inbox",
            Box::new(InboxMetrics(Arc::downgrade(&adapter.inner))),
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

    /// The configuration of the channel `name`.
    pub fn channel(&self, name: &str) -> Option<Arc<SwiftInboxConfig>> {
        self.lock().get(name).map(|e| e.config.clone())
    }

    /// What the channel `name` has done since it was created.
    pub fn stats(&self, name: &str) -> Option<SwiftInboxStats> {
        self.lock().get(name).map(|e| {
            let s = &e.stats;
            let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
            SwiftInboxStats {
                polls: n(&s.polls),
                poll_errors: n(&s.poll_errors),
                claimed: n(&s.claimed),
                contended: n(&s.contended),
                succeeded: n(&s.succeeded),
                retried: n(&s.retried),
                failed: n(&s.failed),
                malformed: n(&s.malformed),
                gone: n(&s.gone),
                storage_errors: n(&s.storage_errors),
                leases_lost: n(&s.leases_lost),
                in_flight: n(&s.in_flight),
                polling: s.polling.load(Ordering::Relaxed),
            }
        })
    }

    /// Starts the poller of `name`.
    fn launch(&self, name: &str) {
        let mut map = self.lock();
        let Some(entry) = map.get_mut(name) else {
            return;
        };
        if !entry.config.is_active || entry.running.is_some() {
            return;
        }
        let worker = Arc::new(Worker::new(
            entry.config.clone(),
            self.inner.platform.clone(),
            entry.stats.clone(),
        ));
        let (stop_tx, stop_rx) = watch::channel(false);
        let drain = drain_limit(&entry.config);
        let task = tokio::spawn(poller::run(worker, stop_rx, drain));
        entry.running = Some((stop_tx, task));
        tracing::info!(channel = %name, container = %entry.config.container, "swift inbox polling");
    }

    /// Stops the poller of `name`: it polls no more at once, and finishes the objects it holds.
    async fn halt(&self, name: &str) {
        let running = self.lock().get_mut(name).and_then(|e| e.running.take());
        if let Some((stop, task)) = running {
            let _ = stop.send(true);
            let abort = task.abort_handle();
            // The poller bounds its own drain; this only guards against a stuck task.
            let limit = self
                .channel(name)
                .map_or(Duration::from_secs(120), |c| drain_limit(&c))
                + Duration::from_secs(10);
            if tokio::time::timeout(limit, task).await.is_err() {
                abort.abort();
            }
        }
    }
}

/// How long a stopping channel waits for the objects it holds: one service timeout and the
/// time to move an object.
fn drain_limit(config: &SwiftInboxConfig) -> Duration {
    config.timeout_duration() + Duration::from_secs(30)
}

#[async_trait]
impl ChannelAdapter for SwiftInboxAdapter {
    fn kind(&self) -> ChannelKind {
        ChannelKind::SwiftInbox
    }

    fn name(&self) -> &str {
        &self.inner.name
    }

    fn channels(&self) -> Vec<ChannelSummary> {
        self.lock()
            .values()
            .map(|e| {
                let c = &e.config;
                ChannelSummary::new(ChannelKind::SwiftInbox, c.name.as_str(), self.name())
                    .with_service(c.service.as_str())
                    .with_active(c.is_active)
                    .with_endpoint(format!(
                        "container {:?} via {:?}",
                        c.container, c.connection
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
        let config: SwiftInboxConfig =
            serde_json::from_value(config).map_err(|e| ConfigError::one("", e.to_string()))?;
        ConfigError::check(config.problems())?;
        if self
            .inner
            .platform
            .outgoing()
            .get::<SwiftConnection>(&config.connection)
            .is_none()
        {
            return Err(ConfigError::one(
                "connection",
                format!(
                    "no Swift connection named `{}` (outgoing.swift)",
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
        tracing::info!(channel = %name, "swift inbox channel configured");
        if self.is_serving() {
            self.launch(&name);
        }
        Ok(())
    }

    async fn remove_channel(&self, name: &str) -> Result<(), ConfigError> {
        let _one_at_a_time = self.inner.changing.lock().await;
        if !self.lock().contains_key(name) {
            return Err(ConfigError::one("", "no such channel"));
        }
        self.halt(name).await;
        self.lock().remove(name);
        tracing::info!(channel = %name, "swift inbox channel removed");
        Ok(())
    }

    async fn start(&self) -> Result<(), ChannelError> {
        if self.inner.stopped.load(Ordering::SeqCst) {
            return Err(ChannelError::Stopped(self.inner.name.clone()));
        }
        if self.inner.serving.swap(true, Ordering::SeqCst) {
            return Err(ChannelError::AlreadyServing(self.inner.name.clone()));
        }
        let _one_at_a_time = self.inner.changing.lock().await;
        for name in self.channel_names() {
            self.launch(&name);
        }
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
struct InboxMetrics(Weak<Inner>);

impl Collector for InboxMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let Some(inner) = self.0.upgrade() else {
            return Ok(());
        };
        let objects = Family::<Labels, Counter>::default();
        let polls = Family::<Labels, Counter>::default();
        let in_flight = Family::<Labels, Gauge>::default();
        {
            let map = inner
                .channels
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for (name, e) in map.iter() {
                let s = &e.stats;
                let channel = || ("channel", Cow::Owned(name.clone()));
                for (outcome, value) in [
                    ("claimed", &s.claimed),
                    ("contended", &s.contended),
                    ("succeeded", &s.succeeded),
                    ("retried", &s.retried),
                    ("failed", &s.failed),
                    ("malformed", &s.malformed),
                    ("gone", &s.gone),
                    ("storage_error", &s.storage_errors),
                    ("lease_lost", &s.leases_lost),
                ] {
                    objects
                        .get_or_create(&vec![channel(), ("outcome", Cow::Borrowed(outcome))])
                        .inc_by(value.load(Ordering::Relaxed));
                }
                for (outcome, value) in [("ok", &s.polls), ("failed", &s.poll_errors)] {
                    polls
                        .get_or_create(&vec![channel(), ("outcome", Cow::Borrowed(outcome))])
                        .inc_by(value.load(Ordering::Relaxed));
                }
                in_flight
                    .get_or_create(&vec![channel()])
                    .set(i64::try_from(s.in_flight.load(Ordering::Relaxed)).unwrap_or(i64::MAX));
            }
        }
        let m = encoder.encode_descriptor(
            "swift_inbox_objects",
            "Objects of a Swift inbox channel, by what became of them",
            None,
            objects.metric_type(),
        )?;
        objects.encode(m)?;
        let m = encoder.encode_descriptor(
            "swift_inbox_polls",
            "Passes of a Swift inbox channel over its container",
            None,
            polls.metric_type(),
        )?;
        polls.encode(m)?;
        let m = encoder.encode_descriptor(
            "swift_inbox_in_flight",
            "Objects a Swift inbox channel is handling now",
            None,
            in_flight.metric_type(),
        )?;
        in_flight.encode(m)
    }
}

//! [`SwiftInboxAdapter`]: the Swift inbox channels of a platform, each a poller of its own.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zato_core::metrics::{Collector, Scrape};
use zato_core::tasks::ChannelTasks;
use zato_core::{ChannelAdapter, ChannelError, ChannelKind, ChannelSummary, ConfigError, Platform};
use zato_swift::SwiftConnection;

use super::config::SwiftInboxConfig;
use super::poller::{self, InboxStats, Worker};

struct Inner {
    platform: Platform,
    tasks: ChannelTasks<SwiftInboxConfig, InboxStats>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner").field("tasks", &self.tasks).finish()
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
            .field("tasks", &self.inner.tasks)
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
    /// Objects left in the inbox because no Swift request can name them (`.`, `..`, `a/../b`,
    /// a control character, over 1024 bytes): each counted once, the first time a pass sees it
    /// after the channel started polling (an edit that restarts it counts them again).
    pub skipped: u64,
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
                platform: platform.clone(),
                tasks: ChannelTasks::new("swift_inbox"),
            }),
        };
        platform.channels().add(Arc::new(adapter.clone()))?;
        platform.metrics().register_collector(
            "channels.swift_inbox",
            Box::new(InboxMetrics(Arc::downgrade(&adapter.inner))),
        );
        Ok(adapter)
    }

    /// The configuration of the channel `name`.
    pub fn channel(&self, name: &str) -> Option<Arc<SwiftInboxConfig>> {
        self.inner.tasks.get(name).map(|(config, _)| config)
    }

    /// What the channel `name` has done since it was created.
    pub fn stats(&self, name: &str) -> Option<SwiftInboxStats> {
        self.inner.tasks.get(name).map(|(_, s)| {
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
                skipped: n(&s.skipped),
                storage_errors: n(&s.storage_errors),
                leases_lost: n(&s.leases_lost),
                in_flight: n(&s.in_flight),
                polling: s.polling.load(Ordering::Relaxed),
            }
        })
    }

    /// Starts a channel's poller.
    fn launcher(
        &self,
    ) -> impl Fn(Arc<SwiftInboxConfig>, Arc<InboxStats>, watch::Receiver<bool>) -> JoinHandle<()>
    + Send
    + Sync
    + use<> {
        let platform = self.inner.platform.clone();
        move |config, stats, stop| {
            tracing::info!(channel = %config.name, container = %config.container, "swift inbox polling");
            let drain = drain_limit(&config);
            let worker = Arc::new(Worker::new(config, platform.clone(), stats));
            tokio::spawn(poller::run(worker, stop, drain))
        }
    }
}

/// How long a stopping channel waits for the objects it holds: one service timeout and the
/// time to move an object.
fn drain_limit(config: &SwiftInboxConfig) -> Duration {
    config.timeout_duration() + Duration::from_secs(30)
}

impl SwiftInboxAdapter {
    /// Creates the channel `config` names, or replaces the one of that name; the config is
    /// checked already.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] at `connection` when the platform has no such Swift connection.
    pub async fn upsert(&self, config: SwiftInboxConfig) -> Result<(), ConfigError> {
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
        let name = config.name.clone();
        let limit = drain_limit(&config) + Duration::from_secs(10);
        let launch = self.launcher();
        self.inner
            .tasks
            .upsert(&name, config, limit, |c| c.is_active, &launch)
            .await;
        tracing::info!(channel = %name, "swift inbox channel configured");
        Ok(())
    }

    /// Removes the channel `name`; the objects it is handling finish.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when there is no such channel.
    pub async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        let limit = self
            .channel(name)
            .map_or(Duration::from_secs(120), |c| drain_limit(&c))
            + Duration::from_secs(10);
        if !self.inner.tasks.remove(name, limit).await {
            return Err(ConfigError::one("", "no such channel"));
        }
        tracing::info!(channel = %name, "swift inbox channel removed");
        Ok(())
    }
}

#[async_trait]
impl ChannelAdapter for SwiftInboxAdapter {
    fn kind(&self) -> ChannelKind {
        super::config::SWIFT_INBOX_KIND
    }

    fn name(&self) -> &str {
        self.inner.tasks.adapter()
    }

    fn channels(&self) -> Vec<ChannelSummary> {
        self.inner.tasks.map(|_, c, _| {
            ChannelSummary::new(
                super::config::SWIFT_INBOX_KIND,
                c.name.as_str(),
                self.name(),
            )
            .with_service(c.service.as_str())
            .with_active(c.is_active)
            .with_endpoint(format!(
                "container {:?} via {:?}",
                c.container, c.connection
            ))
        })
    }

    fn channel_config(&self, name: &str) -> Option<serde_json::Value> {
        self.channel(name)
            .and_then(|c| serde_json::to_value(&*c).ok())
    }

    async fn upsert_channel(&self, config: serde_json::Value) -> Result<(), ConfigError> {
        let (config, _) = zato_core::config::decode_as::<SwiftInboxConfig>(&config, &[])?;
        ConfigError::check(config.problems())?;
        self.upsert(config).await
    }

    async fn remove_channel(&self, name: &str) -> Result<(), ConfigError> {
        self.remove(name).await
    }

    async fn start(&self) -> Result<(), ChannelError> {
        let launch = self.launcher();
        self.inner.tasks.start(|c| c.is_active, &launch).await
    }

    fn is_serving(&self) -> bool {
        self.inner.tasks.is_serving()
    }

    async fn stop(&self) {
        // Each poller bounds its own drain by its channel's timeout; this bounds a stuck one.
        self.inner.tasks.stop(Duration::from_secs(24 * 3600)).await;
    }
}

/// The channels' counters, read at each scrape.
#[derive(Debug)]
struct InboxMetrics(Weak<Inner>);

impl Collector for InboxMetrics {
    fn collect(&self, scrape: &mut Scrape) {
        let Some(inner) = self.0.upgrade() else {
            return;
        };
        let objects = scrape.counters(
            "swift_inbox_objects",
            "Objects of a Swift inbox channel, by what became of them",
        );
        let polls = scrape.counters(
            "swift_inbox_polls",
            "Passes of a Swift inbox channel over its container",
        );
        let in_flight = scrape.gauges(
            "swift_inbox_in_flight",
            "Objects a Swift inbox channel is handling now",
        );
        inner.tasks.map(|name, _, s| {
            let channel = || ("channel", Cow::Owned(name.to_owned()));
            for (outcome, value) in [
                ("claimed", &s.claimed),
                ("contended", &s.contended),
                ("succeeded", &s.succeeded),
                ("retried", &s.retried),
                ("failed", &s.failed),
                ("malformed", &s.malformed),
                ("gone", &s.gone),
                ("skipped", &s.skipped),
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
        });
    }
}

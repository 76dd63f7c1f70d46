//! [`SqlOutboxAdapter`]: the outbox channels of a platform, each a poller of its own.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zato_core::metrics::{Collector, Scrape};
use zato_core::tasks::ChannelTasks;
use zato_core::{ChannelAdapter, ChannelError, ChannelKind, ChannelSummary, ConfigError, Platform};

use super::config::{SQL_OUTBOX_KIND, SqlOutboxConfig};
use super::poller;
use crate::SqlConnection;

/// The counters of one channel, kept across its changes.
#[derive(Debug, Default)]
pub(crate) struct OutboxCounters {
    pub(crate) polls: AtomicU64,
    pub(crate) poll_errors: AtomicU64,
    pub(crate) done: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) pending: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    pub(crate) polling: AtomicBool,
}

pub(crate) struct Inner {
    pub(crate) platform: Platform,
    tasks: ChannelTasks<SqlOutboxConfig, OutboxCounters>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner").field("tasks", &self.tasks).finish()
    }
}

/// The outbox channels of one platform (see [the module](super)).
///
/// Created idle by [`SqlOutboxAdapter::attach`]; channels poll from
/// [`start`](ChannelAdapter::start) on and finish their batch on [`stop`](ChannelAdapter::stop)
/// or when changed.
#[derive(Debug, Clone)]
pub struct SqlOutboxAdapter {
    inner: Arc<Inner>,
}

/// What an outbox channel has done since it was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SqlOutboxStats {
    /// Batches taken.
    pub polls: u64,
    /// Polls that failed (the database unreachable, the table missing).
    pub poll_errors: u64,
    /// Rows whose service succeeded, marked done or deleted.
    pub done: u64,
    /// Failed attempts whose row waits to be tried again.
    pub retried: u64,
    /// Rows marked failed after their last attempt.
    pub failed: u64,
    /// Rows pending in the table at the last poll that found none ready.
    pub pending: u64,
    /// Rows being handled now.
    pub in_flight: u64,
    /// Whether it polls now.
    pub polling: bool,
}

impl SqlOutboxAdapter {
    /// The adapter named `sql_outbox` on `platform`, idle, with no channel; its counters join
    /// the platform's metrics.
    ///
    /// # Errors
    ///
    /// [`ChannelError::DuplicateAdapter`] when the platform has an adapter of that name.
    pub fn attach(platform: &Platform) -> Result<SqlOutboxAdapter, ChannelError> {
        let adapter = SqlOutboxAdapter {
            inner: Arc::new(Inner {
                platform: platform.clone(),
                tasks: ChannelTasks::new("sql_outbox"),
            }),
        };
        platform.channels().add(Arc::new(adapter.clone()))?;
        platform.metrics().register_collector(
            "channels.sql_outbox",
            Box::new(OutboxMetrics(Arc::downgrade(&adapter.inner))),
        );
        Ok(adapter)
    }

    /// The configuration of the channel `name`.
    pub fn channel(&self, name: &str) -> Option<Arc<SqlOutboxConfig>> {
        self.inner.tasks.get(name).map(|(config, _)| config)
    }

    /// What the channel `name` has done since it was created.
    pub fn stats(&self, name: &str) -> Option<SqlOutboxStats> {
        self.inner.tasks.get(name).map(|(_, s)| {
            let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
            SqlOutboxStats {
                polls: n(&s.polls),
                poll_errors: n(&s.poll_errors),
                done: n(&s.done),
                retried: n(&s.retried),
                failed: n(&s.failed),
                pending: n(&s.pending),
                in_flight: n(&s.in_flight),
                polling: s.polling.load(Ordering::Relaxed),
            }
        })
    }

    fn launcher(
        &self,
    ) -> impl Fn(Arc<SqlOutboxConfig>, Arc<OutboxCounters>, watch::Receiver<bool>) -> JoinHandle<()>
    + Send
    + Sync
    + use<> {
        let platform = self.inner.platform.clone();
        move |config, stats, stop| {
            tracing::info!(channel = %config.name, table = %config.table, "sql outbox polling");
            tokio::spawn(poller::run(platform.clone(), config, stats, stop))
        }
    }

    /// Creates the channel `config` names, or replaces the one of that name; the config is
    /// checked already.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] at `connection` when the platform has no such SQL connection.
    pub async fn upsert(&self, config: SqlOutboxConfig) -> Result<(), ConfigError> {
        if self
            .inner
            .platform
            .outgoing()
            .get::<SqlConnection>(&config.connection)
            .is_none()
        {
            return Err(ConfigError::one(
                "connection",
                format!(
                    "no SQL connection named `{}` (outgoing.sql)",
                    config.connection
                ),
            ));
        }
        let name = config.name.clone();
        let limit = drain_limit(&config);
        let launch = self.launcher();
        self.inner
            .tasks
            .upsert(&name, config, limit, |c| c.is_active, &launch)
            .await;
        tracing::info!(channel = %name, "sql outbox channel configured");
        Ok(())
    }

    /// Removes the channel `name`; the batch it is handling finishes.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when there is no such channel.
    pub async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        let limit = self
            .channel(name)
            .map_or(Duration::from_secs(120), |c| drain_limit(&c));
        if !self.inner.tasks.remove(name, limit).await {
            return Err(ConfigError::one("", "no such channel"));
        }
        tracing::info!(channel = %name, "sql outbox channel removed");
        Ok(())
    }
}

/// How long a stopping channel waits for its batch: one invocation's timeout per row handled
/// at once, and time to write the outcomes.
fn drain_limit(config: &SqlOutboxConfig) -> Duration {
    let rounds = config.batch_size.div_ceil(config.concurrency.max(1));
    (config.timeout_duration() * rounds).min(Duration::from_secs(3600)) + Duration::from_secs(30)
}

#[async_trait]
impl ChannelAdapter for SqlOutboxAdapter {
    fn kind(&self) -> ChannelKind {
        SQL_OUTBOX_KIND
    }

    fn name(&self) -> &str {
        self.inner.tasks.adapter()
    }

    fn channels(&self) -> Vec<ChannelSummary> {
        self.inner.tasks.map(|_, c, _| {
            ChannelSummary::new(SQL_OUTBOX_KIND, c.name.as_str(), self.name())
                .with_service(c.service.as_str())
                .with_active(c.is_active)
                .with_endpoint(format!("table {:?} via {:?}", c.table, c.connection))
        })
    }

    fn channel_config(&self, name: &str) -> Option<serde_json::Value> {
        self.channel(name)
            .and_then(|c| serde_json::to_value(&*c).ok())
    }

    async fn upsert_channel(&self, config: serde_json::Value) -> Result<(), ConfigError> {
        let (config, _) = zato_core::config::decode_as::<SqlOutboxConfig>(&config, &[])?;
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
        // Each poller's batch is bounded by its timeouts; this bounds a stuck one.
        self.inner.tasks.stop(Duration::from_secs(3600)).await;
    }
}

/// The channels' counters, read at each scrape.
#[derive(Debug)]
struct OutboxMetrics(Weak<Inner>);

impl Collector for OutboxMetrics {
    fn collect(&self, scrape: &mut Scrape) {
        let Some(inner) = self.0.upgrade() else {
            return;
        };
        let rows = scrape.counters(
            "sql_outbox_rows",
            "Rows of a SQL outbox channel, by what became of them",
        );
        let pending = scrape.gauges(
            "sql_outbox_pending",
            "Rows pending in a SQL outbox channel's table at its last idle poll",
        );
        let polls = scrape.counters("sql_outbox_polls", "Polls of a SQL outbox channel");
        inner.tasks.map(|name, _, s| {
            let channel = || ("channel", Cow::Owned(name.to_owned()));
            for (outcome, value) in [
                ("done", &s.done),
                ("retried", &s.retried),
                ("failed", &s.failed),
            ] {
                rows.get_or_create(&vec![channel(), ("outcome", Cow::Borrowed(outcome))])
                    .inc_by(value.load(Ordering::Relaxed));
            }
            for (outcome, value) in [("ok", &s.polls), ("failed", &s.poll_errors)] {
                polls
                    .get_or_create(&vec![channel(), ("outcome", Cow::Borrowed(outcome))])
                    .inc_by(value.load(Ordering::Relaxed));
            }
            pending
                .get_or_create(&vec![channel()])
                .set(i64::try_from(s.pending.load(Ordering::Relaxed)).unwrap_or(i64::MAX));
        });
    }
}

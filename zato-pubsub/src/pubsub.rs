//! [`PubSub`]: a node's topics, subscriptions and permissions over a [`Store`], its publish,
//! pull and acknowledge, and the deliverers of its service and push subscriptions.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use zato_core::Platform;

use crate::config::{Delivery, PermissionConfig, SubscriptionConfig, TopicConfig};
use crate::error::PubSubError;
use crate::pattern::matches;
use crate::store::{DeadLetter, Message, NewMessage, QueueStats, Store, StoreError, now_ms};

/// How often retention runs.
const RETENTION_EVERY: Duration = Duration::from_secs(5);
/// The holder of the messages pulled over the REST API: one per subscription, whichever node
/// served the pull, so that an acknowledgement reaches any node.
const PULL_HOLDER: &str = "pull";

/// The counters of one subscription since this node started.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) delivered: AtomicU64,
    pub(crate) redelivered: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) dead: AtomicU64,
}

/// A subscription as this node runs it.
struct Running {
    config: Arc<SubscriptionConfig>,
    /// Tells its deliverer to stop after the batch in hand.
    stop: Option<watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) platform: Platform,
    /// Who leases messages for this node's deliverers.
    pub(crate) holder: String,
    topics: RwLock<HashMap<String, Arc<TopicConfig>>>,
    subscriptions: RwLock<HashMap<String, Running>>,
    permissions: RwLock<HashMap<String, Arc<PermissionConfig>>>,
    pub(crate) counters: Mutex<HashMap<String, Arc<Counters>>>,
    /// Bumped whenever something was published, here or (through LISTEN) on another node.
    pub(crate) wake: watch::Sender<u64>,
    /// The retention task and the store's listener, stopped by [`PubSub::shutdown`].
    background: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// Publish/subscribe on one node: its topics, subscriptions and permissions as configured, over
/// a store shared with the other nodes of its cluster. Cheap to clone.
///
/// A service publishes with [`PubSubExt::publish`](crate::PubSubExt::publish); the REST API and
/// the CLI through the services [`crate::rest`] deploys.
#[derive(Clone)]
pub struct PubSub {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for PubSub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PubSub")
            .field("store", &self.inner.store)
            .field("holder", &self.inner.holder)
            .finish_non_exhaustive()
    }
}

/// A topic or a subscription as the operator sees it.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// Its name.
    pub name: String,
    /// What its queue holds.
    #[serde(flatten)]
    pub queue: QueueStats,
    /// The age of its oldest message, in milliseconds.
    pub oldest_age_ms: Option<i64>,
    /// Messages delivered by this node.
    pub delivered: u64,
    /// Of those, delivered again after a failure or a lease that ran out.
    pub redelivered: u64,
    /// Deliveries that failed on this node.
    pub failed: u64,
    /// Messages whose attempts ran out on this node.
    pub dead: u64,
}

impl PubSub {
    /// Publish/subscribe for `platform` over `store`, registered in its outgoing connections
    /// for its services to publish with [`PubSubExt`](crate::PubSubExt): listens for other
    /// nodes' publications and enforces retention in the background until
    /// [`shutdown`](Self::shutdown).
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the store cannot listen.
    pub async fn start(platform: &Platform, store: Arc<dyn Store>) -> Result<PubSub, StoreError> {
        let (wake, _) = watch::channel(0);
        let holder = format!(
            "node-{}-{:x}",
            std::process::id(),
            now_ms() ^ (Arc::as_ptr(&store) as *const () as usize as i64)
        );
        let pubsub = PubSub {
            inner: Arc::new(Inner {
                store,
                platform: platform.clone(),
                holder,
                topics: RwLock::default(),
                subscriptions: RwLock::default(),
                permissions: RwLock::default(),
                counters: Mutex::default(),
                wake,
                background: Mutex::default(),
            }),
        };
        let listener = pubsub.inner.store.listen(pubsub.inner.wake.clone()).await?;
        // Where services find it: `ctx.publish(…)`, `ctx.pubsub()`.
        platform
            .outgoing()
            .insert(crate::ext::KEY, Arc::new(pubsub.clone()));
        let me = pubsub.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(RETENTION_EVERY).await;
                me.enforce_retention().await;
            }
        });
        if let Ok(mut tasks) = pubsub.inner.background.lock() {
            tasks.push(task);
            tasks.extend(listener);
        }
        Ok(pubsub)
    }

    /// The pub/sub the plug-in started on `platform`.
    ///
    /// # Errors
    ///
    /// [`PubSubError::NotEnabled`] when the platform has none.
    pub fn of(platform: &Platform) -> Result<Arc<PubSub>, PubSubError> {
        crate::ext::of(platform.outgoing())
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// Stops every deliverer and the retention at once, as a node that dies would: messages
    /// in hand are delivered again by another node after their lease.
    pub fn shutdown(&self) {
        if let Ok(mut subs) = self.inner.subscriptions.write() {
            for running in subs.values_mut() {
                if let Some(task) = running.task.take() {
                    task.abort();
                }
            }
        }
        if let Ok(mut tasks) = self.inner.background.lock() {
            for task in tasks.drain(..) {
                task.abort();
            }
        }
    }

    /// Publishes `data` to `topic` as `publisher`.
    ///
    /// # Errors
    ///
    /// A [`PubSubError`]: no such topic, an inactive one, a message too large, a full topic, or
    /// the store's failure.
    pub async fn publish(
        &self,
        topic: &str,
        data: impl Into<Bytes>,
        publisher: &str,
    ) -> Result<Option<i64>, PubSubError> {
        let message = NewMessage {
            data: data.into(),
            publisher: publisher.to_owned(),
            ..NewMessage::default()
        };
        Ok(self
            .publish_many(topic, vec![message])
            .await?
            .first()
            .copied())
    }

    /// Publishes `messages` to `topic`, all or none. Returns their ids, none when no
    /// subscription takes the topic.
    ///
    /// # Errors
    ///
    /// As [`publish`](Self::publish).
    pub async fn publish_many(
        &self,
        topic: &str,
        messages: Vec<NewMessage>,
    ) -> Result<Vec<i64>, PubSubError> {
        let config = self
            .topic(topic)
            .ok_or_else(|| PubSubError::NoSuchTopic(topic.to_owned()))?;
        if !config.is_active {
            return Err(PubSubError::TopicInactive(topic.to_owned()));
        }
        if let Some(big) = messages
            .iter()
            .find(|m| m.data.len() as u64 > config.max_message_size)
        {
            return Err(PubSubError::TooLarge {
                topic: topic.to_owned(),
                size: big.data.len(),
                max: config.max_message_size,
            });
        }
        let subscriptions = self.subscriptions_of(topic);
        let ids = self
            .inner
            .store
            .publish(topic, config.max_depth, &messages, &subscriptions)
            .await?;
        self.inner.wake.send_modify(|n| *n = n.wrapping_add(1));
        Ok(ids)
    }

    /// Takes up to `max` messages of the pull subscription `name`, leased for its `lease`.
    ///
    /// # Errors
    ///
    /// A [`PubSubError`]: no such subscription, one not pulled, or the store's failure.
    pub async fn pull(&self, name: &str, max: u32) -> Result<Vec<Message>, PubSubError> {
        let config = self.pull_subscription(name)?;
        if !config.is_active {
            return Ok(Vec::new());
        }
        let max = max.clamp(1, config.batch_size);
        let claimed = self
            .inner
            .store
            .claim(name, PULL_HOLDER, max, config.lease)
            .await?;
        let counters = self.counters(name);
        for m in &claimed.messages {
            counters.delivered.fetch_add(1, Ordering::Relaxed);
            if m.deliveries > 1 {
                counters.redelivered.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(claimed.messages)
    }

    /// Acknowledges the pulled messages `ids` of the subscription `name`. Returns how many were
    /// still held and are now gone.
    ///
    /// # Errors
    ///
    /// As [`pull`](Self::pull).
    pub async fn ack(&self, name: &str, ids: &[i64]) -> Result<u64, PubSubError> {
        self.pull_subscription(name)?;
        Ok(self.inner.store.ack(name, PULL_HOLDER, ids).await?)
    }

    fn pull_subscription(&self, name: &str) -> Result<Arc<SubscriptionConfig>, PubSubError> {
        let config = self
            .subscription(name)
            .ok_or_else(|| PubSubError::NoSuchSubscription(name.to_owned()))?;
        if config.delivery != Delivery::Pull {
            return Err(PubSubError::NotPull(name.to_owned()));
        }
        Ok(config)
    }

    /// The topic `name`, as configured.
    pub fn topic(&self, name: &str) -> Option<Arc<TopicConfig>> {
        self.inner.topics.read().ok()?.get(name).cloned()
    }

    /// The subscription `name`, as configured.
    pub fn subscription(&self, name: &str) -> Option<Arc<SubscriptionConfig>> {
        let subs = self.inner.subscriptions.read().ok()?;
        subs.get(name).map(|r| r.config.clone())
    }

    /// The names of the subscriptions whose pattern matches `topic`, sorted.
    pub fn subscriptions_of(&self, topic: &str) -> Vec<String> {
        let Ok(subs) = self.inner.subscriptions.read() else {
            return Vec::new();
        };
        let mut names: Vec<String> = subs
            .values()
            .filter(|r| matches(&r.config.topic, topic))
            .map(|r| r.config.name.clone())
            .collect();
        names.sort_unstable();
        names
    }

    /// Whether callers under the security definition `security` may publish to `topic`.
    pub fn may_publish(&self, security: &str, topic: &str) -> bool {
        self.permitted(security, |p| {
            p.publish.iter().any(|pat| matches(pat, topic))
        })
    }

    /// Whether callers under the security definition `security` may pull from and acknowledge
    /// the subscription `name`.
    pub fn may_subscribe(&self, security: &str, name: &str) -> bool {
        self.permitted(security, |p| {
            p.subscribe.iter().any(|pat| matches(pat, name))
        })
    }

    fn permitted(&self, security: &str, allows: impl Fn(&PermissionConfig) -> bool) -> bool {
        self.inner
            .permissions
            .read()
            .is_ok_and(|perms| perms.values().any(|p| p.security == security && allows(p)))
    }

    pub(crate) fn counters(&self, name: &str) -> Arc<Counters> {
        match self.inner.counters.lock() {
            Ok(mut all) => all.entry(name.to_owned()).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }

    /// Creates or replaces a topic.
    pub fn put_topic(&self, config: TopicConfig) {
        if let Ok(mut topics) = self.inner.topics.write() {
            topics.insert(config.name.clone(), Arc::new(config));
        }
    }

    /// Removes a topic: it takes no more publications; what it holds stays for its
    /// subscriptions.
    pub fn remove_topic(&self, name: &str) {
        if let Ok(mut topics) = self.inner.topics.write() {
            topics.remove(name);
        }
    }

    /// Creates or replaces a permission.
    pub fn put_permission(&self, config: PermissionConfig) {
        if let Ok(mut perms) = self.inner.permissions.write() {
            perms.insert(config.name.clone(), Arc::new(config));
        }
    }

    /// Removes a permission.
    pub fn remove_permission(&self, name: &str) {
        if let Ok(mut perms) = self.inner.permissions.write() {
            perms.remove(name);
        }
    }

    /// Creates or replaces a subscription: the store learns of it, and its deliverer (for
    /// service and push subscriptions that are active) starts, the previous one stopping after
    /// its batch.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the store cannot record it.
    pub async fn put_subscription(&self, config: SubscriptionConfig) -> Result<(), StoreError> {
        self.inner.store.subscribe(&config.name).await?;
        let config = Arc::new(config);
        let runs = config.is_active && config.delivery != Delivery::Pull;
        let (stop, task) = if runs {
            let (stop, stopped) = watch::channel(false);
            let task = tokio::spawn(crate::deliver::run(self.clone(), config.clone(), stopped));
            (Some(stop), Some(task))
        } else {
            (None, None)
        };
        let old = self.inner.subscriptions.write().ok().and_then(|mut subs| {
            subs.insert(
                config.name.clone(),
                Running {
                    config: config.clone(),
                    stop,
                    task,
                },
            )
        });
        if let Some(old) = old
            && let Some(stop) = old.stop
        {
            let _ = stop.send(true);
        }
        Ok(())
    }

    /// Removes a subscription with the messages queued for it; its deliverer stops after its
    /// batch.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the store cannot forget it.
    pub async fn remove_subscription(&self, name: &str) -> Result<(), StoreError> {
        let old = self
            .inner
            .subscriptions
            .write()
            .ok()
            .and_then(|mut subs| subs.remove(name));
        if let Some(old) = old
            && let Some(stop) = old.stop
        {
            let _ = stop.send(true);
        }
        self.inner.store.unsubscribe(name).await
    }

    /// The topics with what they hold, sorted by name.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the store cannot be read.
    pub async fn topic_stats(&self) -> Result<Vec<Stats>, StoreError> {
        let mut names: Vec<String> = self
            .inner
            .topics
            .read()
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        names.sort_unstable();
        let now = now_ms();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let queue = self.inner.store.topic_stats(&name).await?;
            out.push(Stats {
                oldest_age_ms: queue.oldest.map(|t| now.saturating_sub(t)),
                name,
                queue,
                delivered: 0,
                redelivered: 0,
                failed: 0,
                dead: 0,
            });
        }
        Ok(out)
    }

    /// The subscriptions with their queues and this node's counters, sorted by name.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the store cannot be read.
    pub async fn subscription_stats(&self) -> Result<Vec<Stats>, StoreError> {
        let mut names: Vec<String> = self
            .inner
            .subscriptions
            .read()
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        names.sort_unstable();
        let now = now_ms();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let queue = self.inner.store.subscription_stats(&name).await?;
            let c = self.counters(&name);
            out.push(Stats {
                oldest_age_ms: queue.oldest.map(|t| now.saturating_sub(t)),
                name,
                queue,
                delivered: c.delivered.load(Ordering::Relaxed),
                redelivered: c.redelivered.load(Ordering::Relaxed),
                failed: c.failed.load(Ordering::Relaxed),
                dead: c.dead.load(Ordering::Relaxed),
            });
        }
        Ok(out)
    }

    /// Removes what each topic's retention no longer keeps: messages older than its
    /// `max_age`, and expired ones. Runs in the background every few seconds.
    pub async fn enforce_retention(&self) -> u64 {
        let topics: Vec<Arc<TopicConfig>> = self
            .inner
            .topics
            .read()
            .map(|t| t.values().cloned().collect())
            .unwrap_or_default();
        let now = now_ms();
        let mut removed = 0;
        for topic in topics {
            let max_age = i64::try_from(topic.max_age.saturating_mul(1000)).unwrap_or(i64::MAX);
            match self
                .inner
                .store
                .purge(&topic.name, now.saturating_sub(max_age))
                .await
            {
                Ok(n) => removed += n,
                Err(e) => {
                    tracing::warn!(topic = %topic.name, error = %e, "pub/sub: retention failed")
                }
            }
        }
        removed
    }

    /// Where a message of `config` goes when its attempts run out.
    pub(crate) fn dead_letter_subscriptions(
        &self,
        config: &SubscriptionConfig,
    ) -> Option<(String, Vec<String>)> {
        let topic = config.dead_letter_topic.clone()?;
        let subs = self.subscriptions_of(&topic);
        Some((topic, subs))
    }

    /// Records a failed delivery; see [`Store::fail`].
    pub(crate) async fn record_failure(
        &self,
        config: &SubscriptionConfig,
        holder: &str,
        message: &Message,
        error: &str,
    ) -> Result<crate::store::Failed, StoreError> {
        let attempts = u32::try_from(message.attempts).unwrap_or_default() + 1;
        let retry_at = now_ms().saturating_add(
            i64::try_from(config.backoff_after(attempts).as_millis()).unwrap_or(i64::MAX),
        );
        let dlq = self.dead_letter_subscriptions(config);
        let dead_letter = dlq.as_ref().map(|(topic, subs)| DeadLetter {
            topic,
            subscriptions: subs,
        });
        let failed = self
            .inner
            .store
            .fail(
                &config.name,
                holder,
                message.id,
                error,
                config.max_attempts,
                retry_at,
                dead_letter,
            )
            .await?;
        if dlq.is_some() {
            self.inner.wake.send_modify(|n| *n = n.wrapping_add(1));
        }
        Ok(failed)
    }
}

//! Where topics keep their messages and subscriptions their queues: [`Store`], on SQLite for a
//! single node ([`SqliteStore`]) or on PostgreSQL for a cluster ([`PgStore`]).
//!
//! A message is stored once; each subscription whose pattern matches its topic gets a queue row
//! for it, which holds the delivery's state: its attempts, the time before which it is not
//! retried, its lease and last error. A subscription is delivered in publication order: a batch
//! is taken from the head of its queue only while no other batch of it is leased, and a failed
//! head holds back the rest until its retry. The message goes when its last queue row is
//! acknowledged, or when retention removes it.

mod postgres;
mod sqlite;

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::watch;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// A message to publish.
#[derive(Debug, Clone, Default)]
pub struct NewMessage {
    /// Its data, as the publisher gave it.
    pub data: Bytes,
    /// Who published it: a service's name, a security definition's, `cli`.
    pub publisher: String,
    /// The correlation id it was published under.
    pub cid: String,
    /// Headers of the publisher's own.
    pub headers: BTreeMap<String, String>,
    /// Its priority, kept with it (0 to 9).
    pub priority: i32,
    /// When it expires undelivered, in milliseconds since the epoch.
    pub expires_at: Option<i64>,
}

/// A stored message as a subscription receives it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Message {
    /// Its id: increasing in publication order.
    pub id: i64,
    /// The topic it was published to.
    pub topic: String,
    /// Its data.
    #[serde(skip)]
    pub data: Bytes,
    /// Who published it.
    pub publisher: String,
    /// The cid it was published under.
    pub cid: String,
    /// When it was published, in milliseconds since the epoch.
    pub published_at: i64,
    /// The publisher's headers.
    pub headers: BTreeMap<String, String>,
    /// Its priority.
    pub priority: i32,
    /// When it expires, in milliseconds since the epoch.
    pub expires_at: Option<i64>,
    /// How many deliveries to this subscription failed so far.
    pub attempts: i32,
    /// How many times it was handed out to this subscription, this time included.
    pub deliveries: i32,
}

/// What a claim took.
#[derive(Debug, Clone, Default)]
pub struct Claimed {
    /// The batch, in publication order; empty when nothing is ready or another batch is out.
    pub messages: Vec<Message>,
    /// With an empty batch: when the head's retry is due, in milliseconds since the epoch.
    pub retry_at: Option<i64>,
}

/// What became of a message whose delivery failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// It is retried after its backoff.
    Retry,
    /// Its attempts ran out: it went to the dead-letter topic, or stays marked dead.
    Dead,
    /// It was no longer held by the caller (its lease ran out and another took it).
    NotHeld,
}

/// Where a message whose attempts ran out goes.
#[derive(Debug, Clone, Copy)]
pub struct DeadLetter<'a> {
    /// The dead-letter topic.
    pub topic: &'a str,
    /// The subscriptions of that topic.
    pub subscriptions: &'a [String],
}

/// What an operator sees of a subscription's queue or a topic.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueStats {
    /// Messages held.
    pub depth: u64,
    /// When the oldest was published, in milliseconds since the epoch.
    pub oldest: Option<i64>,
    /// Of those, how many are dead (attempts ran out, no dead-letter topic).
    pub dead: u64,
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The topic holds as many messages as it may.
    #[error("topic `{topic}` is full: it holds {depth} messages, at most {max_depth}")]
    TopicFull {
        /// The topic.
        topic: String,
        /// The messages it holds.
        depth: u64,
        /// Its bound.
        max_depth: u64,
    },
    /// The database failed.
    #[error("the pub/sub database failed")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e)
    }
}

/// The storage of topics and subscriptions.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Creates the tables when they do not exist.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Makes the subscription known to the store, so that its deliverers can take turns.
    async fn subscribe(&self, subscription: &str) -> Result<(), StoreError>;

    /// Forgets the subscription and every message queued for it.
    async fn unsubscribe(&self, subscription: &str) -> Result<(), StoreError>;

    /// Stores `messages` in `topic` for `subscriptions`, all or none, unless the topic would
    /// hold more than `max_depth`. Returns their ids; nothing is stored when no subscription
    /// takes the topic.
    async fn publish(
        &self,
        topic: &str,
        max_depth: u64,
        messages: &[NewMessage],
        subscriptions: &[String],
    ) -> Result<Vec<i64>, StoreError>;

    /// Leases up to `max` messages from the head of the subscription's queue for `lease_ms`,
    /// as `holder`: none while another batch of it is leased or the head waits for its retry.
    async fn claim(
        &self,
        subscription: &str,
        holder: &str,
        max: u32,
        lease_ms: u64,
    ) -> Result<Claimed, StoreError>;

    /// Acknowledges the messages `ids` of the subscription held by `holder`: they are gone
    /// from its queue. Returns how many were.
    async fn ack(&self, subscription: &str, holder: &str, ids: &[i64]) -> Result<u64, StoreError>;

    /// Gives back leased messages not tried, as if never handed out.
    async fn release(
        &self,
        subscription: &str,
        holder: &str,
        ids: &[i64],
    ) -> Result<(), StoreError>;

    /// Records a failed delivery of `id` with `error`: retried at `retry_at`, or, when this was
    /// attempt `max_attempts`, moved to `dead_letter` (or marked dead without one).
    #[allow(
        clippy::too_many_arguments,
        reason = "one call records one failure whole"
    )]
    async fn fail(
        &self,
        subscription: &str,
        holder: &str,
        id: i64,
        error: &str,
        max_attempts: u32,
        retry_at: i64,
        dead_letter: Option<DeadLetter<'_>>,
    ) -> Result<Failed, StoreError>;

    /// Removes the messages of `topic` published before `older_than` and those expired by now.
    /// Returns how many went.
    async fn purge(&self, topic: &str, older_than: i64) -> Result<u64, StoreError>;

    /// The queue of a subscription.
    async fn subscription_stats(&self, subscription: &str) -> Result<QueueStats, StoreError>;

    /// The messages a topic holds.
    async fn topic_stats(&self, topic: &str) -> Result<QueueStats, StoreError>;

    /// Up to `max` messages queued for a subscription, oldest first, without leasing them.
    async fn browse(&self, subscription: &str, max: u32) -> Result<Vec<Message>, StoreError>;

    /// Starts telling `wake` when another node publishes (PostgreSQL's LISTEN): the task
    /// doing it, to abort when done; none where only this process publishes.
    async fn listen(
        &self,
        _wake: watch::Sender<u64>,
    ) -> Result<Option<tokio::task::JoinHandle<()>>, StoreError> {
        Ok(None)
    }
}

/// Now, in milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// The headers of a dead letter: the original's, with where it came from and why it died.
pub(crate) fn dead_letter_headers(
    original: &BTreeMap<String, String>,
    topic: &str,
    subscription: &str,
    id: i64,
    error: &str,
) -> String {
    let mut headers = original.clone();
    headers.insert("dead_letter_topic".into(), topic.into());
    headers.insert("dead_letter_subscription".into(), subscription.into());
    headers.insert("dead_letter_msg_id".into(), id.to_string());
    headers.insert("last_error".into(), error.into());
    serde_json::to_string(&headers).unwrap_or_else(|_| "{}".into())
}

pub(crate) fn parse_headers(text: &str) -> BTreeMap<String, String> {
    serde_json::from_str(text).unwrap_or_default()
}

pub(crate) fn headers_text(headers: &BTreeMap<String, String>) -> String {
    serde_json::to_string(headers).unwrap_or_else(|_| "{}".into())
}

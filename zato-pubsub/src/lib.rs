//! Publish/subscribe for zato-rs: durable topics and subscriptions, as Zato has them.
//!
//! Publishers and subscribers never know each other. A message published to a topic is kept
//! until every subscription whose pattern matches the topic has taken it, or until the topic's
//! retention removes it. A subscription is delivered at least once and in publication order,
//! to a service, pushed to a partner through an `outgoing.http` connection, or pulled by the
//! subscriber over the REST API; a failed delivery is retried with backoff and, after its
//! attempts, moved to a dead-letter topic with its last error.
//!
//! Everything is configuration, live like every object of a node's document:
//!
//! ```toml
//! [[pubsub.topics]]
//! name = "invoices.stored"
//! max_depth = 10000
//!
//! [[pubsub.subscriptions]]
//! name = "invoice.audit"
//! topic = "invoices.*"
//! delivery = "service"
//! service = "invoice.audit"
//! ```
//!
//! A service publishes in one line with [`PubSubExt`]:
//!
//! ```ignore
//! use zato_pubsub::PubSubExt;
//! ctx.publish("invoices.stored", &invoice).await?;
//! ```
//!
//! Storage is [`SqliteStore`] for a single node (a file under its data directory; it survives
//! a restart) and [`PgStore`] in a cluster (the cluster's database: `FOR UPDATE SKIP LOCKED`
//! lets the nodes take turns at each subscription, `LISTEN`/`NOTIFY` wakes them).

mod config;
mod deliver;
mod error;
mod ext;
mod kind;
mod metrics;
mod pattern;
mod pubsub;
pub mod rest;
mod store;

pub use config::{
    Delivery, MAX_ATTEMPTS, MAX_BATCH_SIZE, MAX_DEPTH, MAX_MESSAGE_SIZE, PermissionConfig,
    SubscriptionConfig, TopicConfig,
};
pub use deliver::CHANNEL_KIND;
pub use error::PubSubError;
pub use ext::PubSubExt;
pub use kind::{PermissionKind, PubSubPlugin, StoreLocation, SubscriptionKind, TopicKind, plugin};
pub use pattern::matches;
pub use pubsub::{PubSub, Stats};
pub use store::{
    Claimed, DeadLetter, Failed, Message, NewMessage, PgStore, QueueStats, SqliteStore, Store,
    StoreError,
};

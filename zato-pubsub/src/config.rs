//! The configuration of topics, subscriptions and permissions: `pubsub.topics`,
//! `pubsub.subscriptions` and `pubsub.permissions` in a node's config document.

use serde::{Deserialize, Serialize};
use zato_core::config::ConfigProblem;

use crate::pattern;

/// The most messages a topic may hold, whatever its configuration says.
pub const MAX_DEPTH: u64 = 10_000_000;
/// The largest message a topic may take, whatever its configuration says: 16 MiB.
pub const MAX_MESSAGE_SIZE: u64 = 16 * 1024 * 1024;
/// The largest batch a subscription delivers or a pull returns.
pub const MAX_BATCH_SIZE: u32 = 1000;
/// The most attempts at delivering one message.
pub const MAX_ATTEMPTS: u32 = 1000;

/// A topic: where publishers send messages, kept until every subscription has taken them or
/// retention removes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicConfig {
    /// The topic's name, dot-separated segments (`invoices.stored`).
    pub name: String,
    /// Whether it takes publications.
    #[serde(default = "yes")]
    pub is_active: bool,
    /// How long a message is kept at most, in seconds, delivered or not.
    #[serde(default = "default_max_age")]
    pub max_age: u64,
    /// How many messages the topic holds at most; a publication beyond it is refused.
    #[serde(default = "default_max_depth")]
    pub max_depth: u64,
    /// The largest message's data, in bytes; a larger one is refused.
    #[serde(default = "default_max_message_size")]
    pub max_message_size: u64,
}

impl TopicConfig {
    /// An active topic named `name` with the default limits.
    pub fn new(name: impl Into<String>) -> Self {
        TopicConfig {
            name: name.into(),
            is_active: true,
            max_age: default_max_age(),
            max_depth: default_max_depth(),
            max_message_size: default_max_message_size(),
        }
    }

    /// Its problems, paths relative to it.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if let Err(e) = pattern::check_topic(&self.name) {
            problems.push(ConfigProblem::new("name", e));
        }
        if self.max_age == 0 {
            problems.push(ConfigProblem::new("max_age", "must be at least 1 second"));
        }
        if !(1..=MAX_DEPTH).contains(&self.max_depth) {
            problems.push(ConfigProblem::new(
                "max_depth",
                format!("must be between 1 and {MAX_DEPTH}"),
            ));
        }
        if !(1..=MAX_MESSAGE_SIZE).contains(&self.max_message_size) {
            problems.push(ConfigProblem::new(
                "max_message_size",
                format!("must be between 1 and {MAX_MESSAGE_SIZE}"),
            ));
        }
        problems
    }
}

/// How a subscription's messages reach the subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Each message invokes `service`.
    Service,
    /// Each message is POSTed through the outgoing REST connection `outgoing`.
    Push,
    /// The subscriber fetches messages over the REST API and acknowledges them by id.
    Pull,
}

/// A subscription: which topics it takes, and how their messages are delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionConfig {
    /// The subscription's name.
    pub name: String,
    /// A topic's name or a pattern: `invoices.*` (one segment), `invoices.**` (one or more).
    pub topic: String,
    /// How messages are delivered.
    pub delivery: Delivery,
    /// Whether messages are delivered; an inactive subscription keeps what is published to it.
    #[serde(default = "yes")]
    pub is_active: bool,
    /// With `delivery = "service"`: the service invoked with each message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// With `delivery = "push"`: the outgoing REST connection (`outgoing.http`) each message is
    /// POSTed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outgoing: Option<String>,
    /// With `delivery = "push"`: the path POSTed to, under the connection's address.
    #[serde(default)]
    pub push_path: String,
    /// How many messages are taken at once.
    #[serde(default = "default_batch_size")]
    pub batch_size: u32,
    /// How many times a message is tried before it goes to the dead-letter topic.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// The wait before the first retry, in milliseconds; doubled after each failure.
    #[serde(default = "default_backoff")]
    pub backoff: u64,
    /// The longest wait between retries, in milliseconds.
    #[serde(default = "default_max_backoff")]
    pub max_backoff: u64,
    /// How long a delivery or a pull holds its messages, in milliseconds: what is not
    /// acknowledged by then is delivered again.
    #[serde(default = "default_lease")]
    pub lease: u64,
    /// The topic a message goes to, with its last error, after `max_attempts`; without one it
    /// stays in the subscription marked dead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_topic: Option<String>,
}

impl SubscriptionConfig {
    /// A subscription named `name` to `topic`, delivered by `delivery`, with the defaults.
    pub fn new(name: impl Into<String>, topic: impl Into<String>, delivery: Delivery) -> Self {
        SubscriptionConfig {
            name: name.into(),
            topic: topic.into(),
            delivery,
            is_active: true,
            service: None,
            outgoing: None,
            push_path: String::new(),
            batch_size: default_batch_size(),
            max_attempts: default_max_attempts(),
            backoff: default_backoff(),
            max_backoff: default_max_backoff(),
            lease: default_lease(),
            dead_letter_topic: None,
        }
    }

    /// Its problems, paths relative to it.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if self.name.trim().is_empty() {
            problems.push(ConfigProblem::new("name", "must not be empty"));
        }
        if let Err(e) = pattern::check(&self.topic) {
            problems.push(ConfigProblem::new("topic", e));
        }
        match self.delivery {
            Delivery::Service if self.service.as_deref().is_none_or(str::is_empty) => problems
                .push(ConfigProblem::new(
                    "service",
                    "required when delivery is `service`",
                )),
            Delivery::Push if self.outgoing.as_deref().is_none_or(str::is_empty) => {
                problems.push(ConfigProblem::new(
                    "outgoing",
                    "required when delivery is `push`: an outgoing.http connection",
                ))
            }
            _ => {}
        }
        if !(1..=MAX_BATCH_SIZE).contains(&self.batch_size) {
            problems.push(ConfigProblem::new(
                "batch_size",
                format!("must be between 1 and {MAX_BATCH_SIZE}"),
            ));
        }
        if !(1..=MAX_ATTEMPTS).contains(&self.max_attempts) {
            problems.push(ConfigProblem::new(
                "max_attempts",
                format!("must be between 1 and {MAX_ATTEMPTS}"),
            ));
        }
        if self.backoff > self.max_backoff {
            problems.push(ConfigProblem::new(
                "backoff",
                "must not be more than max_backoff",
            ));
        }
        if self.max_backoff > 86_400_000 {
            problems.push(ConfigProblem::new("max_backoff", "must be at most a day"));
        }
        if !(10..=86_400_000).contains(&self.lease) {
            problems.push(ConfigProblem::new(
                "lease",
                "must be between 10 ms and a day",
            ));
        }
        if let Some(dlq) = &self.dead_letter_topic
            && let Err(e) = pattern::check_topic(dlq)
        {
            problems.push(ConfigProblem::new("dead_letter_topic", e));
        }
        problems
    }

    /// The wait before retrying after the `attempts`-th failure.
    pub(crate) fn backoff_after(&self, attempts: u32) -> std::time::Duration {
        let exp = attempts.saturating_sub(1).min(30);
        let ms = self
            .backoff
            .saturating_mul(1u64 << exp)
            .min(self.max_backoff);
        std::time::Duration::from_millis(ms)
    }
}

/// What the callers under one security definition may do: publish to and subscribe to the
/// topics matching the patterns. Everything else over the REST API is refused with a 403.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionConfig {
    /// The permission's name.
    pub name: String,
    /// The security definition the callers authenticated with.
    pub security: String,
    /// The topics they may publish to: names or patterns.
    #[serde(default)]
    pub publish: Vec<String>,
    /// The subscriptions they may pull from and acknowledge: names.
    #[serde(default)]
    pub subscribe: Vec<String>,
}

impl PermissionConfig {
    /// Its problems, paths relative to it.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        for (field, list) in [("publish", &self.publish), ("subscribe", &self.subscribe)] {
            for (i, p) in list.iter().enumerate() {
                if let Err(e) = pattern::check(p) {
                    problems.push(ConfigProblem::new(format!("{field}[{i}]"), e));
                }
            }
        }
        problems
    }
}

fn yes() -> bool {
    true
}
fn default_max_age() -> u64 {
    7 * 86_400
}
fn default_max_depth() -> u64 {
    100_000
}
fn default_max_message_size() -> u64 {
    256 * 1024
}
fn default_batch_size() -> u32 {
    50
}
fn default_max_attempts() -> u32 {
    5
}
fn default_backoff() -> u64 {
    1000
}
fn default_max_backoff() -> u64 {
    60_000
}
fn default_lease() -> u64 {
    30_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_subscription_needs_its_connection() {
        let s = SubscriptionConfig::new("p", "invoices.*", Delivery::Push);
        let problems = s.problems();
        assert_eq!(problems[0].path, "outgoing");
    }

    #[test]
    fn backoff_doubles_up_to_its_bound() {
        let mut s = SubscriptionConfig::new("s", "t", Delivery::Pull);
        s.backoff = 100;
        s.max_backoff = 350;
        let waits: Vec<u128> = (1..=4).map(|a| s.backoff_after(a).as_millis()).collect();
        assert_eq!(waits, [100, 200, 350, 350]);
    }
}

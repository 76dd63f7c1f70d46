//! The configuration of AMQP: broker connections (`outgoing.amqp`) and the channels consuming
//! through them (`channels.amqp`).

use std::time::Duration;

use lapin::uri::{AMQPAuthority, AMQPQueryString, AMQPScheme, AMQPUri, AMQPUserInfo};
use serde::{Deserialize, Serialize};
use zato_core::config::bounds;
use zato_core::{ConfigError, ConfigProblem, DataFormat, Secret};

/// The fields of [`AmqpConnectionConfig`] that hold secrets.
pub(crate) const CONNECTION_SECRETS: &[&str] = &["password", "url"];

/// A broker connection, `outgoing.amqp.<name>`: where the broker is and how to log in. Services
/// publish through it (`ctx.outgoing().amqp(name)`), and AMQP channels consume through it.
///
/// The address is given field by field, or as one `url`
/// (`amqp://user:password@host:5672/vhost?heartbeat=30`, `amqps://` for TLS); a URL is split
/// into the fields when the configuration is read, so reads show the fields, with the password
/// hidden.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AmqpConnectionConfig {
    /// The connection's name, unique among AMQP connections.
    pub name: String,
    /// Whether it may be used; an inactive one refuses to publish, and its channels stop
    /// consuming until it is active again.
    pub is_active: bool,
    /// The whole address as one URL, instead of the fields below. Read once, never kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<Secret>,
    /// The broker's host name or address.
    pub host: String,
    /// Its port: 5672, or 5671 with TLS.
    pub port: u16,
    /// The virtual host.
    pub vhost: String,
    /// The user to log in as.
    pub username: String,
    /// Its password.
    pub password: Option<Secret>,
    /// Seconds between heartbeats; 0 turns them off.
    pub heartbeat: u16,
    /// The largest frame, in bytes: 4096 to 1048576.
    pub frame_max: u32,
    /// Whether to connect over TLS (`amqps`), checking the broker's certificate.
    pub tls: bool,
    /// The most channels publishing at once through this connection.
    pub pool_size: u32,
    /// Seconds to connect, and to wait for the broker to confirm a message.
    pub timeout: f64,
    /// Seconds to wait for a free publishing channel before answering 503.
    pub pool_wait: f64,
}

impl Default for AmqpConnectionConfig {
    fn default() -> Self {
        AmqpConnectionConfig {
            name: String::new(),
            is_active: true,
            url: None,
            host: "127.0.0.1".to_owned(),
            port: 5672,
            vhost: "/".to_owned(),
            username: "guest".to_owned(),
            password: None,
            heartbeat: 30,
            frame_max: 131_072,
            tls: false,
            pool_size: 10,
            timeout: 10.0,
            pool_wait: 5.0,
        }
    }
}

impl AmqpConnectionConfig {
    /// A connection named `name` to the broker at `url`.
    ///
    /// # Examples
    ///
    /// ```
    /// use zato_channels::amqp::AmqpConnectionConfig;
    ///
    /// let config = AmqpConnectionConfig::from_url("broker", "amqp://app:s3cret@mq.example.com/orders")
    ///     .unwrap();
    /// assert_eq!(config.host, "mq.example.com");
    /// assert_eq!(config.vhost, "orders");
    /// assert_eq!(config.password.unwrap().expose(), "s3cret");
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] at `url` when it is not an AMQP URL; it does not quote the URL.
    pub fn from_url(name: impl Into<String>, url: &str) -> Result<Self, ConfigError> {
        let mut config = AmqpConnectionConfig {
            name: name.into(),
            url: Some(Secret::new(url.to_owned())),
            ..AmqpConnectionConfig::default()
        };
        config.split_url()?;
        Ok(config)
    }

    /// Moves a `url` into the fields.
    pub(crate) fn split_url(&mut self) -> Result<(), ConfigError> {
        let Some(url) = self.url.take() else {
            return Ok(());
        };
        // The parser's message may quote the URL, and with it the password.
        let uri: AMQPUri = url.expose().parse().map_err(|_| {
            ConfigError::one(
                "url",
                "not an AMQP URL: expected amqp://user:password@host:port/vhost (not shown)",
            )
        })?;
        self.tls = uri.scheme == AMQPScheme::AMQPS;
        self.host = uri.authority.host;
        self.port = uri.authority.port;
        self.vhost = uri.vhost;
        self.username = uri.authority.userinfo.username;
        self.password = Some(Secret::new(uri.authority.userinfo.password));
        if let Some(heartbeat) = uri.query.heartbeat {
            self.heartbeat = heartbeat;
        }
        if let Some(frame_max) = uri.query.frame_max {
            self.frame_max = frame_max;
        }
        Ok(())
    }

    /// Every problem of the connection, paths relative to it.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut bad = |path: &str, message: &str| problems.push(ConfigProblem::new(path, message));
        if self.name.trim().is_empty() {
            bad("name", "required");
        }
        if self.host.trim().is_empty() {
            bad("host", "required");
        }
        if self.port == 0 {
            bad("port", "must be 1 to 65535");
        }
        if self.username.is_empty() {
            bad("username", "required");
        }
        // The client keeps buffers of 64 frames a connection: a frame of 1 MiB costs 64 MiB
        // of memory already, and a frame of gigabytes would take the process down.
        if !(4096..=1_048_576).contains(&self.frame_max) {
            bad(
                "frame_max",
                "must be 4096 (the smallest frame AMQP allows) to 1048576",
            );
        }
        if !(1..=1000).contains(&self.pool_size) {
            bad("pool_size", "must be 1 to 1000");
        }
        for (field, value) in [("timeout", self.timeout), ("pool_wait", self.pool_wait)] {
            if let Some(problem) = bounds::positive_seconds(field, value, 3600.0) {
                bad(field, &problem.message);
            }
        }
        problems
    }

    /// The address as lapin takes it.
    pub(crate) fn uri(&self) -> AMQPUri {
        AMQPUri {
            scheme: if self.tls {
                AMQPScheme::AMQPS
            } else {
                AMQPScheme::AMQP
            },
            authority: AMQPAuthority {
                userinfo: AMQPUserInfo {
                    username: self.username.clone(),
                    password: self
                        .password
                        .as_ref()
                        .map(|p| p.expose().clone())
                        .unwrap_or_default(),
                },
                host: self.host.clone(),
                port: self.port,
            },
            vhost: self.vhost.clone(),
            query: AMQPQueryString {
                frame_max: Some(self.frame_max),
                heartbeat: Some(self.heartbeat),
                connection_timeout: Some(
                    u64::try_from(self.timeout_duration().as_millis()).unwrap_or(u64::MAX),
                ),
                ..AMQPQueryString::default()
            },
        }
    }

    /// Where the broker is, without the credentials: for logs and listings.
    pub fn address(&self) -> String {
        let scheme = if self.tls { "amqps" } else { "amqp" };
        format!("{scheme}://{}:{}/{}", self.host, self.port, self.vhost)
    }

    pub(crate) fn timeout_duration(&self) -> Duration {
        bounds::duration(self.timeout)
    }

    pub(crate) fn pool_wait_duration(&self) -> Duration {
        bounds::duration(self.pool_wait)
    }
}

/// What a channel does with a message whose service failed (a 5xx: the service's own error, an
/// outgoing connection down, a timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OnError {
    /// Put it back on the queue, counting the times in the header `x-zato-redeliveries`; once
    /// `max_redeliveries` is reached, dead-letter it. The count is believed only on the copies
    /// the channel published itself (their `user_id` is the channel's user, which the broker
    /// checks): a sender's own header is ignored.
    #[default]
    Requeue,
    /// Dead-letter it at once.
    DeadLetter,
}

/// The largest message an AMQP channel hands to its service unless told otherwise: 10 MiB, as a
/// Swift inbox.
const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;

/// An AMQP channel, `channels.amqp.<name>`: a queue whose messages invoke a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AmqpChannelConfig {
    /// The channel's name, unique among AMQP channels.
    pub name: String,
    /// Whether it consumes now.
    pub is_active: bool,
    /// The broker connection (`outgoing.amqp`) it consumes through.
    pub connection: String,
    /// The queue it consumes.
    pub queue: String,
    /// The start of its consumer tags; each consumer adds the channel's name and a number.
    pub consumer_tag_prefix: String,
    /// The most messages handled at once, and the broker's prefetch count.
    pub prefetch: u16,
    /// The format of message bodies, and of RPC replies.
    pub data_format: DataFormat,
    /// The service each message invokes.
    pub service: String,
    /// What to do with a message whose service failed.
    pub on_error: OnError,
    /// With `on_error = requeue`: how many times a failed message goes back on the queue before
    /// it is dead-lettered.
    pub max_redeliveries: u32,
    /// The exchange dead letters are published to; empty is the default exchange.
    pub dead_letter_exchange: String,
    /// Their routing key; `<queue>.dead` when not given.
    pub dead_letter_routing_key: Option<String>,
    /// Declare the queue (durable) and its dead-letter queue when they are missing.
    pub declare: bool,
    /// Seconds a service may take on one message; past that it counts as failed (504).
    pub timeout: f64,
    /// The largest message body handed to the service, in bytes: 1 to 1 GiB, 10 MiB by
    /// default. A larger message is dead-lettered at once (status 413, its error naming
    /// `max_bytes`), logged and counted (`too_large`), and never reaches the service.
    ///
    /// The body has been read by then: what bounds the memory of the messages in flight is
    /// `prefetch` times the broker's own `max_message_size` (RabbitMQ: 128 MiB up to 3.x,
    /// 16 MiB from 4.0), which refuses larger messages when they are published.
    pub max_bytes: u64,
}

impl Default for AmqpChannelConfig {
    fn default() -> Self {
        AmqpChannelConfig {
            name: String::new(),
            is_active: true,
            connection: String::new(),
            queue: String::new(),
            consumer_tag_prefix: "zato".to_owned(),
            prefetch: 10,
            data_format: DataFormat::Json,
            service: String::new(),
            on_error: OnError::Requeue,
            max_redeliveries: 5,
            dead_letter_exchange: String::new(),
            dead_letter_routing_key: None,
            declare: false,
            timeout: 60.0,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

impl AmqpChannelConfig {
    /// A channel `name` consuming `queue` through `connection` into `service`, with the
    /// defaults: JSON, prefetch 10, failed messages requeued up to 5 times, then dead-lettered
    /// to `<queue>.dead` through the default exchange.
    ///
    /// # Examples
    ///
    /// ```
    /// use zato_channels::amqp::{AmqpChannelConfig, OnError};
    ///
    /// let channel = AmqpChannelConfig::new("invoices", "broker", "invoices", "invoice.dispatcher")
    ///     .with_prefetch(20)
    ///     .with_on_error(OnError::DeadLetter);
    /// assert_eq!(channel.dead_letter_key(), "invoices.dead");
    /// ```
    pub fn new(
        name: impl Into<String>,
        connection: impl Into<String>,
        queue: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        AmqpChannelConfig {
            name: name.into(),
            connection: connection.into(),
            queue: queue.into(),
            service: service.into(),
            ..AmqpChannelConfig::default()
        }
    }

    /// The same channel with another prefetch.
    pub fn with_prefetch(mut self, prefetch: u16) -> Self {
        self.prefetch = prefetch;
        self
    }

    /// The same channel with another policy for failed messages.
    pub fn with_on_error(mut self, on_error: OnError) -> Self {
        self.on_error = on_error;
        self
    }

    /// The same channel with another bound on redeliveries.
    pub fn with_max_redeliveries(mut self, max: u32) -> Self {
        self.max_redeliveries = max;
        self
    }

    /// The same channel, declaring its queues or not.
    pub fn with_declare(mut self, declare: bool) -> Self {
        self.declare = declare;
        self
    }

    /// The same channel handing its service messages of at most `max_bytes`.
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// The same channel with another data format.
    pub fn with_data_format(mut self, format: DataFormat) -> Self {
        self.data_format = format;
        self
    }

    /// The routing key of dead letters.
    pub fn dead_letter_key(&self) -> String {
        self.dead_letter_routing_key
            .clone()
            .unwrap_or_else(|| format!("{}.dead", self.queue))
    }

    /// Every problem of the channel, paths relative to it.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut bad = |path: &str, message: &str| problems.push(ConfigProblem::new(path, message));
        for (field, value) in [
            ("name", &self.name),
            ("connection", &self.connection),
            ("queue", &self.queue),
            ("service", &self.service),
        ] {
            if value.trim().is_empty() {
                bad(field, "required");
            }
        }
        // AMQP's short strings hold 255 bytes; a consumer tag adds the name and a number.
        if self.queue.len() > 255 {
            bad("queue", "at most 255 bytes");
        }
        if self.consumer_tag_prefix.len() + self.name.len() > 200 {
            bad(
                "consumer_tag_prefix",
                "with the channel's name, at most 200 bytes",
            );
        }
        if self.dead_letter_exchange.len() > 255 || self.dead_letter_key().len() > 255 {
            bad("dead_letter_routing_key", "at most 255 bytes");
        }
        if !(1..=1000).contains(&self.prefetch) {
            bad("prefetch", "must be 1 to 1000");
        }
        if self.max_redeliveries > 1000 {
            bad("max_redeliveries", "at most 1000");
        }
        if let Some(problem) =
            bounds::positive_seconds("timeout", self.timeout, bounds::MAX_SECONDS)
        {
            bad("timeout", &problem.message);
        }
        if let Some(problem) = bounds::count("max_bytes", self.max_bytes, 1, bounds::MAX_BYTES) {
            bad("max_bytes", &problem.message);
        }
        problems
    }

    pub(crate) fn timeout_duration(&self) -> Duration {
        bounds::duration(self.timeout)
    }
}

/// The kind of AMQP channels: `channels.amqp` in the config document.
pub const AMQP_KIND: zato_core::ChannelKind = zato_core::ChannelKind::new("amqp");

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn a_url_fills_the_fields_and_is_not_kept() {
        let c =
            AmqpConnectionConfig::from_url("b", "amqps://u:p%40ss@mq:5999/v?heartbeat=5").unwrap();
        assert!(c.tls);
        assert_eq!(
            (c.host.as_str(), c.port, c.vhost.as_str()),
            ("mq", 5999, "v")
        );
        assert_eq!(c.username, "u");
        assert_eq!(c.password.as_ref().unwrap().expose(), "p@ss");
        assert_eq!(c.heartbeat, 5);
        assert!(c.url.is_none());
        assert_eq!(c.address(), "amqps://mq:5999/v");
    }

    #[test]
    fn a_bad_url_is_refused_without_quoting_it() {
        let e = AmqpConnectionConfig::from_url("b", "http://u:hunter2@x").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert_eq!(e.problems()[0].path, "url");
    }

    #[test]
    fn every_problem_is_listed() {
        let c = AmqpChannelConfig {
            prefetch: 0,
            timeout: -1.0,
            ..AmqpChannelConfig::default()
        };
        let paths: Vec<String> = c.problems().into_iter().map(|p| p.path).collect();
        for p in [
            "name",
            "connection",
            "queue",
            "service",
            "prefetch",
            "timeout",
        ] {
            assert!(paths.contains(&p.to_owned()), "{p} in {paths:?}");
        }
    }

    #[test]
    fn max_bytes_is_10_mib_unless_set_from_1_byte_to_1_gib() {
        let c = AmqpChannelConfig::new("c", "b", "q", "s");
        assert_eq!(c.max_bytes, 10 * 1024 * 1024);
        assert!(c.problems().is_empty());
        for (max_bytes, ok) in [
            (0, false),
            (1, true),
            (bounds::MAX_BYTES, true),
            (bounds::MAX_BYTES + 1, false),
        ] {
            let problems = c.clone().with_max_bytes(max_bytes).problems();
            assert_eq!(problems.is_empty(), ok, "{max_bytes}: {problems:?}");
            if !ok {
                assert_eq!(problems[0].path, "max_bytes");
            }
        }
    }
}

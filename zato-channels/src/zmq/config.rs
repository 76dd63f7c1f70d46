//! The serde types of ZeroMQ channels and outgoing connections, with Zato's field names where
//! Zato has them (`socket_type`, `socket_method`, `address`, `service`, `data_format`), and
//! their validation.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zato_core::config::bounds;
use zato_core::{ConfigError, ConfigProblem, DataFormat};

/// The default receive and send high-water mark: libzmq's own, 1,000 messages per peer.
pub const DEFAULT_HWM: u32 = 1000;
/// The default largest frame a channel takes: 10 MiB, as an HTTP channel's body.
pub const DEFAULT_MAX_MSG_SIZE: u64 = 10 * 1024 * 1024;
/// The default number of messages a channel hands to its service at once.
pub const DEFAULT_MAX_CONCURRENCY: u32 = 16;
/// The default time a service has for one message.
pub const DEFAULT_SERVICE_TIMEOUT: Duration = Duration::from_secs(30);
/// The default time an outgoing send waits for room in a peer's queue.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// The most invocations one channel may run at once.
const MAX_CONCURRENCY_LIMIT: u32 = 10_000;

fn yes() -> bool {
    true
}

fn default_hwm() -> u32 {
    DEFAULT_HWM
}

fn default_max_msg_size() -> u64 {
    DEFAULT_MAX_MSG_SIZE
}

fn default_max_concurrency() -> u32 {
    DEFAULT_MAX_CONCURRENCY
}

fn default_service_timeout() -> Duration {
    DEFAULT_SERVICE_TIMEOUT
}

fn default_send_timeout() -> Duration {
    DEFAULT_SEND_TIMEOUT
}

fn default_max_items() -> usize {
    zato_core::sio::DEFAULT_MAX_ITEMS
}

/// The socket a channel receives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ZmqChannelType {
    /// A PULL socket: one of the PUSH peers' messages, fairly queued.
    #[serde(alias = "PULL")]
    Pull,
    /// A SUB socket: the messages of PUB peers whose first frame starts with a subscribed prefix.
    #[serde(alias = "SUB")]
    Sub,
}

/// The socket an outgoing connection sends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ZmqOutgoingType {
    /// A PUSH socket: each message to one PULL peer, round robin; a send waits while every
    /// peer's queue is full.
    #[serde(alias = "PUSH")]
    Push,
    /// A PUB socket: each message to every subscribed SUB peer; a peer whose queue is full misses
    /// it (ZeroMQ's publisher never waits).
    #[serde(alias = "PUB")]
    Pub,
}

/// Whether a socket binds its address (others connect to it) or connects to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SocketMethod {
    /// Binds, and peers connect.
    Bind,
    /// Connects to a peer that binds; ZeroMQ reconnects by itself when the peer goes away.
    Connect,
}

impl fmt::Display for ZmqChannelType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ZmqChannelType::Pull => "pull",
            ZmqChannelType::Sub => "sub",
        })
    }
}

impl fmt::Display for ZmqOutgoingType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ZmqOutgoingType::Push => "push",
            ZmqOutgoingType::Pub => "pub",
        })
    }
}

impl fmt::Display for SocketMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SocketMethod::Bind => "bind",
            SocketMethod::Connect => "connect",
        })
    }
}

/// A ZeroMQ channel (`channels.zmq`): a PULL or SUB socket whose messages invoke a service.
///
/// The last frame of a message is the body, read in `data_format`; the frames before it are
/// channel parameters named `frame0`, `frame1`, … (UTF-8 text), which SimpleIO reads as it reads
/// an HTTP channel's path parameters. `timeout` is in seconds (fractions allowed).
///
/// # Examples
///
/// ```
/// use zato_channels::{SocketMethod, ZmqChannelConfig, ZmqChannelType};
///
/// let channel: ZmqChannelConfig = serde_json::from_str(r#"{
///     "name": "invoices.pull",
///     "socket_type": "pull",
///     "address": "tcp://127.0.0.1:11225",
///     "service": "invoice.dispatcher"
/// }"#).unwrap();
/// assert_eq!(channel.socket_method, SocketMethod::Bind);
/// assert_eq!(channel.rcv_hwm, zato_channels::DEFAULT_HWM);
///
/// let sub = ZmqChannelConfig::new("prices", ZmqChannelType::Sub, "tcp://127.0.0.1:5556", "prices.update")
///     .with_socket_method(SocketMethod::Connect)
///     .with_sub_prefixes(["EUR", "USD"]);
/// assert_eq!(sub.sub_prefixes, ["EUR", "USD"]);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ZmqChannelConfig {
    /// The channel's unique name.
    pub name: String,
    /// An inactive channel has no socket: its address is free and nothing is received.
    #[serde(default = "yes")]
    pub is_active: bool,
    /// PULL or SUB.
    pub socket_type: ZmqChannelType,
    /// The ZeroMQ endpoint: `tcp://127.0.0.1:11225`, `ipc:///run/app.sock`; binding to
    /// `tcp://127.0.0.1:*` takes a free port.
    pub address: String,
    /// Bind (the default) or connect.
    #[serde(default = "default_bind")]
    pub socket_method: SocketMethod,
    /// The prefixes a SUB socket subscribes to, matched against a message's first frame; none
    /// means every message. Only for SUB.
    #[serde(default)]
    pub sub_prefixes: Vec<String>,
    /// The name of the service invoked.
    pub service: String,
    /// The format of the body.
    #[serde(default)]
    pub data_format: DataFormat,
    /// The receive high-water mark: how many messages ZeroMQ queues per peer before a PUSH peer
    /// waits (or a PUB peer drops): 1 to 1,000,000.
    #[serde(default = "default_hwm")]
    pub rcv_hwm: u32,
    /// The largest frame taken, in bytes (1 to 1 GiB); a peer sending a larger one is
    /// disconnected.
    #[serde(default = "default_max_msg_size")]
    pub max_msg_size: u64,
    /// How many messages are handed to the service at once; the next ones wait in ZeroMQ's
    /// queue, up to `rcv_hwm`.
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: u32,
    /// The time the service has for one message (0.001 to 86400 seconds); a slower
    /// one is abandoned and logged.
    #[serde(default = "default_service_timeout", with = "seconds")]
    pub timeout: Duration,
    /// The most items a list element of the input takes, as on HTTP channels.
    #[serde(default = "default_max_items")]
    pub max_items: usize,
}

fn default_bind() -> SocketMethod {
    SocketMethod::Bind
}

fn default_connect() -> SocketMethod {
    SocketMethod::Connect
}

impl ZmqChannelConfig {
    /// An active JSON channel binding `address`, with the default limits.
    pub fn new(
        name: impl Into<String>,
        socket_type: ZmqChannelType,
        address: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        ZmqChannelConfig {
            name: name.into(),
            is_active: true,
            socket_type,
            address: address.into(),
            socket_method: SocketMethod::Bind,
            sub_prefixes: Vec::new(),
            service: service.into(),
            data_format: DataFormat::Json,
            rcv_hwm: DEFAULT_HWM,
            max_msg_size: DEFAULT_MAX_MSG_SIZE,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            timeout: DEFAULT_SERVICE_TIMEOUT,
            max_items: default_max_items(),
        }
    }

    /// The same channel, binding or connecting.
    pub fn with_socket_method(mut self, method: SocketMethod) -> Self {
        self.socket_method = method;
        self
    }

    /// The same channel subscribing to `prefixes` (SUB only).
    pub fn with_sub_prefixes<I, S>(mut self, prefixes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.sub_prefixes = prefixes.into_iter().map(Into::into).collect();
        self
    }

    /// The same channel, active or not.
    pub fn with_active(mut self, is_active: bool) -> Self {
        self.is_active = is_active;
        self
    }

    /// The same channel in another data format.
    pub fn with_data_format(mut self, format: DataFormat) -> Self {
        self.data_format = format;
        self
    }

    /// The same channel with another receive high-water mark.
    pub fn with_rcv_hwm(mut self, hwm: u32) -> Self {
        self.rcv_hwm = hwm;
        self
    }

    /// The same channel running at most `max` invocations at once.
    pub fn with_max_concurrency(mut self, max: u32) -> Self {
        self.max_concurrency = max;
        self
    }

    /// The same channel invoking another service.
    pub fn with_service(mut self, service: impl Into<String>) -> Self {
        self.service = service.into();
        self
    }

    /// The same channel with another service timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Every problem of the channel, paths relative to it.
    pub(super) fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        name_problems(&self.name, &mut problems);
        if self.service.trim().is_empty() {
            problems.push(ConfigProblem::new("service", "must not be empty"));
        }
        address_problems(&self.address, &mut problems);
        // 0 would leave the queue unbounded.
        problems.extend(bounds::count("rcv_hwm", self.rcv_hwm, 1, bounds::MAX_QUEUE));
        problems.extend(bounds::count(
            "max_msg_size",
            self.max_msg_size,
            1,
            bounds::MAX_BYTES,
        ));
        if !(1..=MAX_CONCURRENCY_LIMIT).contains(&self.max_concurrency) {
            problems.push(ConfigProblem::new(
                "max_concurrency",
                format!("must be between 1 and {MAX_CONCURRENCY_LIMIT}"),
            ));
        }
        problems.extend(bounds::positive_seconds(
            "timeout",
            self.timeout.as_secs_f64(),
            bounds::MAX_SECONDS,
        ));
        problems.extend(bounds::count(
            "max_items",
            self.max_items as u64,
            1,
            bounds::MAX_ITEMS,
        ));
        if self.socket_type == ZmqChannelType::Pull && !self.sub_prefixes.is_empty() {
            problems.push(ConfigProblem::new(
                "sub_prefixes",
                "only a SUB socket subscribes; a PULL socket takes every message",
            ));
        }
        problems
    }

    /// Checks the channel.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] listing every problem, paths relative to the channel (`rcv_hwm`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check(self.problems())
    }
}

/// A ZeroMQ outgoing connection (`outgoing.zmq`): a PUSH or PUB socket that services send
/// through, by name. `send_timeout` is in seconds (fractions allowed).
///
/// # Examples
///
/// ```
/// use zato_channels::{SocketMethod, ZmqConnectionConfig, ZmqOutgoingType};
///
/// let conn: ZmqConnectionConfig = serde_json::from_str(r#"{
///     "name": "billing.push",
///     "socket_type": "push",
///     "address": "tcp://127.0.0.1:11226",
///     "send_timeout": 0.5
/// }"#).unwrap();
/// assert_eq!(conn.socket_method, SocketMethod::Connect);
/// assert_eq!(conn.send_timeout, std::time::Duration::from_millis(500));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ZmqConnectionConfig {
    /// The connection's unique name.
    pub name: String,
    /// An inactive connection has no socket; sending through it is a 503.
    #[serde(default = "yes")]
    pub is_active: bool,
    /// PUSH or PUB.
    pub socket_type: ZmqOutgoingType,
    /// The ZeroMQ endpoint.
    pub address: String,
    /// Connect (the default) or bind.
    #[serde(default = "default_connect")]
    pub socket_method: SocketMethod,
    /// The send high-water mark: how many messages ZeroMQ queues per peer, 1 to 1,000,000.
    #[serde(default = "default_hwm")]
    pub snd_hwm: u32,
    /// How long a send waits for room in a queue (PUSH with every peer's queue full, or no peer
    /// at all) before it fails with a 504 naming the connection.
    #[serde(default = "default_send_timeout", with = "seconds")]
    pub send_timeout: Duration,
}

impl ZmqConnectionConfig {
    /// An active connection connecting to `address`, with the default limits.
    pub fn new(
        name: impl Into<String>,
        socket_type: ZmqOutgoingType,
        address: impl Into<String>,
    ) -> Self {
        ZmqConnectionConfig {
            name: name.into(),
            is_active: true,
            socket_type,
            address: address.into(),
            socket_method: SocketMethod::Connect,
            snd_hwm: DEFAULT_HWM,
            send_timeout: DEFAULT_SEND_TIMEOUT,
        }
    }

    /// The same connection, binding or connecting.
    pub fn with_socket_method(mut self, method: SocketMethod) -> Self {
        self.socket_method = method;
        self
    }

    /// The same connection with another send high-water mark.
    pub fn with_snd_hwm(mut self, hwm: u32) -> Self {
        self.snd_hwm = hwm;
        self
    }

    /// The same connection with another send timeout.
    pub fn with_send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// The same connection, active or not.
    pub fn with_active(mut self, is_active: bool) -> Self {
        self.is_active = is_active;
        self
    }

    /// Checks the connection.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] listing every problem, paths relative to the connection.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        name_problems(&self.name, &mut problems);
        address_problems(&self.address, &mut problems);
        // 0 would leave the queue unbounded.
        problems.extend(bounds::count("snd_hwm", self.snd_hwm, 1, bounds::MAX_QUEUE));
        problems.extend(bounds::positive_seconds(
            "send_timeout",
            self.send_timeout.as_secs_f64(),
            3600.0,
        ));
        ConfigError::check(problems)
    }
}

fn name_problems(name: &str, problems: &mut Vec<ConfigProblem>) {
    if name.trim().is_empty() {
        problems.push(ConfigProblem::new("name", "must not be empty"));
    }
}

/// The transports libzmq takes, as `scheme://rest`.
const TRANSPORTS: &[&str] = &["tcp", "ipc", "inproc"];

fn address_problems(address: &str, problems: &mut Vec<ConfigProblem>) {
    let ok = address
        .split_once("://")
        .is_some_and(|(scheme, rest)| TRANSPORTS.contains(&scheme) && !rest.trim().is_empty());
    if !ok {
        problems.push(ConfigProblem::new(
            "address",
            "expected a ZeroMQ endpoint: tcp://host:port, ipc://path or inproc://name",
        ));
    }
}

/// A duration as a number of seconds, fractions allowed.
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(v.as_secs_f64())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        if !(0.0..=zato_core::config::bounds::MAX_SECONDS).contains(&secs) {
            return Err(serde::de::Error::custom(
                "expected a number of seconds, at most 86400",
            ));
        }
        Ok(zato_core::config::bounds::duration(secs))
    }
}

/// The kind of ZeroMQ channels: `channels.zmq` in the config document.
pub const ZMQ_KIND: zato_core::ChannelKind = zato_core::ChannelKind::new("zmq");

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn zato_names_defaults_and_upper_case_types() {
        let c: ZmqChannelConfig = serde_json::from_str(
            r#"{"name": "a", "socket_type": "SUB", "address": "tcp://127.0.0.1:1",
                "service": "s", "sub_prefixes": ["x"], "timeout": 1.5}"#,
        )
        .unwrap();
        assert_eq!(c.socket_type, ZmqChannelType::Sub);
        assert_eq!(c.socket_method, SocketMethod::Bind);
        assert_eq!(c.timeout, Duration::from_millis(1500));
        assert_eq!(c.max_concurrency, DEFAULT_MAX_CONCURRENCY);
        c.validate().unwrap();
        let back: ZmqChannelConfig =
            serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn every_problem_is_reported() {
        let mut c = ZmqChannelConfig::new("", ZmqChannelType::Pull, "http://x", " ");
        c.rcv_hwm = 0;
        c.max_concurrency = 0;
        c.timeout = Duration::ZERO;
        c.sub_prefixes = vec!["p".into()];
        let err = c.validate().unwrap_err();
        let paths: Vec<&str> = err.problems().iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "name",
                "service",
                "address",
                "rcv_hwm",
                "max_concurrency",
                "timeout",
                "sub_prefixes"
            ]
        );
    }

    #[test]
    fn outgoing_defaults_and_limits() {
        let c = ZmqConnectionConfig::new("o", ZmqOutgoingType::Push, "tcp://127.0.0.1:1");
        c.validate().unwrap();
        let bad = c.with_snd_hwm(0).with_send_timeout(Duration::ZERO);
        let err = bad.validate().unwrap_err();
        assert_eq!(err.problems().len(), 2);
    }
}

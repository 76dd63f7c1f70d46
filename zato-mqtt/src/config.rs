//! The configuration of `outgoing.mqtt` ([`MqttConfig`]) and `channels.mqtt`
//! ([`MqttChannelConfig`]), and their checks.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use zato_core::config::{ConfigError, ConfigProblem, bounds};
use zato_core::{DataFormat, Secret};

/// The default broker.
pub const DEFAULT_URL: &str = "mqtt://127.0.0.1:1883";

/// The largest packet MQTT 3.1.1 allows.
const MQTT_MAX_PACKET: u64 = 268_435_455;

fn yes() -> bool {
    true
}

fn default_url() -> String {
    DEFAULT_URL.to_owned()
}

fn keep_alive() -> u16 {
    30
}

fn connect_timeout() -> u16 {
    5
}

fn publish_timeout() -> f64 {
    10.0
}

fn max_in_flight() -> u16 {
    100
}

fn queue_size() -> u32 {
    100
}

fn max_packet_size() -> u64 {
    1024 * 1024
}

/// The will of a connection: what the broker publishes for it when it goes away without
/// saying goodbye.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct WillConfig {
    /// The topic, without wildcards.
    pub topic: String,
    /// The message.
    #[serde(default)]
    pub payload: String,
    /// Its QoS: 0, 1 or 2.
    #[serde(default)]
    pub qos: u8,
    /// Whether the broker retains it.
    #[serde(default)]
    pub retain: bool,
}

/// `outgoing.mqtt.<name>`: an MQTT 3.1.1 broker connection, through which services publish at
/// any QoS ([`MqttConnection`](crate::MqttConnection)), and which channels name for the broker
/// and its credentials.
///
/// The password is a [`Secret`]; a password written in `url` (`mqtt://user:pw@host`) is moved
/// to `password` before the object is stored.
///
/// # Examples
///
/// ```
/// use zato_mqtt::MqttConfig;
///
/// let config = MqttConfig::new("broker", "mqtt://127.0.0.1:1883");
/// assert!(config.problems().is_empty());
/// assert_eq!(config.max_in_flight, 100);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MqttConfig {
    /// The connection's name.
    pub name: String,
    /// An inactive connection refuses to publish, with a 503.
    #[serde(default = "yes")]
    pub is_active: bool,
    /// `mqtt://[user@]host[:port]`, without the password.
    #[serde(default = "default_url")]
    pub url: String,
    /// The password, with the user of `url`.
    #[serde(default)]
    pub password: Option<Secret<String>>,
    /// The client id publishing; empty for `zato.<name>.<host>.<pid>.<n>`, `n` counting the
    /// clients this process made. Unique per broker: a second client with the same id takes
    /// the first one's place.
    #[serde(default)]
    pub client_id: String,
    /// Seconds between keep-alive pings.
    #[serde(default = "keep_alive")]
    pub keep_alive: u16,
    /// Seconds connecting may take.
    #[serde(default = "connect_timeout")]
    pub connect_timeout: u16,
    /// How long a publication waits for the broker's acknowledgement (QoS 1 and 2) or to be
    /// written (QoS 0), in seconds.
    #[serde(default = "publish_timeout")]
    pub publish_timeout: f64,
    /// The most QoS 1 and 2 publications awaiting the broker's acknowledgement at once.
    #[serde(default = "max_in_flight")]
    pub max_in_flight: u16,
    /// The most publications queued for the connection at once; more wait.
    #[serde(default = "queue_size")]
    pub queue_size: u32,
    /// The largest packet sent or received, in bytes.
    #[serde(default = "max_packet_size")]
    pub max_packet_size: u64,
    /// The connection's will.
    #[serde(default)]
    pub will: Option<WillConfig>,
}

impl MqttConfig {
    /// A connection named `name` to the broker at `url`, with the defaults.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        MqttConfig {
            name: name.into(),
            is_active: true,
            url: url.into(),
            password: None,
            client_id: String::new(),
            keep_alive: keep_alive(),
            connect_timeout: connect_timeout(),
            publish_timeout: publish_timeout(),
            max_in_flight: max_in_flight(),
            queue_size: queue_size(),
            max_packet_size: max_packet_size(),
            will: None,
        }
    }

    /// The same, with a password.
    pub fn with_password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(Secret::new(password.into()));
        self
    }

    /// The same, with a will.
    pub fn with_will(
        mut self,
        topic: impl Into<String>,
        payload: impl Into<String>,
        qos: u8,
        retain: bool,
    ) -> Self {
        self.will = Some(WillConfig {
            topic: topic.into(),
            payload: payload.into(),
            qos,
            retain,
        });
        self
    }

    /// The problems of the configuration, paths relative to the object.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if let Err(why) = parse_url(&self.url) {
            problems.push(ConfigProblem::new("url", why));
        }
        problems.extend(bounds::count("keep_alive", self.keep_alive, 5, 3600));
        problems.extend(bounds::count(
            "connect_timeout",
            self.connect_timeout,
            1,
            300,
        ));
        problems.extend(bounds::positive_seconds(
            "publish_timeout",
            self.publish_timeout,
            3600.0,
        ));
        problems.extend(bounds::count(
            "max_in_flight",
            self.max_in_flight,
            1,
            u64::from(u16::MAX),
        ));
        problems.extend(bounds::count("queue_size", self.queue_size, 1, 100_000));
        problems.extend(bounds::count(
            "max_packet_size",
            self.max_packet_size,
            1024,
            MQTT_MAX_PACKET,
        ));
        if let Some(will) = &self.will {
            if !valid_topic(&will.topic) {
                problems.push(ConfigProblem::new(
                    "will.topic",
                    "must be a topic without wildcards (+, #)",
                ));
            }
            problems.extend(bounds::count("will.qos", will.qos, 0, 2));
        }
        problems
    }

    /// The broker's host and port, and the user, from `url`.
    pub(crate) fn endpoint(&self) -> Result<(String, u16, Option<String>), ConfigError> {
        let url = parse_url(&self.url).map_err(|why| ConfigError::one("url", why))?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let user = (!url.username().is_empty()).then(|| percent_decode(url.username()));
        Ok((host, url.port().unwrap_or(1883), user))
    }

    /// The client id publishing: a new one at each call when `client_id` is empty.
    pub fn client_id(&self) -> String {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        if self.client_id.is_empty() {
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            format!(
                "zato.{}.{}.{}.{n}",
                self.name,
                host_name(),
                std::process::id()
            )
        } else {
            self.client_id.clone()
        }
    }

    pub(crate) fn publish_timeout(&self) -> Duration {
        bounds::duration(self.publish_timeout)
    }

    /// Where the broker is, for messages: the URL as written (it holds no password).
    pub fn address(&self) -> &str {
        &self.url
    }
}

fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "zato".to_owned())
}

/// Whether `topic` is a topic one can publish to.
pub(crate) fn valid_topic(topic: &str) -> bool {
    !topic.is_empty() && topic.len() <= 65_535 && !topic.contains(['+', '#', '\0'])
}

/// Whether `filter` is a topic filter one can subscribe to.
pub(crate) fn valid_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.len() > 65_535 || filter.contains('\0') {
        return false;
    }
    let levels: Vec<&str> = filter.split('/').collect();
    let last = levels.len() - 1;
    levels.iter().enumerate().all(|(i, level)| match *level {
        "#" => i == last,
        "+" => true,
        l => !l.contains(['+', '#']),
    })
}

fn parse_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    match url.scheme() {
        "mqtt" | "tcp" => {}
        "mqtts" | "ssl" => return Err("TLS (mqtts://) is not supported by this build".to_owned()),
        other => return Err(format!("the scheme must be mqtt://, not {other}://")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("names no host".to_owned());
    }
    if url.password().is_some() {
        return Err("must not hold a password: give it as `password`".to_owned());
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err("takes no path, query nor fragment".to_owned());
    }
    Ok(url)
}

/// Moves a password written in `url` to `password`, so that the stored object shows none.
pub(crate) fn split_password(object: &mut serde_json::Value) -> Result<(), ConfigError> {
    let Some(text) = object.get("url").and_then(serde_json::Value::as_str) else {
        return Ok(());
    };
    let Ok(mut url) = url::Url::parse(text) else {
        return Ok(());
    };
    let Some(password) = url.password().map(percent_decode) else {
        return Ok(());
    };
    if object.get("password").is_some_and(|p| !p.is_null()) {
        return Err(ConfigError::one(
            "url",
            "give the password either in `url` or as `password`, not both",
        ));
    }
    let _ = url.set_password(None);
    let mut shown = url.to_string();
    if shown.ends_with('/') && !text.ends_with('/') {
        shown.pop();
    }
    if let Some(map) = object.as_object_mut() {
        map.insert("url".into(), shown.into());
        map.insert("password".into(), password.into());
    }
    Ok(())
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |b: u8| char::from(b).to_digit(16);
        if b == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn qos() -> u8 {
    1
}

fn channel_in_flight() -> u16 {
    10
}

fn max_deliveries() -> u32 {
    5
}

fn retry_delay() -> f64 {
    1.0
}

fn timeout() -> f64 {
    30.0
}

/// `channels.mqtt.<name>`: topic filters subscribed to through a broker connection of
/// `outgoing.mqtt`, each message handed to `service`, and acknowledged (QoS 1 and 2) only once
/// it succeeded.
///
/// # Examples
///
/// ```
/// use zato_mqtt::MqttChannelConfig;
///
/// let config = MqttChannelConfig::new("invoices", "broker", ["invoices/#"], "invoice.dispatcher");
/// assert!(config.problems().is_empty());
/// assert_eq!(config.client_id(), "zato.channel.invoices");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MqttChannelConfig {
    /// The channel's name.
    pub name: String,
    /// An inactive channel does not connect.
    #[serde(default = "yes")]
    pub is_active: bool,
    /// The `outgoing.mqtt` connection naming the broker and the credentials.
    pub connection: String,
    /// The service each message is handed to.
    pub service: String,
    /// The topic filters subscribed to (`+` and `#` wildcards).
    pub topics: Vec<String>,
    /// The QoS subscribed at: 0, 1 or 2.
    #[serde(default = "qos")]
    pub qos: u8,
    /// The channel's client id; empty for `zato.channel.<name>`. It must stay the same for the
    /// persistent session to find the messages queued while the node was away, and be used by
    /// one node at a time.
    #[serde(default)]
    pub client_id: String,
    /// A persistent session (`clean_session` false): the broker keeps the subscriptions and
    /// queues QoS 1 and 2 messages while the channel is away.
    #[serde(default = "yes")]
    pub persistent: bool,
    /// The body's data format.
    #[serde(default)]
    pub data_format: DataFormat,
    /// The most messages handled at once.
    #[serde(default = "channel_in_flight")]
    pub max_in_flight: u16,
    /// A failing message is tried this many times, then dead-lettered.
    #[serde(default = "max_deliveries")]
    pub max_deliveries: u32,
    /// Seconds between tries of a failing message.
    #[serde(default = "retry_delay")]
    pub retry_delay: f64,
    /// The topic dead letters are published to (QoS 1); empty for `zato/dead-letters/<name>`.
    #[serde(default)]
    pub dead_letter_topic: String,
    /// How long the service may take with one message, in seconds.
    #[serde(default = "timeout")]
    pub timeout: f64,
}

impl MqttChannelConfig {
    /// A channel subscribing to `topics` through `connection` into `service`.
    pub fn new<T: Into<String>>(
        name: impl Into<String>,
        connection: impl Into<String>,
        topics: impl IntoIterator<Item = T>,
        service: impl Into<String>,
    ) -> Self {
        MqttChannelConfig {
            name: name.into(),
            is_active: true,
            connection: connection.into(),
            service: service.into(),
            topics: topics.into_iter().map(Into::into).collect(),
            qos: qos(),
            client_id: String::new(),
            persistent: true,
            data_format: DataFormat::default(),
            max_in_flight: channel_in_flight(),
            max_deliveries: max_deliveries(),
            retry_delay: retry_delay(),
            dead_letter_topic: String::new(),
            timeout: timeout(),
        }
    }

    /// The problems of the configuration, paths relative to the object.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        for (field, value) in [("connection", &self.connection), ("service", &self.service)] {
            if value.trim().is_empty() {
                problems.push(ConfigProblem::new(field, "must not be empty"));
            }
        }
        if self.topics.is_empty() || self.topics.len() > 100 {
            problems.push(ConfigProblem::new(
                "topics",
                "must list 1 to 100 topic filters",
            ));
        }
        for (i, topic) in self.topics.iter().enumerate() {
            if !valid_filter(topic) {
                problems.push(ConfigProblem::new(
                    format!("topics[{i}]"),
                    "not a topic filter: `#` only as the last level, `+` and `#` only as whole levels",
                ));
            }
        }
        problems.extend(bounds::count("qos", self.qos, 0, 2));
        problems.extend(bounds::count("max_in_flight", self.max_in_flight, 1, 1000));
        problems.extend(bounds::count(
            "max_deliveries",
            self.max_deliveries,
            1,
            1000,
        ));
        problems.extend(bounds::seconds(
            "retry_delay",
            self.retry_delay,
            0.0,
            3600.0,
        ));
        problems.extend(bounds::positive_seconds(
            "timeout",
            self.timeout,
            bounds::MAX_SECONDS,
        ));
        if !self.dead_letter_topic.is_empty() && !valid_topic(&self.dead_letter_topic) {
            problems.push(ConfigProblem::new(
                "dead_letter_topic",
                "must be a topic without wildcards (+, #)",
            ));
        }
        problems
    }

    /// The channel's client id.
    pub fn client_id(&self) -> String {
        if self.client_id.is_empty() {
            format!("zato.channel.{}", self.name)
        } else {
            self.client_id.clone()
        }
    }

    /// The topic dead letters are published to.
    pub fn dead_letter_topic(&self) -> String {
        if self.dead_letter_topic.is_empty() {
            format!("zato/dead-letters/{}", self.name)
        } else {
            self.dead_letter_topic.clone()
        }
    }

    pub(crate) fn timeout_duration(&self) -> Duration {
        bounds::duration(self.timeout)
    }

    pub(crate) fn retry_delay_duration(&self) -> Duration {
        bounds::duration(self.retry_delay)
    }
}

/// The QoS numbered `n` (0, 1 or 2; more counts as 2).
pub(crate) fn qos_of(n: u8) -> rumqttc::QoS {
    match n {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn filters_and_topics_are_checked() {
        for good in ["a", "a/b", "a/+/c", "#", "a/#", "+", "+/+"] {
            assert!(valid_filter(good), "{good}");
        }
        for bad in ["", "a/#/c", "a+", "a/b#", "#/a"] {
            assert!(!valid_filter(bad), "{bad}");
        }
        assert!(valid_topic("invoices/1") && !valid_topic("invoices/+"));
        let mut config = MqttChannelConfig::new("c", "b", ["ok/#", "bad#"], "s");
        config.qos = 3;
        let paths: Vec<String> = config.problems().into_iter().map(|p| p.path).collect();
        assert_eq!(paths, ["topics[1]", "qos"]);
    }

    #[test]
    fn a_password_in_the_url_is_moved_out_and_bad_numbers_are_named() {
        let mut object = serde_json::json!({"name": "b", "url": "mqtt://app:p%40ss@h:1884"});
        split_password(&mut object).unwrap();
        assert_eq!(object["url"], "mqtt://app@h:1884");
        assert_eq!(object["password"], "p@ss");
        let mut config = MqttConfig::new("b", "mqtts://h").with_will("a/#", "x", 5, false);
        config.keep_alive = 1;
        config.max_in_flight = 0;
        let paths: Vec<String> = config.problems().into_iter().map(|p| p.path).collect();
        assert_eq!(
            paths,
            [
                "url",
                "keep_alive",
                "max_in_flight",
                "will.topic",
                "will.qos"
            ]
        );
        let (host, port, user) = MqttConfig::new("b", "mqtt://u@h").endpoint().unwrap();
        assert_eq!(
            (host.as_str(), port, user.as_deref()),
            ("h", 1883, Some("u"))
        );
    }
}

//! The configuration of `outgoing.redis` ([`RedisConfig`]) and `channels.redis_stream`
//! ([`RedisStreamConfig`]), and their checks.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use zato_core::config::{ConfigError, ConfigProblem, bounds};
use zato_core::{DataFormat, Secret};

/// The default server.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379/0";

fn yes() -> bool {
    true
}

fn default_url() -> String {
    DEFAULT_URL.to_owned()
}

fn five() -> f64 {
    5.0
}

fn max_in_flight() -> u32 {
    1000
}

/// `outgoing.redis.<name>`: one Redis server, used by services as a key-value store, a cache
/// or through raw commands ([`RedisConnection`](crate::RedisConnection)), and by the Redis
/// Streams channels naming it.
///
/// The password is a [`Secret`]; a password written in `url` (`redis://:pw@host`) is moved to
/// `password` before the object is stored, so it is never shown.
///
/// # Examples
///
/// ```
/// use zato_redis::RedisConfig;
///
/// let config = RedisConfig::new("cache", "redis://127.0.0.1:6379/2");
/// assert!(config.problems().is_empty());
/// assert_eq!(config.connect_timeout, 5.0);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RedisConfig {
    /// The connection's name, by which services reach it.
    pub name: String,
    /// An inactive connection refuses every command with a 503.
    #[serde(default = "yes")]
    pub is_active: bool,
    /// `redis://[user@]host[:port][/db]`, without the password.
    #[serde(default = "default_url")]
    pub url: String,
    /// The password (`AUTH`), with the user of `url` if it names one.
    #[serde(default)]
    pub password: Option<Secret<String>>,
    /// How long connecting may take, in seconds.
    #[serde(default = "five")]
    pub connect_timeout: f64,
    /// How long one command may wait for its answer, in seconds.
    #[serde(default = "five")]
    pub response_timeout: f64,
    /// The most commands in flight at once on the connection; more wait for a slot.
    #[serde(default = "max_in_flight")]
    pub max_in_flight: u32,
}

impl RedisConfig {
    /// A connection named `name` to the server at `url`, with the defaults.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        RedisConfig {
            name: name.into(),
            is_active: true,
            url: url.into(),
            password: None,
            connect_timeout: five(),
            response_timeout: five(),
            max_in_flight: max_in_flight(),
        }
    }

    /// The same, with a password.
    pub fn with_password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(Secret::new(password.into()));
        self
    }

    /// The problems of the configuration, paths relative to the object.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if let Err(why) = parse_url(&self.url) {
            problems.push(ConfigProblem::new("url", why));
        }
        problems.extend(bounds::positive_seconds(
            "connect_timeout",
            self.connect_timeout,
            300.0,
        ));
        problems.extend(bounds::positive_seconds(
            "response_timeout",
            self.response_timeout,
            300.0,
        ));
        problems.extend(bounds::count(
            "max_in_flight",
            self.max_in_flight,
            1,
            100_000,
        ));
        problems
    }

    /// How long connecting may take.
    pub fn connect_timeout(&self) -> Duration {
        bounds::duration(self.connect_timeout)
    }

    /// How long one command may wait for its answer.
    pub fn response_timeout(&self) -> Duration {
        bounds::duration(self.response_timeout)
    }

    /// The URL the client connects to, with the password: never logged nor shown.
    pub(crate) fn full_url(&self) -> Result<String, ConfigError> {
        let mut url = parse_url(&self.url).map_err(|why| ConfigError::one("url", why))?;
        if let Some(password) = &self.password
            && url.set_password(Some(password.expose())).is_err()
        {
            return Err(ConfigError::one(
                "password",
                "cannot be given with this url",
            ));
        }
        Ok(url.into())
    }

    /// Where the server is, for messages: the URL as written (it holds no password).
    pub fn address(&self) -> &str {
        &self.url
    }
}

/// Parses a `redis://` URL, refusing what the client would not take.
fn parse_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    match url.scheme() {
        "redis" => {}
        "rediss" => return Err("TLS (rediss://) is not supported by this build".to_owned()),
        other => return Err(format!("the scheme must be redis://, not {other}://")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("names no host".to_owned());
    }
    if url.password().is_some() {
        return Err("must not hold a password: give it as `password`".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("takes no query nor fragment".to_owned());
    }
    let db = url.path().trim_start_matches('/');
    if !db.is_empty() && db.parse::<u16>().is_err() {
        return Err(format!("the path must be a database number, not {db:?}"));
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
    let Some(password) = url.password().map(str::to_owned) else {
        return Ok(());
    };
    if object.get("password").is_some_and(|p| !p.is_null()) {
        return Err(ConfigError::one(
            "url",
            "give the password either in `url` or as `password`, not both",
        ));
    }
    let password = percent_decode(&password);
    let _ = url.set_password(None);
    if let Some(map) = object.as_object_mut() {
        map.insert("url".into(), url.to_string().into());
        map.insert("password".into(), password.into());
    }
    Ok(())
}

/// Decodes `%XX` escapes of a URL's user information.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn group() -> String {
    "zato".to_owned()
}

fn body_field() -> String {
    "body".to_owned()
}

fn batch() -> u16 {
    10
}

fn block() -> f64 {
    2.0
}

fn claim_idle() -> f64 {
    60.0
}

fn max_deliveries() -> u32 {
    5
}

fn start_id() -> String {
    "0".to_owned()
}

fn timeout() -> f64 {
    30.0
}

fn max_bytes() -> u64 {
    10 * 1024 * 1024
}

fn dead_letter_max_len() -> u64 {
    100_000
}

/// `channels.redis_stream.<name>`: a Redis stream read by a consumer group, each entry handed
/// to `service` and acknowledged (`XACK`) once it succeeded.
///
/// # Examples
///
/// ```
/// use zato_redis::RedisStreamConfig;
///
/// let config = RedisStreamConfig::new("invoices", "cache", "invoices", "invoice.dispatcher");
/// assert!(config.problems().is_empty());
/// assert_eq!(config.dead_letter_stream(), "invoices.dead");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RedisStreamConfig {
    /// The channel's name.
    pub name: String,
    /// An inactive channel reads nothing.
    #[serde(default = "yes")]
    pub is_active: bool,
    /// The `outgoing.redis` connection naming the server.
    pub connection: String,
    /// The stream's key.
    pub stream: String,
    /// The service each entry is handed to.
    pub service: String,
    /// The consumer group, created (with the stream) when missing.
    #[serde(default = "group")]
    pub group: String,
    /// This node's consumer in the group; empty for the host's name. Keep it the same across
    /// restarts: a node reads its own pending entries first when it starts.
    #[serde(default)]
    pub consumer: String,
    /// Where a new group starts: `0` (every entry of the stream) or `$` (new entries only).
    #[serde(default = "start_id")]
    pub start_id: String,
    /// The entry field holding the message's body; the other fields are channel parameters.
    #[serde(default = "body_field")]
    pub body_field: String,
    /// The body's data format.
    #[serde(default)]
    pub data_format: DataFormat,
    /// The most entries read and handled at once.
    #[serde(default = "batch")]
    pub batch: u16,
    /// How long one read waits for new entries, in seconds.
    #[serde(default = "block")]
    pub block: f64,
    /// How long an entry stays pending (unacknowledged) before any consumer of the group claims
    /// it (`XAUTOCLAIM`), in seconds: the retry delay of a failed entry, and how long the
    /// entries of a dead consumer wait. Must be longer than `timeout`.
    #[serde(default = "claim_idle")]
    pub claim_idle: f64,
    /// After this many deliveries a failing entry is dead-lettered.
    #[serde(default = "max_deliveries")]
    pub max_deliveries: u32,
    /// The stream dead letters go to; empty for `<stream>.dead`.
    #[serde(default)]
    pub dead_letter_stream: String,
    /// The dead-letter stream is trimmed to about this many entries.
    #[serde(default = "dead_letter_max_len")]
    pub dead_letter_max_len: u64,
    /// How long the service may take with one entry, in seconds.
    #[serde(default = "timeout")]
    pub timeout: f64,
    /// The largest body handed to the service; a larger one is dead-lettered.
    #[serde(default = "max_bytes")]
    pub max_bytes: u64,
}

impl RedisStreamConfig {
    /// A channel reading `stream` through the connection `connection` into `service`.
    pub fn new(
        name: impl Into<String>,
        connection: impl Into<String>,
        stream: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        RedisStreamConfig {
            name: name.into(),
            is_active: true,
            connection: connection.into(),
            stream: stream.into(),
            service: service.into(),
            group: group(),
            consumer: String::new(),
            start_id: start_id(),
            body_field: body_field(),
            data_format: DataFormat::default(),
            batch: batch(),
            block: block(),
            claim_idle: claim_idle(),
            max_deliveries: max_deliveries(),
            dead_letter_stream: String::new(),
            dead_letter_max_len: dead_letter_max_len(),
            timeout: timeout(),
            max_bytes: max_bytes(),
        }
    }

    /// The problems of the configuration, paths relative to the object.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        for (field, value) in [
            ("connection", &self.connection),
            ("stream", &self.stream),
            ("service", &self.service),
            ("group", &self.group),
            ("body_field", &self.body_field),
        ] {
            if value.trim().is_empty() {
                problems.push(ConfigProblem::new(field, "must not be empty"));
            }
        }
        if self.start_id != "0" && self.start_id != "$" {
            problems.push(ConfigProblem::new("start_id", "must be 0 or $"));
        }
        problems.extend(bounds::count("batch", self.batch, 1, 1000));
        problems.extend(bounds::positive_seconds("block", self.block, 60.0));
        problems.extend(bounds::positive_seconds(
            "timeout",
            self.timeout,
            bounds::MAX_SECONDS,
        ));
        problems.extend(bounds::positive_seconds(
            "claim_idle",
            self.claim_idle,
            bounds::MAX_SECONDS,
        ));
        if self.claim_idle.is_finite()
            && self.timeout.is_finite()
            && self.claim_idle <= self.timeout
        {
            problems.push(ConfigProblem::new(
                "claim_idle",
                "must be longer than timeout: an entry still being handled would be claimed again",
            ));
        }
        problems.extend(bounds::count(
            "max_deliveries",
            self.max_deliveries,
            1,
            1000,
        ));
        problems.extend(bounds::count(
            "dead_letter_max_len",
            self.dead_letter_max_len,
            1,
            bounds::MAX_QUEUE * 100,
        ));
        problems.extend(bounds::count(
            "max_bytes",
            self.max_bytes,
            1,
            bounds::MAX_BYTES,
        ));
        if !self.dead_letter_stream.is_empty() && self.dead_letter_stream == self.stream {
            problems.push(ConfigProblem::new(
                "dead_letter_stream",
                "must not be the stream read",
            ));
        }
        problems
    }

    /// The stream dead letters go to.
    pub fn dead_letter_stream(&self) -> String {
        if self.dead_letter_stream.is_empty() {
            format!("{}.dead", self.stream)
        } else {
            self.dead_letter_stream.clone()
        }
    }

    /// The consumer's name in the group.
    pub fn consumer_name(&self) -> String {
        if !self.consumer.is_empty() {
            return self.consumer.clone();
        }
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty());
        host.unwrap_or_else(|| "zato".to_owned())
    }

    pub(crate) fn timeout_duration(&self) -> Duration {
        bounds::duration(self.timeout)
    }

    pub(crate) fn block_duration(&self) -> Duration {
        bounds::duration(self.block)
    }

    pub(crate) fn claim_idle_duration(&self) -> Duration {
        bounds::duration(self.claim_idle)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn a_password_in_the_url_is_moved_out_of_it() {
        let mut object = serde_json::json!({"name": "c", "url": "redis://app:p%40ss@h:6380/3"});
        split_password(&mut object).unwrap();
        assert_eq!(object["url"], "redis://app@h:6380/3");
        assert_eq!(object["password"], "p@ss");
        let mut both = serde_json::json!({"name": "c", "url": "redis://:a@h", "password": "b"});
        assert!(split_password(&mut both).is_err());
    }

    #[test]
    fn bad_urls_and_numbers_are_named() {
        let mut config = RedisConfig::new("c", "http://h");
        config.response_timeout = f64::NAN;
        config.max_in_flight = 0;
        let paths: Vec<String> = config.problems().into_iter().map(|p| p.path).collect();
        assert_eq!(paths, ["url", "response_timeout", "max_in_flight"]);
        for bad in ["redis://h/x", "rediss://h", "redis://h?db=1", "redis:///0"] {
            assert!(
                !RedisConfig::new("c", bad).problems().is_empty(),
                "{bad} accepted"
            );
        }
        let full = RedisConfig::new("c", "redis://h:1/2")
            .with_password("s")
            .full_url()
            .unwrap();
        assert_eq!(full, "redis://:s@h:1/2");
    }

    #[test]
    fn a_claim_shorter_than_the_timeout_is_refused() {
        let mut config = RedisStreamConfig::new("c", "r", "s", "svc");
        config.claim_idle = 10.0;
        config.timeout = 10.0;
        config.batch = 0;
        let paths: Vec<String> = config.problems().into_iter().map(|p| p.path).collect();
        assert_eq!(paths, ["batch", "claim_idle"]);
    }
}

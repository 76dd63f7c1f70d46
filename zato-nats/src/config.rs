//! The configuration of NATS: server connections (`outgoing.nats`) and the channels consuming
//! through them (`channels.nats`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use zato_core::config::bounds;
use zato_core::{ChannelKind, ConfigProblem, DataFormat, Secret};

/// The channel kind of NATS channels.
pub const NATS_KIND: ChannelKind = ChannelKind::new("nats");

/// The fields of [`NatsConnectionConfig`] that hold secrets.
pub(crate) const CONNECTION_SECRETS: &[&str] = &["password", "token"];

/// A NATS connection, `outgoing.nats.<name>`: where the servers are and how to log in.
/// Services publish and make requests through it (`ctx.outgoing().nats(name)`), and NATS
/// channels consume through their own client made from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct NatsConnectionConfig {
    /// The connection's name, unique among NATS connections.
    pub name: String,
    /// Whether it may be used; an inactive one refuses to publish, and its channels stop
    /// consuming until it is active again.
    pub is_active: bool,
    /// The servers, comma-separated: `nats://127.0.0.1:4222`, `tls://nats.example.com:4222`.
    /// Credentials go in `username`/`password` or `token`, never in the URL.
    pub url: String,
    /// The user to log in as, with `password`.
    pub username: Option<String>,
    /// Its password.
    pub password: Option<Secret>,
    /// A token to log in with, instead of a user.
    pub token: Option<Secret>,
    /// Whether to require TLS.
    pub tls: bool,
    /// Seconds to connect, and to wait for JetStream to acknowledge a published message.
    pub timeout: f64,
    /// Seconds a request waits for its reply.
    pub request_timeout: f64,
    /// The most messages waiting to be written to the server; past that, publishing waits.
    pub client_capacity: u32,
}

impl Default for NatsConnectionConfig {
    fn default() -> Self {
        NatsConnectionConfig {
            name: String::new(),
            is_active: true,
            url: "nats://127.0.0.1:4222".to_owned(),
            username: None,
            password: None,
            token: None,
            tls: false,
            timeout: 10.0,
            request_timeout: 10.0,
            client_capacity: 2048,
        }
    }
}

impl NatsConnectionConfig {
    /// A connection named `name` to the servers at `url`.
    ///
    /// # Examples
    ///
    /// ```
    /// use zato_nats::NatsConnectionConfig;
    ///
    /// let config = NatsConnectionConfig::new("bus", "nats://127.0.0.1:4222");
    /// assert!(config.problems().is_empty());
    /// let bad = NatsConnectionConfig::new("bus", "nats://app:s3cret@127.0.0.1:4222");
    /// assert_eq!(bad.problems()[0].path, "url");
    /// assert!(!bad.problems()[0].message.contains("s3cret"));
    /// ```
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        NatsConnectionConfig {
            name: name.into(),
            url: url.into(),
            ..NatsConnectionConfig::default()
        }
    }

    /// The servers of `url`, each as the client takes it.
    pub(crate) fn servers(&self) -> Result<Vec<async_nats::ServerAddr>, String> {
        let mut servers = Vec::new();
        for part in self.url.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            // The parser's message may quote the URL; the URL must not hold credentials, but
            // say nothing of it all the same.
            let addr: async_nats::ServerAddr = part.parse().map_err(|_| {
                "not a NATS server URL: expected nats://host:port (or tls://, ws://), comma-separated"
                    .to_owned()
            })?;
            if addr.has_user_pass() || part.contains('@') {
                return Err(
                    "give credentials in `username`/`password` or `token`, not in the URL (not shown)"
                        .to_owned(),
                );
            }
            servers.push(addr);
        }
        if servers.is_empty() {
            return Err("required".to_owned());
        }
        Ok(servers)
    }

    /// Every problem of the connection, paths relative to it.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if self.name.trim().is_empty() {
            problems.push(ConfigProblem::new("name", "required"));
        }
        if self.name.len() > bounds::MAX_NAME_BYTES {
            problems.push(ConfigProblem::new("name", "at most 256 bytes"));
        }
        if let Err(why) = self.servers() {
            problems.push(ConfigProblem::new("url", why));
        }
        if self.password.is_some() && self.username.is_none() {
            problems.push(ConfigProblem::new("username", "required with a password"));
        }
        if self.token.is_some() && self.username.is_some() {
            problems.push(ConfigProblem::new(
                "token",
                "give either a token or a username, not both",
            ));
        }
        for (field, value) in [
            ("timeout", self.timeout),
            ("request_timeout", self.request_timeout),
        ] {
            problems.extend(bounds::positive_seconds(field, value, 3600.0));
        }
        problems.extend(bounds::count(
            "client_capacity",
            self.client_capacity,
            16,
            bounds::MAX_QUEUE,
        ));
        problems
    }

    /// Where the servers are: for logs and listings (never holds credentials).
    pub fn address(&self) -> &str {
        &self.url
    }

    pub(crate) fn timeout_duration(&self) -> Duration {
        bounds::duration(self.timeout)
    }

    pub(crate) fn request_timeout_duration(&self) -> Duration {
        bounds::duration(self.request_timeout)
    }
}

/// How a NATS channel takes its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NatsMode {
    /// From a durable JetStream consumer on `stream`: each message acknowledged once its
    /// service succeeded, nak'ed with a delay when it failed, dead-lettered after
    /// `max_deliver` deliveries. At least once.
    #[default]
    Jetstream,
    /// From a core NATS subject (in a queue group when `queue_group` is given): at most once,
    /// and a message with a reply subject is answered with the service's output.
    Core,
}

/// The largest message a NATS channel hands to its service unless told otherwise: 10 MiB.
const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;

/// A NATS channel, `channels.nats.<name>`: a subject whose messages invoke a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct NatsChannelConfig {
    /// The channel's name, unique among NATS channels.
    pub name: String,
    /// Whether it consumes now.
    pub is_active: bool,
    /// The NATS connection (`outgoing.nats`) whose servers and credentials it uses; the
    /// channel has a client of its own.
    pub connection: String,
    /// The service each message invokes.
    pub service: String,
    /// The subject it takes (wildcards allowed); with JetStream, the consumer's filter.
    pub subject: String,
    /// JetStream or core NATS.
    pub mode: NatsMode,
    /// JetStream: the stream the durable consumer reads.
    pub stream: String,
    /// JetStream: the durable consumer's name; by default `zato-<channel name>` with every
    /// character other than letters, digits, `-` and `_` as `_`.
    pub durable: Option<String>,
    /// Core: the queue group, so that several nodes share the subject's messages.
    pub queue_group: Option<String>,
    /// The most messages handled at once (and fetched ahead from the consumer).
    pub concurrency: u32,
    /// JetStream: the deliveries of a failing message; the last failure dead-letters it.
    pub max_deliver: u32,
    /// JetStream: seconds before a failed message is delivered again.
    pub nak_delay: f64,
    /// JetStream: where dead letters are published, with JetStream's acknowledgement;
    /// `<subject>.dead` when not given (then `subject` must have no wildcard).
    pub dead_letter_subject: Option<String>,
    /// JetStream: create the stream (file storage, taking `subject` and the dead letters) when
    /// it is missing.
    pub declare: bool,
    /// The format of message bodies, and of replies.
    pub data_format: DataFormat,
    /// Seconds a service may take on one message; past that it counts as failed (504).
    pub timeout: f64,
    /// The largest message body handed to the service, in bytes; a larger one is dead-lettered
    /// (JetStream) or answered with a 413 (core) without invoking the service.
    pub max_bytes: u64,
}

impl Default for NatsChannelConfig {
    fn default() -> Self {
        NatsChannelConfig {
            name: String::new(),
            is_active: true,
            connection: String::new(),
            service: String::new(),
            subject: String::new(),
            mode: NatsMode::Jetstream,
            stream: String::new(),
            durable: None,
            queue_group: None,
            concurrency: 10,
            max_deliver: 5,
            nak_delay: 5.0,
            dead_letter_subject: None,
            declare: false,
            data_format: DataFormat::Json,
            timeout: 60.0,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

impl NatsChannelConfig {
    /// A JetStream channel `name` reading `subject` of `stream` through `connection` into
    /// `service`, with the defaults: JSON, 10 at once, 5 deliveries, then dead-lettered to
    /// `<subject>.dead`.
    ///
    /// # Examples
    ///
    /// ```
    /// use zato_nats::NatsChannelConfig;
    ///
    /// let channel = NatsChannelConfig::jetstream("invoices", "bus", "INVOICES", "invoices", "invoice.dispatcher")
    ///     .with_concurrency(20);
    /// assert_eq!(channel.dead_letter(), "invoices.dead");
    /// assert_eq!(channel.durable_name(), "zato-invoices");
    /// assert!(channel.problems().is_empty());
    /// ```
    pub fn jetstream(
        name: impl Into<String>,
        connection: impl Into<String>,
        stream: impl Into<String>,
        subject: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        NatsChannelConfig {
            name: name.into(),
            connection: connection.into(),
            stream: stream.into(),
            subject: subject.into(),
            service: service.into(),
            ..NatsChannelConfig::default()
        }
    }

    /// A core NATS channel `name` taking `subject` through `connection` into `service`.
    pub fn core(
        name: impl Into<String>,
        connection: impl Into<String>,
        subject: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        NatsChannelConfig {
            name: name.into(),
            connection: connection.into(),
            subject: subject.into(),
            service: service.into(),
            mode: NatsMode::Core,
            ..NatsChannelConfig::default()
        }
    }

    /// The same channel handling `n` messages at once.
    pub fn with_concurrency(mut self, n: u32) -> Self {
        self.concurrency = n;
        self
    }

    /// The same channel dead-lettering a message at its `n`th failed delivery.
    pub fn with_max_deliver(mut self, n: u32) -> Self {
        self.max_deliver = n;
        self
    }

    /// The same channel waiting `secs` before a failed message comes again.
    pub fn with_nak_delay(mut self, secs: f64) -> Self {
        self.nak_delay = secs;
        self
    }

    /// The same channel creating its stream when missing, or not.
    pub fn with_declare(mut self, declare: bool) -> Self {
        self.declare = declare;
        self
    }

    /// The same channel giving its service `secs` per message.
    pub fn with_timeout(mut self, secs: f64) -> Self {
        self.timeout = secs;
        self
    }

    /// The same channel in a core queue group.
    pub fn with_queue_group(mut self, group: impl Into<String>) -> Self {
        self.queue_group = Some(group.into());
        self
    }

    /// The same channel with its dead letters at `subject`.
    pub fn with_dead_letter_subject(mut self, subject: impl Into<String>) -> Self {
        self.dead_letter_subject = Some(subject.into());
        self
    }

    /// The subject dead letters are published to.
    pub fn dead_letter(&self) -> String {
        self.dead_letter_subject
            .clone()
            .unwrap_or_else(|| format!("{}.dead", self.subject))
    }

    /// The durable consumer's name.
    pub fn durable_name(&self) -> String {
        self.durable.clone().unwrap_or_else(|| {
            let name: String = self
                .name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            format!("zato-{name}")
        })
    }

    /// How long JetStream waits for the ack of a delivered message before delivering it
    /// again: the service's timeout and a margin to settle it.
    pub(crate) fn ack_wait(&self) -> Duration {
        self.timeout_duration() + Duration::from_secs(10)
    }

    pub(crate) fn timeout_duration(&self) -> Duration {
        bounds::duration(self.timeout)
    }

    pub(crate) fn nak_delay_duration(&self) -> Duration {
        bounds::duration(self.nak_delay)
    }

    /// Every problem of the channel, paths relative to it.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut bad = |path: &str, message: &str| problems.push(ConfigProblem::new(path, message));
        for (field, value) in [
            ("name", &self.name),
            ("connection", &self.connection),
            ("service", &self.service),
        ] {
            if value.trim().is_empty() {
                bad(field, "required");
            } else if value.len() > bounds::MAX_NAME_BYTES {
                bad(field, "at most 256 bytes");
            }
        }
        if let Err(why) = check_subject(&self.subject, true) {
            bad("subject", &why);
        }
        match self.mode {
            NatsMode::Jetstream => {
                if let Err(why) = check_name(&self.stream) {
                    bad("stream", &why);
                }
                if let Err(why) = check_name(&self.durable_name()) {
                    bad("durable", &why);
                }
                if self.queue_group.is_some() {
                    bad("queue_group", "only with mode `core`");
                }
                if self.dead_letter_subject.is_none() && has_wildcard(&self.subject) {
                    bad(
                        "dead_letter_subject",
                        "required when `subject` has a wildcard",
                    );
                } else if let Err(why) = check_subject(&self.dead_letter(), false) {
                    bad("dead_letter_subject", &why);
                } else if self.dead_letter() == self.subject {
                    bad(
                        "dead_letter_subject",
                        "must differ from `subject`, or dead letters come back",
                    );
                }
            }
            NatsMode::Core => {
                if !self.stream.is_empty() {
                    bad("stream", "only with mode `jetstream`");
                }
                if let Some(group) = &self.queue_group
                    && let Err(why) = check_name(group)
                {
                    bad("queue_group", &why);
                }
            }
        }
        problems.extend(bounds::count("concurrency", self.concurrency, 1, 1000));
        problems.extend(bounds::count("max_deliver", self.max_deliver, 1, 1000));
        problems.extend(bounds::seconds("nak_delay", self.nak_delay, 0.0, 3600.0));
        problems.extend(bounds::positive_seconds(
            "timeout",
            self.timeout,
            bounds::MAX_SECONDS,
        ));
        problems.extend(bounds::count(
            "max_bytes",
            self.max_bytes,
            1,
            bounds::MAX_BYTES,
        ));
        problems
    }
}

fn has_wildcard(subject: &str) -> bool {
    subject.split('.').any(|t| t == "*" || t == ">")
}

/// A subject: dot-separated tokens, none empty, no whitespace; wildcards only where allowed.
fn check_subject(subject: &str, wildcards: bool) -> Result<(), String> {
    if subject.is_empty() {
        return Err("required".to_owned());
    }
    if subject.len() > bounds::MAX_NAME_BYTES {
        return Err("at most 256 bytes".to_owned());
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    for (i, token) in tokens.iter().enumerate() {
        if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(
                "not a NATS subject: tokens separated by `.`, none empty, no spaces".into(),
            );
        }
        let wild = *token == "*" || *token == ">";
        if !wild && (token.contains('*') || token.contains('>')) {
            return Err("`*` and `>` stand alone as a token".to_owned());
        }
        if wild && !wildcards {
            return Err("no wildcard here".to_owned());
        }
        if *token == ">" && i + 1 != tokens.len() {
            return Err("`>` only as the last token".to_owned());
        }
    }
    Ok(())
}

/// A stream, consumer or queue group name: letters, digits, `-` and `_`.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("required".to_owned());
    }
    if name.len() > 200 {
        return Err("at most 200 bytes".to_owned());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err("letters, digits, `-` and `_` only".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_checked() {
        assert!(check_subject("invoices.eu", false).is_ok());
        assert!(check_subject("invoices.*.new", true).is_ok());
        assert!(check_subject("invoices.>", true).is_ok());
        assert!(check_subject("invoices.>", false).is_err());
        assert!(check_subject("invoices..eu", true).is_err());
        assert!(check_subject("invo ices", true).is_err());
        assert!(check_subject("a.>.b", true).is_err());
        assert!(check_subject("a.b*", true).is_err());
    }

    #[test]
    fn a_wildcard_subject_needs_a_dead_letter_subject() {
        let c = NatsChannelConfig::jetstream("c", "bus", "S", "orders.>", "svc");
        let problems = c.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].path, "dead_letter_subject");
        let c = c.with_dead_letter_subject("orders_dead");
        assert!(c.problems().is_empty());
    }

    #[test]
    fn numbers_are_bounded() {
        let c = NatsChannelConfig::core("c", "bus", "x", "svc").with_concurrency(0);
        assert!(c.problems().iter().any(|p| p.path == "concurrency"));
        let c = NatsChannelConfig::core("c", "bus", "x", "svc").with_timeout(-1.0);
        assert!(c.problems().iter().any(|p| p.path == "timeout"));
        let mut c = NatsConnectionConfig::new("bus", "nats://127.0.0.1:4222");
        c.timeout = f64::NAN;
        assert!(c.problems().iter().any(|p| p.path == "timeout"));
    }

    #[test]
    fn a_durable_name_is_made_safe() {
        let c = NatsChannelConfig::jetstream("invoices.eu", "bus", "S", "x", "svc");
        assert_eq!(c.durable_name(), "zato-invoices_eu");
    }
}

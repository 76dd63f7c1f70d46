//! The configuration of AMQP 1.0: broker connections (`outgoing.amqp10`) and the channels
//! consuming through them (`channels.amqp10`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use zato_core::config::bounds;
use zato_core::{ChannelKind, ConfigProblem, DataFormat, Secret};

/// The channel kind of AMQP 1.0 channels.
pub const AMQP10_KIND: ChannelKind = ChannelKind::new("amqp10");

/// The fields of [`Amqp10ConnectionConfig`] that hold secrets.
pub(crate) const CONNECTION_SECRETS: &[&str] = &["password"];

/// An AMQP 1.0 connection, `outgoing.amqp10.<name>`: where the broker is and how to log in.
/// Services send and make requests through it (`ctx.outgoing().amqp10(name)`), and AMQP 1.0
/// channels consume through a connection of their own made from it.
///
/// With `username` the connection logs in with SASL PLAIN, without it with SASL ANONYMOUS. An
/// `amqps://` URL connects with TLS (rustls, the web PKI roots) straight away, as IBM MQ,
/// Artemis, Azure Service Bus and RabbitMQ expect on their TLS ports; the host must then be a
/// name, not an IP address, since the certificate is checked against it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Amqp10ConnectionConfig {
    /// The connection's name, unique among AMQP 1.0 connections.
    pub name: String,
    /// Whether it may be used; an inactive one refuses to send, and its channels stop
    /// consuming until it is active again.
    pub is_active: bool,
    /// The broker: `amqp://host:5672` or `amqps://host:5671`. Credentials go in
    /// `username`/`password`, never in the URL.
    pub url: String,
    /// The user to log in as with SASL PLAIN; none means SASL ANONYMOUS.
    pub username: Option<String>,
    /// Its password.
    pub password: Option<Secret>,
    /// The container id the connection opens with; by default `zato-<name>`. IBM MQ shows it as
    /// the client's id, and some brokers refuse two connections with one id.
    pub container_id: Option<String>,
    /// The AMQP `hostname` of the open frame (a virtual host: RabbitMQ's `vhost:NAME`, an Azure
    /// namespace); by default the URL's host.
    pub hostname: Option<String>,
    /// Seconds to connect, to attach a link, and to wait for the broker to settle a message.
    pub timeout: f64,
    /// Seconds a request waits for its reply.
    pub request_timeout: f64,
    /// Seconds of silence after which the broker may drop the connection (idle-time-out); 0
    /// leaves it to the broker.
    pub idle_timeout: f64,
    /// The most addresses a connection keeps a sender link to; the least used is closed past
    /// that.
    pub max_links: u32,
}

impl Default for Amqp10ConnectionConfig {
    fn default() -> Self {
        Amqp10ConnectionConfig {
            name: String::new(),
            is_active: true,
            url: "amqp://127.0.0.1:5672".to_owned(),
            username: None,
            password: None,
            container_id: None,
            hostname: None,
            timeout: 10.0,
            request_timeout: 10.0,
            idle_timeout: 60.0,
            max_links: 64,
        }
    }
}

impl Amqp10ConnectionConfig {
    /// A connection named `name` to the broker at `url`.
    ///
    /// # Examples
    ///
    /// ```
    /// use zato_amqp10::Amqp10ConnectionConfig;
    ///
    /// let config = Amqp10ConnectionConfig::new("broker", "amqp://127.0.0.1:5672");
    /// assert!(config.problems().is_empty());
    /// let bad = Amqp10ConnectionConfig::new("broker", "amqp://app:s3cret@127.0.0.1:5672");
    /// assert_eq!(bad.problems()[0].path, "url");
    /// assert!(!bad.problems()[0].message.contains("s3cret"));
    /// ```
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        Amqp10ConnectionConfig {
            name: name.into(),
            url: url.into(),
            ..Amqp10ConnectionConfig::default()
        }
    }

    /// With SASL PLAIN as `username` and `password`.
    pub fn with_credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.username = Some(username.into());
        self.password = Some(Secret::new(password.into()));
        self
    }

    /// The config of a URL that may hold credentials (`amqp://user:password@host:port`), as
    /// tests and the example read it from the environment: the credentials move to
    /// `username`/`password`.
    pub fn from_url(name: impl Into<String>, url: &str) -> Self {
        let mut config = Amqp10ConnectionConfig::new(name, url);
        if let Some((scheme, rest)) = url.split_once("://")
            && let Some((userinfo, host)) = rest.rsplit_once('@')
        {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            config.url = format!("{scheme}://{host}");
            config.username = Some(percent_decode(user));
            config.password = Some(Secret::new(percent_decode(password)));
        }
        config
    }

    /// The URL's scheme, host and port, checked.
    pub(crate) fn endpoint(&self) -> Result<(bool, String, u16), String> {
        let (scheme, rest) = self.url.split_once("://").ok_or_else(|| {
            "not a broker URL: expected amqp://host:port or amqps://host:port".to_owned()
        })?;
        let tls = match scheme {
            "amqp" => false,
            "amqps" => true,
            _ => return Err("the scheme must be amqp or amqps".to_owned()),
        };
        if rest.contains('@') {
            return Err(
                "give credentials in `username`/`password`, not in the URL (not shown)".to_owned(),
            );
        }
        let hostport = rest.split('/').next().unwrap_or_default();
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| "the port must be a number up to 65535".to_owned())?,
            ),
            _ => (hostport, if tls { 5671 } else { 5672 }),
        };
        if host.is_empty() {
            return Err("the URL names no host".to_owned());
        }
        Ok((tls, host.to_owned(), port))
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
        if let Err(why) = self.endpoint() {
            problems.push(ConfigProblem::new("url", why));
        }
        if self.password.is_some() && self.username.is_none() {
            problems.push(ConfigProblem::new("username", "required with a password"));
        }
        for (field, value) in [
            ("timeout", self.timeout),
            ("request_timeout", self.request_timeout),
        ] {
            problems.extend(bounds::positive_seconds(field, value, 3600.0));
        }
        if self.idle_timeout != 0.0 {
            problems.extend(bounds::seconds(
                "idle_timeout",
                self.idle_timeout,
                1.0,
                3600.0,
            ));
        }
        problems.extend(bounds::count("max_links", self.max_links, 1, 10_000));
        problems
    }

    /// Where the broker is: for logs and listings (never holds credentials).
    pub fn address(&self) -> &str {
        &self.url
    }

    /// The container id the connection opens with.
    pub fn container(&self) -> String {
        self.container_id
            .clone()
            .unwrap_or_else(|| format!("zato-{}", self.name))
    }

    pub(crate) fn timeout_duration(&self) -> Duration {
        bounds::duration(self.timeout)
    }

    pub(crate) fn request_timeout_duration(&self) -> Duration {
        bounds::duration(self.request_timeout)
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(s.get(i + 1..i + 3).unwrap_or(""), 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How an AMQP 1.0 channel gives back a message whose service failed, for redelivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailedOutcome {
    /// `modified` with `delivery-failed`: the broker counts the delivery in the header's
    /// `delivery-count` (IBM MQ, Artemis, Azure Service Bus, Solace).
    #[default]
    Modified,
    /// `released`: every broker takes it, none counts it (the channel counts by itself);
    /// RabbitMQ 3's plugin knows no other.
    Released,
}

/// The largest message an AMQP 1.0 channel hands to its service unless told otherwise: 10 MiB.
const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;

/// An AMQP 1.0 channel, `channels.amqp10.<name>`: an address (a queue or a topic) whose messages
/// invoke a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Amqp10ChannelConfig {
    /// The channel's name, unique among AMQP 1.0 channels.
    pub name: String,
    /// Whether it consumes now.
    pub is_active: bool,
    /// The AMQP 1.0 connection (`outgoing.amqp10`) whose broker and credentials it uses; the
    /// channel has a connection of its own.
    pub connection: String,
    /// The service each message invokes.
    pub service: String,
    /// The address it consumes from: a queue or a topic as the broker names it (IBM MQ: the
    /// queue's name; Artemis: `invoices`; RabbitMQ 3: `/queue/invoices`).
    pub address: String,
    /// The link credit: how many messages the broker may have handed over and not yet seen
    /// settled. It bounds the messages under way: at most `credit` are handled at once.
    pub credit: u32,
    /// The delivery after whose failure a message is rejected (so the broker's dead-lettering
    /// takes it) rather than given back for redelivery.
    pub max_deliveries: u32,
    /// How a failed message is given back for redelivery.
    pub failed_outcome: FailedOutcome,
    /// Where a message that failed for the last time goes, with the error in its application
    /// properties (`zato_error`, `zato_status`, `zato_cid`), before it is accepted; none
    /// rejects it with the error as its condition, for the broker's dead-lettering.
    pub dead_letter_address: Option<String>,
    /// How the body reads as the service's input.
    pub data_format: DataFormat,
    /// Seconds the service may take on one message; past that it counts as failed.
    pub timeout: f64,
    /// The largest body handed to the service, in bytes; a larger message is dead-lettered.
    pub max_bytes: u64,
}

impl Default for Amqp10ChannelConfig {
    fn default() -> Self {
        Amqp10ChannelConfig {
            name: String::new(),
            is_active: true,
            connection: String::new(),
            service: String::new(),
            address: String::new(),
            credit: 10,
            max_deliveries: 5,
            failed_outcome: FailedOutcome::Modified,
            dead_letter_address: None,
            data_format: DataFormat::Json,
            timeout: 60.0,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

impl Amqp10ChannelConfig {
    /// A channel named `name` consuming `address` through `connection` into `service`.
    ///
    /// # Examples
    ///
    /// ```
    /// use zato_amqp10::Amqp10ChannelConfig;
    ///
    /// let channel = Amqp10ChannelConfig::new("invoices", "broker", "/queue/invoices", "invoice.dispatcher");
    /// assert!(channel.problems().is_empty());
    /// assert_eq!(channel.credit, 10);
    /// ```
    pub fn new(
        name: impl Into<String>,
        connection: impl Into<String>,
        address: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        Amqp10ChannelConfig {
            name: name.into(),
            connection: connection.into(),
            address: address.into(),
            service: service.into(),
            ..Amqp10ChannelConfig::default()
        }
    }

    /// With `credit` messages under way at most.
    pub fn with_credit(mut self, credit: u32) -> Self {
        self.credit = credit;
        self
    }

    /// Rejected after the `n`th failed delivery.
    pub fn with_max_deliveries(mut self, n: u32) -> Self {
        self.max_deliveries = n;
        self
    }

    /// Dead letters sent to `address` with their error.
    pub fn with_dead_letter_address(mut self, address: impl Into<String>) -> Self {
        self.dead_letter_address = Some(address.into());
        self
    }

    /// Every problem of the channel, paths relative to it.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        for (field, value) in [
            ("name", &self.name),
            ("connection", &self.connection),
            ("service", &self.service),
            ("address", &self.address),
        ] {
            if value.trim().is_empty() {
                problems.push(ConfigProblem::new(field, "required"));
            } else if value.len() > bounds::MAX_NAME_BYTES {
                problems.push(ConfigProblem::new(field, "at most 256 bytes"));
            }
        }
        if let Some(dl) = &self.dead_letter_address
            && (dl.trim().is_empty() || dl == &self.address)
        {
            problems.push(ConfigProblem::new(
                "dead_letter_address",
                "must name an address other than the channel's",
            ));
        }
        problems.extend(bounds::count("credit", self.credit, 1, 10_000));
        problems.extend(bounds::count(
            "max_deliveries",
            self.max_deliveries,
            1,
            1000,
        ));
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

    pub(crate) fn timeout_duration(&self) -> Duration {
        bounds::duration(self.timeout)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn urls_are_checked_and_credentials_kept_out_of_them() {
        let c = Amqp10ConnectionConfig::new("b", "amqps://broker.example.com");
        assert_eq!(
            c.endpoint().unwrap(),
            (true, "broker.example.com".to_owned(), 5671)
        );
        let c = Amqp10ConnectionConfig::new("b", "amqp://127.0.0.1:5673");
        assert_eq!(c.endpoint().unwrap(), (false, "127.0.0.1".to_owned(), 5673));
        for bad in ["http://x:1", "amqp://:1", "amqp://h:port", "nope"] {
            let problems = Amqp10ConnectionConfig::new("b", bad).problems();
            assert_eq!(problems.len(), 1, "{bad}");
            assert_eq!(problems[0].path, "url");
        }
        let c = Amqp10ConnectionConfig::from_url("b", "amqp://guest:g%40st@127.0.0.1:5672");
        assert_eq!(c.url, "amqp://127.0.0.1:5672");
        assert_eq!(c.username.as_deref(), Some("guest"));
        assert_eq!(c.password.as_ref().unwrap().expose(), "g@st");
        assert!(!format!("{c:?}").contains("g@st"));
        assert!(c.problems().is_empty());
    }

    #[test]
    fn a_channel_names_what_is_wrong() {
        let mut c = Amqp10ChannelConfig::new("c", "b", "/queue/q", "svc");
        c.credit = 0;
        c.dead_letter_address = Some("/queue/q".into());
        let paths: Vec<_> = c.problems().into_iter().map(|p| p.path).collect();
        assert_eq!(paths, ["dead_letter_address", "credit"]);
    }
}

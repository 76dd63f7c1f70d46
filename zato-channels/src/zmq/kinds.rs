//! The ZeroMQ kinds of a node's config document: `channels.zmq` and `outgoing.zmq`.

use std::borrow::Cow;

use async_trait::async_trait;
use serde_json::Value;
use zato_core::config::{ConfigError, ObjectKind, ObjectSchema, Section, normalize_as};
use zato_core::metrics::{Collector, Labels, Scrape};
use zato_core::{OutgoingConnections, Platform};

use super::adapter::{ZmqAdapter, channel_from_json};
use super::config::{ZmqChannelConfig, ZmqConnectionConfig};
use super::outgoing::{ZmqConnection, ZmqOutgoing};

/// `channels.zmq`: ZeroMQ channels, applied to one [`ZmqAdapter`] (or only checked, without one).
#[derive(Debug, Clone, Default)]
pub struct ZmqChannelKind {
    adapter: Option<ZmqAdapter>,
}

impl ZmqChannelKind {
    /// The kind applying to `adapter`.
    pub fn new(adapter: ZmqAdapter) -> Self {
        ZmqChannelKind {
            adapter: Some(adapter),
        }
    }

    /// The kind's schema alone, for checking documents offline.
    pub fn schema() -> Self {
        ZmqChannelKind { adapter: None }
    }

    fn adapter(&self) -> Result<&ZmqAdapter, ConfigError> {
        self.adapter
            .as_ref()
            .ok_or_else(|| ConfigError::one("", "this node has no ZeroMQ adapter to apply it to"))
    }
}

impl ObjectSchema for ZmqChannelKind {
    fn section(&self) -> Section {
        Section::Channels
    }

    fn kind(&self) -> &str {
        "zmq"
    }

    fn normalize(&self, object: &Value) -> Result<Value, ConfigError> {
        let normal = normalize_as::<ZmqChannelConfig>(object, &[])?;
        let channel = channel_from_json(&normal)?;
        channel.validate()?;
        Ok(normal)
    }
}

#[async_trait]
impl ObjectKind for ZmqChannelKind {
    async fn apply(&self, object: &Value) -> Result<(), ConfigError> {
        let adapter = self.adapter()?;
        adapter.put_channel(channel_from_json(object)?).await
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        self.adapter()?.take_channel(name).await.map(drop)
    }
}

/// `outgoing.zmq`: ZeroMQ outgoing connections (PUSH, PUB), applied to a platform's outgoing
/// connections (or only checked, without one).
///
/// Applying a changed connection opens its new socket and swaps it in; sends already handed to
/// the old socket still leave through it.
#[derive(Debug, Clone, Default)]
pub struct ZmqOutgoingKind {
    outgoing: Option<OutgoingConnections>,
}

impl ZmqOutgoingKind {
    /// The kind applying to `platform`'s outgoing connections. Also puts the sends of the
    /// platform's ZeroMQ connections into its metrics (`outgoing_zmq_sends`, by connection and
    /// outcome).
    pub fn new(platform: &Platform) -> Self {
        platform.metrics().register_collector(
            "outgoing.zmq",
            Box::new(ZmqSends {
                outgoing: platform.outgoing().clone(),
            }),
        );
        ZmqOutgoingKind {
            outgoing: Some(platform.outgoing().clone()),
        }
    }

    /// The kind's schema alone, for checking documents offline.
    pub fn schema() -> Self {
        ZmqOutgoingKind { outgoing: None }
    }

    fn outgoing(&self) -> Result<&OutgoingConnections, ConfigError> {
        self.outgoing
            .as_ref()
            .ok_or_else(|| ConfigError::one("", "no platform to apply it to"))
    }
}

fn read(object: &Value) -> Result<ZmqConnectionConfig, ConfigError> {
    serde_json::from_value(object.clone()).map_err(|e| ConfigError::one("", e.to_string()))
}

impl ObjectSchema for ZmqOutgoingKind {
    fn section(&self) -> Section {
        Section::Outgoing
    }

    fn kind(&self) -> &str {
        "zmq"
    }

    fn normalize(&self, object: &Value) -> Result<Value, ConfigError> {
        let normal = normalize_as::<ZmqConnectionConfig>(object, &[])?;
        read(&normal)?.validate()?;
        Ok(normal)
    }
}

#[async_trait]
impl ObjectKind for ZmqOutgoingKind {
    async fn apply(&self, object: &Value) -> Result<(), ConfigError> {
        let outgoing = self.outgoing()?;
        let config = read(object)?;
        match outgoing.get::<ZmqConnection>(&config.name) {
            Some(conn) => conn.reconfigure(config).await,
            None => {
                let conn = ZmqConnection::open(config).await?;
                outgoing.add_zmq(conn);
                Ok(())
            }
        }
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        match self.outgoing()?.remove::<ZmqConnection>(name) {
            Some(_) => {
                tracing::info!(connection = ?name, "zmq outgoing connection removed");
                Ok(())
            }
            None => Err(ConfigError::one("", "no such zmq connection")),
        }
    }
}

/// The sends of a platform's ZeroMQ connections, read at each scrape.
#[derive(Debug)]
struct ZmqSends {
    outgoing: OutgoingConnections,
}

impl Collector for ZmqSends {
    fn collect(&self, scrape: &mut Scrape) {
        let sends = scrape.counters(
            "outgoing_zmq_sends",
            "Sends through ZeroMQ outgoing connections, by outcome",
        );
        for name in self.outgoing.names::<ZmqConnection>() {
            let Some(conn) = self.outgoing.get::<ZmqConnection>(&name) else {
                continue;
            };
            let stats = conn.stats();
            for (outcome, count) in [
                ("sent", stats.sent),
                ("timeout", stats.timeouts),
                ("unavailable", stats.unavailable),
                ("failed", stats.failed),
            ] {
                let labels: Labels = vec![
                    ("kind", Cow::Borrowed("zmq")),
                    ("connection", Cow::Owned(name.clone())),
                    ("outcome", Cow::Borrowed(outcome)),
                ];
                sends.get_or_create(&labels).inc_by(count);
            }
        }
    }
}

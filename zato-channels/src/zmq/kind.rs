//! The ZeroMQ kinds of a node's config document, `channels.zmq` and `outgoing.zmq`, and the
//! ZeroMQ plug-in.

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use zato_core::config::{ConfigError, ConfigProblem, ObjectKind, ObjectSchema, Section};
use zato_core::kind::{self, AttachError, Description, Kind, Plugin};
use zato_core::metrics::{Collector, Labels, Scrape};
use zato_core::{OutgoingConnections, Platform};

use super::adapter::ZmqAdapter;
use super::config::{ZmqChannelConfig, ZmqChannelType, ZmqConnectionConfig, ZmqOutgoingType};
use super::outgoing::{ZmqConnection, ZmqOutgoing};

/// `channels.zmq`: ZeroMQ channels, applied to one [`ZmqAdapter`].
#[derive(Debug, Clone)]
pub struct ZmqChannelKind {
    adapter: ZmqAdapter,
}

impl ZmqChannelKind {
    /// The kind applying to `adapter`.
    pub fn new(adapter: ZmqAdapter) -> Self {
        ZmqChannelKind { adapter }
    }
}

/// A problem list out of a validation's error.
fn problems(checked: Result<(), ConfigError>) -> Vec<ConfigProblem> {
    checked
        .err()
        .map(ConfigError::into_problems)
        .unwrap_or_default()
}

#[async_trait]
impl Kind for ZmqChannelKind {
    type Config = ZmqChannelConfig;
    const SECTION: Section = Section::Channels;
    const NAME: &'static str = "zmq";

    fn describe() -> Description<ZmqChannelConfig> {
        Description::new(
            "a ZeroMQ PULL or SUB socket whose messages invoke a service",
            ZmqChannelConfig::new(
                "invoices.zmq",
                ZmqChannelType::Pull,
                "tcp://127.0.0.1:11225",
                "invoice.dispatcher",
            ),
        )
    }

    fn check(channel: &ZmqChannelConfig) -> Vec<ConfigProblem> {
        problems(channel.validate())
    }

    async fn apply(&self, channel: Arc<ZmqChannelConfig>) -> Result<(), ConfigError> {
        self.adapter
            .put_channel(ZmqChannelConfig::clone(&channel))
            .await
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        self.adapter.take_channel(name).await.map(drop)
    }
}

/// `outgoing.zmq`: ZeroMQ outgoing connections (PUSH, PUB), applied to a platform's outgoing
/// connections.
///
/// Applying a changed connection opens its new socket and swaps it in; sends already handed to
/// the old socket still leave through it.
#[derive(Debug, Clone)]
pub struct ZmqOutgoingKind {
    outgoing: OutgoingConnections,
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
            outgoing: platform.outgoing().clone(),
        }
    }
}

#[async_trait]
impl Kind for ZmqOutgoingKind {
    type Config = ZmqConnectionConfig;
    const SECTION: Section = Section::Outgoing;
    const NAME: &'static str = "zmq";

    fn describe() -> Description<ZmqConnectionConfig> {
        Description::new(
            "a ZeroMQ PUSH or PUB socket services send through",
            ZmqConnectionConfig::new("prices", ZmqOutgoingType::Push, "tcp://127.0.0.1:11226"),
        )
    }

    fn check(config: &ZmqConnectionConfig) -> Vec<ConfigProblem> {
        problems(config.validate())
    }

    async fn apply(&self, config: Arc<ZmqConnectionConfig>) -> Result<(), ConfigError> {
        let config = ZmqConnectionConfig::clone(&config);
        match self.outgoing.get::<ZmqConnection>(&config.name) {
            Some(conn) => conn.reconfigure(config).await,
            None => {
                let conn = ZmqConnection::open(config).await?;
                self.outgoing.add_zmq(conn);
                Ok(())
            }
        }
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        match self.outgoing.remove::<ZmqConnection>(name) {
            Some(_) => {
                tracing::info!(connection = ?name, "zmq outgoing connection removed");
                Ok(())
            }
            None => Err(ConfigError::one("", "no such zmq connection")),
        }
    }
}

/// The ZeroMQ plug-in: `channels.zmq` on an adapter attached to the platform, `outgoing.zmq` on
/// the platform's outgoing connections.
#[derive(Debug, Clone, Copy, Default)]
pub struct ZmqPlugin;

/// The ZeroMQ plug-in, for `zato::Node`.
pub fn plugin() -> ZmqPlugin {
    ZmqPlugin
}

#[async_trait]
impl Plugin for ZmqPlugin {
    fn name(&self) -> &str {
        "zmq"
    }

    fn schemas(&self) -> Vec<Arc<dyn ObjectSchema>> {
        vec![
            kind::schema::<ZmqChannelKind>(),
            kind::schema::<ZmqOutgoingKind>(),
        ]
    }

    async fn attach(&self, platform: &Platform) -> Result<Vec<Arc<dyn ObjectKind>>, AttachError> {
        let adapter = ZmqAdapter::new(platform)?;
        Ok(vec![
            adapter.config_kind(),
            kind::live(ZmqOutgoingKind::new(platform)),
        ])
    }
}

impl ZmqAdapter {
    /// The config document's kind this adapter applies, `channels.zmq`: register it with a
    /// [`ConfigRuntime`](zato_core::config::ConfigRuntime).
    pub fn config_kind(&self) -> Arc<dyn ObjectKind> {
        kind::live(ZmqChannelKind::new(self.clone()))
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

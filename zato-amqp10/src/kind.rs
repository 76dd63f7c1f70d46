//! The AMQP 1.0 kinds of a node's config document, `outgoing.amqp10` (broker connections) and
//! `channels.amqp10` (addresses consumed into services), and the AMQP 1.0 plug-in.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use zato_core::config::{
    ConfigError, ConfigProblem, ObjectKey, ObjectKind, ObjectSchema, Reference, Section,
};
use zato_core::kind::{self, AttachError, Description, Kind, Plugin};
use zato_core::metrics::{Collector, Scrape};
use zato_core::{OutgoingConnections, Platform};

use crate::adapter::Amqp10Adapter;
use crate::config::{Amqp10ChannelConfig, Amqp10ConnectionConfig, CONNECTION_SECRETS};
use crate::connection::{Amqp10Connection, Amqp10Outgoing};

/// `outgoing.amqp10`: AMQP 1.0 connections, applied to a platform's outgoing connections.
///
/// Applying a changed connection swaps its client, and its channels reconnect with the new
/// settings once they have settled the messages they hold: nothing is lost.
#[derive(Debug, Clone)]
pub struct Amqp10ConnectionKind {
    outgoing: OutgoingConnections,
}

impl Amqp10ConnectionKind {
    /// The kind applying to `platform`'s outgoing connections.
    pub fn new(platform: &Platform) -> Self {
        platform.metrics().register_collector(
            "outgoing.amqp10",
            Box::new(ConnectionMetrics {
                outgoing: platform.outgoing().clone(),
            }),
        );
        Amqp10ConnectionKind {
            outgoing: platform.outgoing().clone(),
        }
    }
}

#[async_trait]
impl Kind for Amqp10ConnectionKind {
    type Config = Amqp10ConnectionConfig;
    const SECTION: Section = Section::Outgoing;
    const NAME: &'static str = "amqp10";
    const SECRETS: &'static [&'static str] = CONNECTION_SECRETS;

    fn describe() -> Description<Amqp10ConnectionConfig> {
        Description::new(
            "an AMQP 1.0 broker connection (IBM MQ, Artemis, Azure Service Bus, Solace, RabbitMQ): sends settled by the broker, request-reply, and the channels' broker",
            Amqp10ConnectionConfig::new("broker", "amqp://127.0.0.1:5672"),
        )
        .pings()
    }

    /// Credentials in `url` (`amqp://user:password@host:5672`, as brokers' docs write it) move to
    /// `username` and `password`, so that the URL kept and shown holds none.
    fn prepare(object: &mut serde_json::Value) -> Result<(), ConfigError> {
        let Some(map) = object.as_object_mut() else {
            return Ok(());
        };
        let Some(serde_json::Value::String(url)) = map.get("url") else {
            return Ok(());
        };
        let name = map
            .get("name")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        let split = Amqp10ConnectionConfig::from_url(name, url);
        if let (Some(user), Some(password)) = (split.username, split.password) {
            map.insert("url".to_owned(), serde_json::Value::String(split.url));
            map.insert("username".to_owned(), serde_json::Value::String(user));
            map.insert(
                "password".to_owned(),
                serde_json::Value::String(password.expose().clone()),
            );
        }
        Ok(())
    }

    fn check(config: &Amqp10ConnectionConfig) -> Vec<ConfigProblem> {
        config.problems()
    }

    async fn apply(&self, config: Arc<Amqp10ConnectionConfig>) -> Result<(), ConfigError> {
        let config = Amqp10ConnectionConfig::clone(&config);
        match self.outgoing.get::<Amqp10Connection>(&config.name) {
            Some(conn) => conn.reconfigure(config).await,
            None => {
                self.outgoing.add_amqp10(Amqp10Connection::new(config)?);
                Ok(())
            }
        }
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        match self.outgoing.remove::<Amqp10Connection>(name) {
            Some(_) => {
                tracing::info!(connection = ?name, "amqp10 connection removed");
                Ok(())
            }
            None => Err(ConfigError::one("", "no such amqp10 connection")),
        }
    }

    /// A connection of its own opened and closed: the broker answers and lets us in.
    async fn ping(&self, name: &str) -> Result<String, String> {
        let conn = self
            .outgoing
            .get::<Amqp10Connection>(name)
            .ok_or_else(|| format!("no amqp10 connection named `{name}` on this node"))?;
        let took = conn.ping().await.map_err(|e| e.to_string())?;
        Ok(format!(
            "a round trip to {} (connection and session opened) in {:.1} ms",
            conn.config().address(),
            took.as_secs_f64() * 1000.0
        ))
    }
}

/// The outgoing connections' counters, read at each scrape.
#[derive(Debug)]
struct ConnectionMetrics {
    outgoing: OutgoingConnections,
}

impl Collector for ConnectionMetrics {
    fn collect(&self, scrape: &mut Scrape) {
        let messages = scrape.counters(
            "amqp10_outgoing_messages",
            "Messages sent through an AMQP 1.0 connection, by outcome (sent: settled as accepted)",
        );
        for name in self.outgoing.names::<Amqp10Connection>() {
            let Some(conn) = self.outgoing.get::<Amqp10Connection>(&name) else {
                continue;
            };
            for (outcome, value) in [
                ("sent", &conn.sent),
                ("failed", &conn.failed),
                ("retried", &conn.retried),
            ] {
                messages
                    .get_or_create(&vec![
                        ("connection", Cow::Owned(name.clone())),
                        ("outcome", Cow::Borrowed(outcome)),
                    ])
                    .inc_by(value.load(Ordering::Relaxed));
            }
        }
    }
}

/// `channels.amqp10`: AMQP 1.0 channels, applied to one adapter.
#[derive(Debug, Clone)]
pub struct Amqp10ChannelKind {
    adapter: Amqp10Adapter,
}

impl Amqp10ChannelKind {
    /// The kind applying to `adapter`.
    pub fn new(adapter: Amqp10Adapter) -> Self {
        Amqp10ChannelKind { adapter }
    }
}

#[async_trait]
impl Kind for Amqp10ChannelKind {
    type Config = Amqp10ChannelConfig;
    const SECTION: Section = Section::Channels;
    const NAME: &'static str = "amqp10";

    fn describe() -> Description<Amqp10ChannelConfig> {
        Description::new(
            "an AMQP 1.0 address (queue or topic) consumed into a service: accepted once the service succeeded, redelivered on failure, rejected for dead-lettering after max_deliveries",
            Amqp10ChannelConfig::new(
                "invoices.amqp10",
                "broker",
                "invoices",
                "invoice.dispatcher",
            ),
        )
    }

    fn check(channel: &Amqp10ChannelConfig) -> Vec<ConfigProblem> {
        channel.problems()
    }

    fn references(channel: &Amqp10ChannelConfig) -> Vec<Reference> {
        vec![Reference {
            field: "connection".to_owned(),
            to: ObjectKey::new(Section::Outgoing, "amqp10", channel.connection.as_str()),
        }]
    }

    async fn apply(&self, channel: Arc<Amqp10ChannelConfig>) -> Result<(), ConfigError> {
        self.adapter
            .upsert(Amqp10ChannelConfig::clone(&channel))
            .await
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        self.adapter.remove(name).await
    }
}

/// The AMQP 1.0 plug-in: `outgoing.amqp10` on the platform's outgoing connections, `channels.amqp10` on
/// an adapter attached to the platform.
#[derive(Debug, Clone, Copy, Default)]
pub struct Amqp10Plugin;

/// The AMQP 1.0 plug-in, for `zato::Node`.
pub fn plugin() -> Amqp10Plugin {
    Amqp10Plugin
}

#[async_trait]
impl Plugin for Amqp10Plugin {
    fn name(&self) -> &str {
        "amqp10"
    }

    fn schemas(&self) -> Vec<Arc<dyn ObjectSchema>> {
        config_schemas()
    }

    async fn attach(&self, platform: &Platform) -> Result<Vec<Arc<dyn ObjectKind>>, AttachError> {
        let adapter = Amqp10Adapter::attach(platform)?;
        Ok(adapter.config_kinds(platform))
    }
}

impl Amqp10Adapter {
    /// The config document's kinds of AMQP 1.0: `outgoing.amqp10` on the adapter's platform and
    /// `channels.amqp10` on this adapter. Register them with a
    /// [`ConfigRuntime`](zato_core::config::ConfigRuntime).
    pub fn config_kinds(&self, platform: &Platform) -> Vec<Arc<dyn ObjectKind>> {
        vec![
            kind::live(Amqp10ConnectionKind::new(platform)),
            kind::live(Amqp10ChannelKind::new(self.clone())),
        ]
    }
}

/// The schemas of the AMQP 1.0 kinds, for checking documents offline.
pub fn config_schemas() -> Vec<Arc<dyn ObjectSchema>> {
    vec![
        kind::schema::<Amqp10ConnectionKind>(),
        kind::schema::<Amqp10ChannelKind>(),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use serde_json::json;

    use super::*;

    #[test]
    fn secrets_are_hidden_and_unknown_fields_refused() {
        let schema = kind::schema::<Amqp10ConnectionKind>();
        let info = schema.describe();
        assert!(info.pings);
        assert!(info.fields.iter().any(|f| f.name == "password" && f.secret));
        let bad = schema
            .normalize(&json!({"name": "b", "url": "amqp://127.0.0.1:5672", "passwd": "x"}))
            .unwrap_err();
        assert!(bad.to_string().contains("passwd"), "{bad}");
        // Credentials in the URL move out of it, into the secret field.
        let normal = schema
            .normalize(&json!({"name": "b", "url": "amqp://u:hunter2@127.0.0.1:5672"}))
            .unwrap();
        assert_eq!(normal["url"], "amqp://127.0.0.1:5672");
        assert_eq!(normal["username"], "u");
        let bad = schema
            .normalize(
                &json!({"name": "b", "url": "amqp://u:hunter2@127.0.0.1:5672", "timeout": 0}),
            )
            .unwrap_err();
        assert!(!bad.to_string().contains("hunter2"), "{bad}");
    }

    #[test]
    fn a_channel_names_its_connection_and_has_defaults() {
        let kind = kind::schema::<Amqp10ChannelKind>();
        let object =
            json!({"name": "c", "connection": "broker", "address": "/queue/q", "service": "s"});
        let normal = kind.normalize(&object).unwrap();
        assert_eq!(normal["credit"], 10);
        assert_eq!(normal["max_deliveries"], 5);
        let refs = kind.references(&normal);
        assert_eq!(refs[0].to.to_string(), "outgoing.amqp10.broker");
        let bad = kind
            .normalize(&json!({"name": "c", "connection": "broker", "service": "s", "credit": 0}))
            .unwrap_err();
        let paths: Vec<_> = bad.problems().iter().map(|p| p.path.clone()).collect();
        assert!(paths.contains(&"address".to_owned()), "{bad}");
        assert!(paths.contains(&"credit".to_owned()), "{bad}");
    }
}

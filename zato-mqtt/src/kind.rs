//! The MQTT kinds of a node's config document, `outgoing.mqtt` and `channels.mqtt`, and the
//! MQTT plug-in.

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use zato_core::config::{
    ConfigError, ConfigProblem, ObjectKey, ObjectKind, ObjectSchema, Reference, Section,
};
use zato_core::kind::{self, AttachError, Description, Kind, Plugin};
use zato_core::metrics::{Collector, Labels, Scrape};
use zato_core::{OutgoingConnections, Platform};

use crate::adapter::MqttAdapter;
use crate::config::{MqttChannelConfig, MqttConfig, split_password};
use crate::connection::{MqttConnection, MqttOutgoing};

/// `outgoing.mqtt`: MQTT broker connections, applied to a platform's outgoing connections.
#[derive(Debug, Clone)]
pub struct MqttKind {
    outgoing: OutgoingConnections,
}

impl MqttKind {
    /// The kind applying to `platform`'s outgoing connections; their counters join its metrics.
    pub fn new(platform: &Platform) -> Self {
        platform.metrics().register_collector(
            "outgoing.mqtt",
            Box::new(MqttPublications {
                outgoing: platform.outgoing().clone(),
            }),
        );
        MqttKind {
            outgoing: platform.outgoing().clone(),
        }
    }
}

#[async_trait]
impl Kind for MqttKind {
    type Config = MqttConfig;
    const SECTION: Section = Section::Outgoing;
    const NAME: &'static str = "mqtt";
    const SECRETS: &'static [&'static str] = &["password"];

    fn describe() -> Description<MqttConfig> {
        Description::new(
            "an MQTT 3.1.1 broker: publications at QoS 0, 1 or 2, retained or not, a will; the channels' broker",
            MqttConfig::new("broker", crate::config::DEFAULT_URL).with_password("secret"),
        )
        .pings()
    }

    /// A password written in `url` is moved to `password`, so that it is never shown.
    fn prepare(object: &mut Value) -> Result<(), ConfigError> {
        split_password(object)
    }

    fn check(config: &MqttConfig) -> Vec<ConfigProblem> {
        config.problems()
    }

    async fn apply(&self, config: Arc<MqttConfig>) -> Result<(), ConfigError> {
        let config = MqttConfig::clone(&config);
        match self.outgoing.get::<MqttConnection>(&config.name) {
            Some(conn) => conn.reconfigure(config),
            None => {
                self.outgoing.add_mqtt(MqttConnection::new(config)?);
                Ok(())
            }
        }
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        match self.outgoing.remove::<MqttConnection>(name) {
            Some(_) => {
                tracing::info!(connection = ?name, "mqtt connection removed");
                Ok(())
            }
            None => Err(ConfigError::one("", "no such mqtt connection")),
        }
    }

    /// Connects with the connection's settings and waits for the broker's `CONNACK`.
    async fn ping(&self, name: &str) -> Result<String, String> {
        let conn = self
            .outgoing
            .get::<MqttConnection>(name)
            .ok_or_else(|| format!("no mqtt connection named `{name}` on this node"))?;
        let took = conn.ping().await.map_err(|e| e.to_string())?;
        Ok(format!(
            "connected to {} in {:.1} ms",
            conn.config().address(),
            took.as_secs_f64() * 1000.0
        ))
    }
}

/// `channels.mqtt`: MQTT channels, applied to one adapter.
#[derive(Debug, Clone)]
pub struct MqttChannelKind {
    adapter: MqttAdapter,
}

impl MqttChannelKind {
    /// The kind applying to `adapter`.
    pub fn new(adapter: MqttAdapter) -> Self {
        MqttChannelKind { adapter }
    }
}

#[async_trait]
impl Kind for MqttChannelKind {
    type Config = MqttChannelConfig;
    const SECTION: Section = Section::Channels;
    const NAME: &'static str = "mqtt";

    fn describe() -> Description<MqttChannelConfig> {
        Description::new(
            "MQTT topic filters subscribed to in a persistent session, each message acknowledged once its service succeeded",
            MqttChannelConfig::new(
                "invoices.mqtt",
                "broker",
                ["invoices"],
                "invoice.dispatcher",
            ),
        )
    }

    fn check(config: &MqttChannelConfig) -> Vec<ConfigProblem> {
        config.problems()
    }

    /// Two channels under one client id would take each other's session over, forever.
    fn check_among(configs: &[&MqttChannelConfig]) -> Vec<(usize, ConfigProblem)> {
        let mut seen = std::collections::HashMap::new();
        let mut problems = Vec::new();
        for (i, config) in configs.iter().enumerate() {
            let key = (config.connection.clone(), config.client_id());
            if let Some(first) = seen.insert(key, config.name.clone()) {
                problems.push((
                    i,
                    ConfigProblem::new(
                        "client_id",
                        format!(
                            "channel `{first}` uses the same client id on the same connection: give each channel its own"
                        ),
                    ),
                ));
            }
        }
        problems
    }

    fn references(config: &MqttChannelConfig) -> Vec<Reference> {
        vec![Reference {
            field: "connection".to_owned(),
            to: ObjectKey::new(Section::Outgoing, "mqtt", config.connection.as_str()),
        }]
    }

    async fn apply(&self, config: Arc<MqttChannelConfig>) -> Result<(), ConfigError> {
        self.adapter.upsert(MqttChannelConfig::clone(&config)).await
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        self.adapter.remove(name).await
    }
}

/// The MQTT plug-in: `outgoing.mqtt` on the platform's outgoing connections, `channels.mqtt`
/// on an adapter attached to the platform.
#[derive(Debug, Clone, Copy, Default)]
pub struct MqttPlugin;

/// The MQTT plug-in, for `zato::Node`.
pub fn plugin() -> MqttPlugin {
    MqttPlugin
}

#[async_trait]
impl Plugin for MqttPlugin {
    fn name(&self) -> &str {
        "mqtt"
    }

    fn schemas(&self) -> Vec<Arc<dyn ObjectSchema>> {
        vec![
            kind::schema::<MqttKind>(),
            kind::schema::<MqttChannelKind>(),
        ]
    }

    async fn attach(&self, platform: &Platform) -> Result<Vec<Arc<dyn ObjectKind>>, AttachError> {
        let adapter = MqttAdapter::attach(platform)?;
        Ok(vec![
            kind::live(MqttKind::new(platform)),
            kind::live(MqttChannelKind::new(adapter)),
        ])
    }
}

/// The publications of a platform's MQTT connections, read at each scrape.
#[derive(Debug)]
struct MqttPublications {
    outgoing: OutgoingConnections,
}

impl Collector for MqttPublications {
    fn collect(&self, scrape: &mut Scrape) {
        let published = scrape.counters(
            "outgoing_mqtt_publications",
            "Publications on an MQTT connection, by outcome",
        );
        let disconnects = scrape.counters(
            "outgoing_mqtt_disconnects",
            "Times an MQTT connection lost its broker",
        );
        for name in self.outgoing.names::<MqttConnection>() {
            let Some(conn) = self.outgoing.get::<MqttConnection>(&name) else {
                continue;
            };
            let stats = conn.stats();
            let labels = |outcome: &'static str| -> Labels {
                vec![
                    ("connection", Cow::Owned(name.clone())),
                    ("outcome", Cow::Borrowed(outcome)),
                ]
            };
            published
                .get_or_create(&labels("acked"))
                .inc_by(stats.published);
            published
                .get_or_create(&labels("failed"))
                .inc_by(stats.failed);
            disconnects
                .get_or_create(&vec![("connection", Cow::Owned(name.clone()))])
                .inc_by(stats.disconnects);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use serde_json::json;

    use super::*;

    #[test]
    fn a_password_in_the_url_becomes_a_secret_field() {
        let schema = kind::schema::<MqttKind>();
        let normal = schema
            .normalize(&json!({"name": "b", "url": "mqtt://app:pw@127.0.0.1:1883"}))
            .unwrap();
        assert_eq!(normal["url"], "mqtt://app@127.0.0.1:1883");
        assert_eq!(normal["password"], "pw");
        let info = schema.describe();
        assert!(info.fields.iter().any(|f| f.name == "password" && f.secret));
        assert!(info.example.get("password").is_none());
        let conn =
            MqttConnection::new(MqttConfig::new("b", "mqtt://h").with_password("hunter2")).unwrap();
        assert!(!format!("{conn:?}").contains("hunter2"));
    }

    #[test]
    fn a_channel_names_its_connection_and_two_cannot_share_a_client_id() {
        let schema = kind::schema::<MqttChannelKind>();
        let normal = schema
            .normalize(&json!({"name": "c", "connection": "b", "topics": ["a/#"], "service": "s"}))
            .unwrap();
        assert_eq!(normal["qos"], 1);
        assert_eq!(normal["persistent"], true);
        assert_eq!(
            schema.references(&normal)[0].to.to_string(),
            "outgoing.mqtt.b"
        );
        let a = MqttChannelConfig::new("a", "b", ["x"], "s");
        let mut b = MqttChannelConfig::new("b", "b", ["y"], "s");
        b.client_id = "zato.channel.a".into();
        let clash = MqttChannelKind::check_among(&[&a, &b]);
        assert_eq!(clash.len(), 1);
        assert_eq!(clash[0].1.path, "client_id");
    }
}

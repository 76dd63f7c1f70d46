//! The AMQP kinds of a node's config document, `outgoing.amqp` (broker connections) and
//! `channels.amqp` (queues consumed into services), and the AMQP plug-in.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use zato_core::config::{
    ConfigError, ConfigProblem, ObjectKey, ObjectKind, ObjectSchema, Reference, Section, decode_as,
};
use zato_core::kind::{self, AttachError, Description, Kind, Plugin};
use zato_core::{OutgoingConnections, Platform};

use super::adapter::AmqpAdapter;
use super::config::{AmqpChannelConfig, AmqpConnectionConfig, CONNECTION_SECRETS};
use super::connection::{AmqpConnection, AmqpOutgoing};

/// The fields a `url` stands for.
const URL_FIELDS: &[&str] = &["host", "port", "vhost", "username", "password", "tls"];

/// `outgoing.amqp`: broker connections, applied to a platform's outgoing connections.
///
/// Applying a changed connection swaps its publishing pool, and its channels reconnect with the
/// new settings once they have settled the messages they hold: nothing is lost.
#[derive(Debug, Clone)]
pub struct AmqpConnectionKind {
    outgoing: OutgoingConnections,
}

impl AmqpConnectionKind {
    /// The kind applying to `platform`'s outgoing connections.
    pub fn new(platform: &Platform) -> Self {
        AmqpConnectionKind {
            outgoing: platform.outgoing().clone(),
        }
    }
}

#[async_trait]
impl Kind for AmqpConnectionKind {
    type Config = AmqpConnectionConfig;
    const SECTION: Section = Section::Outgoing;
    const NAME: &'static str = "amqp";
    const SECRETS: &'static [&'static str] = CONNECTION_SECRETS;

    fn describe() -> Description<AmqpConnectionConfig> {
        let example = AmqpConnectionConfig {
            name: "broker".into(),
            ..AmqpConnectionConfig::default()
        };
        Description::new(
            "an AMQP 0-9-1 broker connection: publishing pool, and the channels' consumers",
            example,
        )
        .pings()
    }

    /// A `url` stands for host, port, vhost, username, password and tls: it is moved into them,
    /// and refused beside any of them.
    fn prepare(object: &mut Value) -> Result<(), ConfigError> {
        if object.get("url").is_none_or(Value::is_null) {
            if let Some(map) = object.as_object_mut() {
                map.remove("url");
            }
            return Ok(());
        }
        let both: Vec<&str> = URL_FIELDS
            .iter()
            .copied()
            .filter(|f| object.get(*f).is_some_and(|v| !v.is_null()))
            .collect();
        if !both.is_empty() {
            return Err(ConfigError::one(
                "url",
                format!(
                    "give either `url` or the fields it stands for, not both (also given: {})",
                    both.join(", ")
                ),
            ));
        }
        let (mut config, _) = decode_as::<AmqpConnectionConfig>(object, CONNECTION_SECRETS)?;
        config.split_url()?;
        if let Some(map) = object.as_object_mut() {
            map.remove("url");
            map.insert("host".into(), config.host.clone().into());
            map.insert("port".into(), config.port.into());
            map.insert("vhost".into(), config.vhost.clone().into());
            map.insert("username".into(), config.username.clone().into());
            map.insert("tls".into(), config.tls.into());
            map.insert("heartbeat".into(), config.heartbeat.into());
            map.insert("frame_max".into(), config.frame_max.into());
            let password = config
                .password
                .as_ref()
                .map_or(Value::Null, |p| p.expose().clone().into());
            map.insert("password".into(), password);
        }
        Ok(())
    }

    fn check(config: &AmqpConnectionConfig) -> Vec<ConfigProblem> {
        config.problems()
    }

    async fn apply(&self, config: Arc<AmqpConnectionConfig>) -> Result<(), ConfigError> {
        let config = AmqpConnectionConfig::clone(&config);
        match self.outgoing.get::<AmqpConnection>(&config.name) {
            Some(conn) => conn.reconfigure(config),
            None => {
                self.outgoing.add_amqp(AmqpConnection::new(config)?);
                Ok(())
            }
        }
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        match self.outgoing.remove::<AmqpConnection>(name) {
            Some(_) => {
                tracing::info!(connection = ?name, "amqp connection removed");
                Ok(())
            }
            None => Err(ConfigError::one("", "no such amqp connection")),
        }
    }

    /// Connects to the broker and logs in.
    async fn ping(&self, name: &str) -> Result<String, String> {
        let conn = self
            .outgoing
            .get::<AmqpConnection>(name)
            .ok_or_else(|| format!("no amqp connection named `{name}` on this node"))?;
        let took = conn.ping().await.map_err(|e| e.to_string())?;
        Ok(format!(
            "connected to {} and logged in in {:.1} ms",
            conn.config().address(),
            took.as_secs_f64() * 1000.0
        ))
    }
}

/// `channels.amqp`: AMQP channels, applied to one adapter.
#[derive(Debug, Clone)]
pub struct AmqpChannelKind {
    adapter: AmqpAdapter,
}

impl AmqpChannelKind {
    /// The kind applying to `adapter`.
    pub fn new(adapter: AmqpAdapter) -> Self {
        AmqpChannelKind { adapter }
    }
}

#[async_trait]
impl Kind for AmqpChannelKind {
    type Config = AmqpChannelConfig;
    const SECTION: Section = Section::Channels;
    const NAME: &'static str = "amqp";

    fn describe() -> Description<AmqpChannelConfig> {
        let example = AmqpChannelConfig {
            name: "invoices.amqp".into(),
            connection: "broker".into(),
            queue: "invoices".into(),
            service: "invoice.dispatcher".into(),
            ..AmqpChannelConfig::default()
        };
        Description::new(
            "a queue consumed into a service, each message acknowledged once the service succeeded",
            example,
        )
    }

    fn check(channel: &AmqpChannelConfig) -> Vec<ConfigProblem> {
        channel.problems()
    }

    fn references(channel: &AmqpChannelConfig) -> Vec<Reference> {
        vec![Reference {
            field: "connection".to_owned(),
            to: ObjectKey::new(Section::Outgoing, "amqp", channel.connection.as_str()),
        }]
    }

    async fn apply(&self, channel: Arc<AmqpChannelConfig>) -> Result<(), ConfigError> {
        self.adapter
            .upsert(AmqpChannelConfig::clone(&channel))
            .await
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        self.adapter.remove(name).await
    }
}

/// The AMQP plug-in: `outgoing.amqp` on the platform's outgoing connections, `channels.amqp` on
/// an adapter attached to the platform.
#[derive(Debug, Clone, Copy, Default)]
pub struct AmqpPlugin;

/// The AMQP plug-in, for `zato::Node`.
pub fn plugin() -> AmqpPlugin {
    AmqpPlugin
}

#[async_trait]
impl Plugin for AmqpPlugin {
    fn name(&self) -> &str {
        "amqp"
    }

    fn schemas(&self) -> Vec<Arc<dyn ObjectSchema>> {
        config_schemas()
    }

    async fn attach(&self, platform: &Platform) -> Result<Vec<Arc<dyn ObjectKind>>, AttachError> {
        let adapter = AmqpAdapter::attach(platform)?;
        Ok(adapter.config_kinds(platform))
    }
}

impl AmqpAdapter {
    /// The config document's kinds of AMQP: `outgoing.amqp` on the adapter's platform and
    /// `channels.amqp` on this adapter. Register them with a
    /// [`ConfigRuntime`](zato_core::config::ConfigRuntime).
    pub fn config_kinds(&self, platform: &Platform) -> Vec<Arc<dyn ObjectKind>> {
        vec![
            kind::live(AmqpConnectionKind::new(platform)),
            kind::live(AmqpChannelKind::new(self.clone())),
        ]
    }
}

/// The schemas of the AMQP kinds, for checking documents offline.
pub fn config_schemas() -> Vec<Arc<dyn ObjectSchema>> {
    vec![
        kind::schema::<AmqpConnectionKind>(),
        kind::schema::<AmqpChannelKind>(),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use serde_json::json;

    use super::*;

    #[test]
    fn a_url_is_normalized_into_fields() {
        let normal = kind::schema::<AmqpConnectionKind>()
            .normalize(&json!({"name": "b", "url": "amqp://app:pw@mq:5673/orders"}))
            .unwrap();
        assert_eq!(normal["host"], "mq");
        assert_eq!(normal["port"], 5673);
        assert_eq!(normal["vhost"], "orders");
        assert_eq!(normal["username"], "app");
        assert_eq!(normal["password"], "pw");
        assert!(normal.get("url").is_none());
    }

    #[test]
    fn url_and_fields_together_are_refused() {
        let e = kind::schema::<AmqpConnectionKind>()
            .normalize(&json!({"name": "b", "url": "amqp://mq", "host": "other"}))
            .unwrap_err();
        assert!(e.to_string().contains("host"), "{e}");
    }

    #[test]
    fn a_channel_names_its_connection() {
        let kind = kind::schema::<AmqpChannelKind>();
        let object = json!({"name": "c", "connection": "b", "queue": "q", "service": "s"});
        let normal = kind.normalize(&object).unwrap();
        assert_eq!(normal["prefetch"], 10);
        let refs = kind.references(&normal);
        assert_eq!(refs[0].to.to_string(), "outgoing.amqp.b");
        let bad = kind
            .normalize(&json!({"name": "c", "queue": "q", "service": "s", "on_error": "drop"}))
            .unwrap_err();
        assert!(bad.to_string().contains("on_error"), "{bad}");
        let bad = kind
            .normalize(&json!({"name": "c", "queue": "q", "service": "s", "prefech": 1}))
            .unwrap_err();
        assert!(bad.to_string().contains("prefech"), "{bad}");
    }
}

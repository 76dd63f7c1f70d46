//! The AMQP kinds of a node's config document: `outgoing.amqp` (broker connections) and
//! `channels.amqp` (queues consumed into services).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use zato_core::config::{
    ConfigError, ObjectKey, ObjectKind, ObjectSchema, Reference, Section, normalize_as,
};
use zato_core::{ChannelAdapter, OutgoingConnections, Platform};

use super::adapter::AmqpAdapter;
use super::config::{AmqpChannelConfig, AmqpConnectionConfig, CONNECTION_SECRETS};
use super::connection::{AmqpConnection, AmqpOutgoing};

/// The fields a `url` stands for.
const URL_FIELDS: &[&str] = &["host", "port", "vhost", "username", "password", "tls"];

fn read_connection(object: &Value) -> Result<AmqpConnectionConfig, ConfigError> {
    // serde's message could quote a secret's value.
    serde_json::from_value(object.clone()).map_err(|_| ConfigError::one("", "cannot be read"))
}

/// `outgoing.amqp`: broker connections, applied to a platform's outgoing connections (or only
/// checked, without one).
///
/// Applying a changed connection swaps its publishing pool, and its channels reconnect with the
/// new settings once they have settled the messages they hold: nothing is lost.
#[derive(Debug, Clone, Default)]
pub struct AmqpConnectionKind {
    outgoing: Option<OutgoingConnections>,
}

impl AmqpConnectionKind {
    /// The kind applying to `platform`'s outgoing connections.
    pub fn new(platform: &Platform) -> Self {
        AmqpConnectionKind {
            outgoing: Some(platform.outgoing().clone()),
        }
    }

    /// The kind's schema alone, for checking documents offline.
    pub fn schema() -> Self {
        AmqpConnectionKind { outgoing: None }
    }

    fn outgoing(&self) -> Result<&OutgoingConnections, ConfigError> {
        self.outgoing
            .as_ref()
            .ok_or_else(|| ConfigError::one("", "no platform to apply it to"))
    }
}

impl ObjectSchema for AmqpConnectionKind {
    fn section(&self) -> Section {
        Section::Outgoing
    }

    fn kind(&self) -> &str {
        "amqp"
    }

    fn normalize(&self, object: &Value) -> Result<Value, ConfigError> {
        let mut normal = normalize_as::<AmqpConnectionConfig>(object, CONNECTION_SECRETS)?;
        let has_url = object.get("url").is_some_and(|u| !u.is_null());
        if has_url {
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
            let mut config = read_connection(&normal)?;
            config.split_url()?;
            if let Some(map) = normal.as_object_mut() {
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
        }
        if let Some(map) = normal.as_object_mut() {
            map.remove("url");
        }
        ConfigError::check(read_connection(&normal)?.problems())?;
        Ok(normal)
    }

    fn secret_fields(&self) -> &[&'static str] {
        CONNECTION_SECRETS
    }
}

#[async_trait]
impl ObjectKind for AmqpConnectionKind {
    async fn apply(&self, object: &Value) -> Result<(), ConfigError> {
        let outgoing = self.outgoing()?;
        let config = read_connection(object)?;
        match outgoing.get::<AmqpConnection>(&config.name) {
            Some(conn) => conn.reconfigure(config),
            None => {
                outgoing.add_amqp(AmqpConnection::new(config)?);
                Ok(())
            }
        }
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        let outgoing = self.outgoing()?;
        match outgoing.remove::<AmqpConnection>(name) {
            Some(_) => {
                tracing::info!(connection = ?name, "amqp connection removed");
                Ok(())
            }
            None => Err(ConfigError::one("", "no such amqp connection")),
        }
    }

    /// Connects to the broker and logs in.
    async fn ping(&self, name: &str) -> Result<String, String> {
        let outgoing = self.outgoing().map_err(|e| e.to_string())?;
        let conn = outgoing
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

/// `channels.amqp`: AMQP channels, applied to one adapter (or only checked, without one).
#[derive(Debug, Clone, Default)]
pub struct AmqpChannelKind {
    adapter: Option<AmqpAdapter>,
}

impl AmqpChannelKind {
    /// The kind applying to `adapter`.
    pub fn new(adapter: AmqpAdapter) -> Self {
        AmqpChannelKind {
            adapter: Some(adapter),
        }
    }

    /// The kind's schema alone, for checking documents offline.
    pub fn schema() -> Self {
        AmqpChannelKind { adapter: None }
    }

    fn adapter(&self) -> Result<&AmqpAdapter, ConfigError> {
        self.adapter
            .as_ref()
            .ok_or_else(|| ConfigError::one("", "this node has no AMQP adapter to apply it to"))
    }
}

impl ObjectSchema for AmqpChannelKind {
    fn section(&self) -> Section {
        Section::Channels
    }

    fn kind(&self) -> &str {
        "amqp"
    }

    fn normalize(&self, object: &Value) -> Result<Value, ConfigError> {
        let normal = normalize_as::<AmqpChannelConfig>(object, &[])?;
        let channel: AmqpChannelConfig = serde_json::from_value(normal.clone())
            .map_err(|e| ConfigError::one("", e.to_string()))?;
        ConfigError::check(channel.problems())?;
        Ok(normal)
    }

    fn references(&self, object: &Value) -> Vec<Reference> {
        object
            .get("connection")
            .and_then(Value::as_str)
            .map(|name| Reference {
                field: "connection".to_owned(),
                to: ObjectKey::new(Section::Outgoing, "amqp", name),
            })
            .into_iter()
            .collect()
    }
}

#[async_trait]
impl ObjectKind for AmqpChannelKind {
    async fn apply(&self, object: &Value) -> Result<(), ConfigError> {
        ChannelAdapter::upsert_channel(self.adapter()?, object.clone()).await
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        ChannelAdapter::remove_channel(self.adapter()?, name).await
    }
}

impl AmqpAdapter {
    /// The config document's kinds of AMQP: `outgoing.amqp` on the adapter's platform and
    /// `channels.amqp` on this adapter. Register them with a
    /// [`ConfigRuntime`](zato_core::config::ConfigRuntime).
    pub fn config_kinds(&self, platform: &Platform) -> Vec<Arc<dyn ObjectKind>> {
        vec![
            Arc::new(AmqpConnectionKind::new(platform)),
            Arc::new(AmqpChannelKind::new(self.clone())),
        ]
    }
}

/// The schemas of the AMQP kinds, for checking documents offline.
pub fn config_schemas() -> Vec<Arc<dyn ObjectSchema>> {
    vec![
        Arc::new(AmqpConnectionKind::schema()),
        Arc::new(AmqpChannelKind::schema()),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use serde_json::json;

    use super::*;

    #[test]
    fn a_url_is_normalized_into_fields() {
        let normal = AmqpConnectionKind::schema()
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
        let e = AmqpConnectionKind::schema()
            .normalize(&json!({"name": "b", "url": "amqp://mq", "host": "other"}))
            .unwrap_err();
        assert!(e.to_string().contains("host"), "{e}");
    }

    #[test]
    fn a_channel_names_its_connection() {
        let kind = AmqpChannelKind::schema();
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

//! The NATS kinds of a node's config document, `outgoing.nats` (server connections) and
//! `channels.nats` (subjects consumed into services), and the NATS plug-in.

use std::sync::Arc;

use async_trait::async_trait;
use zato_core::config::{
    ConfigError, ConfigProblem, ObjectKey, ObjectKind, ObjectSchema, Reference, Section,
};
use zato_core::kind::{self, AttachError, Description, Kind, Plugin};
use zato_core::{OutgoingConnections, Platform};

use crate::adapter::NatsAdapter;
use crate::config::{CONNECTION_SECRETS, NatsChannelConfig, NatsConnectionConfig};
use crate::connection::{NatsConnection, NatsOutgoing};

/// `outgoing.nats`: NATS connections, applied to a platform's outgoing connections.
///
/// Applying a changed connection swaps its client, and its channels reconnect with the new
/// settings once they have settled the messages they hold: nothing is lost.
#[derive(Debug, Clone)]
pub struct NatsConnectionKind {
    outgoing: OutgoingConnections,
}

impl NatsConnectionKind {
    /// The kind applying to `platform`'s outgoing connections.
    pub fn new(platform: &Platform) -> Self {
        NatsConnectionKind {
            outgoing: platform.outgoing().clone(),
        }
    }
}

#[async_trait]
impl Kind for NatsConnectionKind {
    type Config = NatsConnectionConfig;
    const SECTION: Section = Section::Outgoing;
    const NAME: &'static str = "nats";
    const SECRETS: &'static [&'static str] = CONNECTION_SECRETS;

    fn describe() -> Description<NatsConnectionConfig> {
        Description::new(
            "a NATS connection: JetStream publishing with acknowledgements, request-reply, and the channels' servers",
            NatsConnectionConfig::new("bus", "nats://127.0.0.1:4222"),
        )
        .pings()
    }

    fn check(config: &NatsConnectionConfig) -> Vec<ConfigProblem> {
        config.problems()
    }

    async fn apply(&self, config: Arc<NatsConnectionConfig>) -> Result<(), ConfigError> {
        let config = NatsConnectionConfig::clone(&config);
        match self.outgoing.get::<NatsConnection>(&config.name) {
            Some(conn) => conn.reconfigure(config).await,
            None => {
                self.outgoing.add_nats(NatsConnection::new(config).await?);
                Ok(())
            }
        }
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        match self.outgoing.remove::<NatsConnection>(name) {
            Some(_) => {
                tracing::info!(connection = ?name, "nats connection removed");
                Ok(())
            }
            None => Err(ConfigError::one("", "no such nats connection")),
        }
    }

    /// A round trip to the server.
    async fn ping(&self, name: &str) -> Result<String, String> {
        let conn = self
            .outgoing
            .get::<NatsConnection>(name)
            .ok_or_else(|| format!("no nats connection named `{name}` on this node"))?;
        let took = conn.ping().await.map_err(|e| e.to_string())?;
        Ok(format!(
            "a round trip to {} in {:.1} ms",
            conn.config().address(),
            took.as_secs_f64() * 1000.0
        ))
    }
}

/// `channels.nats`: NATS channels, applied to one adapter.
#[derive(Debug, Clone)]
pub struct NatsChannelKind {
    adapter: NatsAdapter,
}

impl NatsChannelKind {
    /// The kind applying to `adapter`.
    pub fn new(adapter: NatsAdapter) -> Self {
        NatsChannelKind { adapter }
    }
}

#[async_trait]
impl Kind for NatsChannelKind {
    type Config = NatsChannelConfig;
    const SECTION: Section = Section::Channels;
    const NAME: &'static str = "nats";

    fn describe() -> Description<NatsChannelConfig> {
        Description::new(
            "a NATS subject consumed into a service: a JetStream durable consumer (acked once the service succeeded) or a core subject (request-reply)",
            NatsChannelConfig::jetstream(
                "invoices.nats",
                "bus",
                "INVOICES",
                "invoices",
                "invoice.dispatcher",
            ),
        )
    }

    fn check(channel: &NatsChannelConfig) -> Vec<ConfigProblem> {
        channel.problems()
    }

    fn references(channel: &NatsChannelConfig) -> Vec<Reference> {
        vec![Reference {
            field: "connection".to_owned(),
            to: ObjectKey::new(Section::Outgoing, "nats", channel.connection.as_str()),
        }]
    }

    /// Two JetStream channels on one durable consumer would take each other's messages.
    fn check_among(configs: &[&NatsChannelConfig]) -> Vec<(usize, ConfigProblem)> {
        let mut problems = Vec::new();
        for (i, a) in configs.iter().enumerate() {
            if a.mode != crate::NatsMode::Jetstream {
                continue;
            }
            let clash = configs[..i].iter().any(|b| {
                b.mode == crate::NatsMode::Jetstream
                    && b.stream == a.stream
                    && b.durable_name() == a.durable_name()
            });
            if clash {
                problems.push((
                    i,
                    ConfigProblem::new(
                        "durable",
                        format!(
                            "another channel consumes `{}` through the durable consumer `{}`",
                            a.stream,
                            a.durable_name()
                        ),
                    ),
                ));
            }
        }
        problems
    }

    async fn apply(&self, channel: Arc<NatsChannelConfig>) -> Result<(), ConfigError> {
        self.adapter
            .upsert(NatsChannelConfig::clone(&channel))
            .await
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        self.adapter.remove(name).await
    }
}

/// The NATS plug-in: `outgoing.nats` on the platform's outgoing connections, `channels.nats` on
/// an adapter attached to the platform.
#[derive(Debug, Clone, Copy, Default)]
pub struct NatsPlugin;

/// The NATS plug-in, for `zato::Node`.
pub fn plugin() -> NatsPlugin {
    NatsPlugin
}

#[async_trait]
impl Plugin for NatsPlugin {
    fn name(&self) -> &str {
        "nats"
    }

    fn schemas(&self) -> Vec<Arc<dyn ObjectSchema>> {
        config_schemas()
    }

    async fn attach(&self, platform: &Platform) -> Result<Vec<Arc<dyn ObjectKind>>, AttachError> {
        let adapter = NatsAdapter::attach(platform)?;
        Ok(adapter.config_kinds(platform))
    }
}

impl NatsAdapter {
    /// The config document's kinds of NATS: `outgoing.nats` on the adapter's platform and
    /// `channels.nats` on this adapter. Register them with a
    /// [`ConfigRuntime`](zato_core::config::ConfigRuntime).
    pub fn config_kinds(&self, platform: &Platform) -> Vec<Arc<dyn ObjectKind>> {
        vec![
            kind::live(NatsConnectionKind::new(platform)),
            kind::live(NatsChannelKind::new(self.clone())),
        ]
    }
}

/// The schemas of the NATS kinds, for checking documents offline.
pub fn config_schemas() -> Vec<Arc<dyn ObjectSchema>> {
    vec![
        kind::schema::<NatsConnectionKind>(),
        kind::schema::<NatsChannelKind>(),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use serde_json::json;

    use super::*;

    #[test]
    fn secrets_are_hidden_and_unknown_fields_refused() {
        let schema = kind::schema::<NatsConnectionKind>();
        let info = schema.describe();
        assert!(info.pings);
        assert!(info.fields.iter().any(|f| f.name == "password" && f.secret));
        assert!(info.fields.iter().any(|f| f.name == "token" && f.secret));
        let bad = schema
            .normalize(&json!({"name": "b", "url": "nats://127.0.0.1:4222", "passwd": "x"}))
            .unwrap_err();
        assert!(bad.to_string().contains("passwd"), "{bad}");
        let bad = schema
            .normalize(&json!({"name": "b", "url": "nats://u:hunter2@127.0.0.1:4222"}))
            .unwrap_err();
        assert!(!bad.to_string().contains("hunter2"), "{bad}");
    }

    #[test]
    fn a_channel_names_its_connection_and_has_defaults() {
        let kind = kind::schema::<NatsChannelKind>();
        let object = json!({"name": "c", "connection": "bus", "stream": "S", "subject": "x", "service": "s"});
        let normal = kind.normalize(&object).unwrap();
        assert_eq!(normal["concurrency"], 10);
        assert_eq!(normal["max_deliver"], 5);
        assert_eq!(normal["mode"], "jetstream");
        let refs = kind.references(&normal);
        assert_eq!(refs[0].to.to_string(), "outgoing.nats.bus");
        let bad = kind
            .normalize(&json!({"name": "c", "connection": "bus", "subject": "x", "service": "s", "mode": "push"}))
            .unwrap_err();
        assert!(bad.to_string().contains("mode"), "{bad}");
        let bad = kind
            .normalize(&json!({"name": "c", "connection": "bus", "subject": "x", "service": "s"}))
            .unwrap_err();
        assert!(bad.problems().iter().any(|p| p.path == "stream"), "{bad}");
    }

    #[test]
    fn two_channels_on_one_durable_consumer_clash() {
        let a = NatsChannelConfig::jetstream("a", "bus", "S", "x", "svc");
        let mut b = NatsChannelConfig::jetstream("b", "bus", "S", "y", "svc");
        assert!(NatsChannelKind::check_among(&[&a, &b]).is_empty());
        b.durable = Some("zato-a".into());
        let problems = NatsChannelKind::check_among(&[&a, &b]);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, 1);
    }
}

//! The Redis kinds of a node's config document, `outgoing.redis` and `channels.redis_stream`,
//! and the Redis plug-in.

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

use crate::adapter::RedisStreamAdapter;
use crate::config::{RedisConfig, RedisStreamConfig, split_password};
use crate::connection::{RedisConnection, RedisOutgoing};

/// `outgoing.redis`: Redis connections, applied to a platform's outgoing connections.
#[derive(Debug, Clone)]
pub struct RedisKind {
    outgoing: OutgoingConnections,
}

impl RedisKind {
    /// The kind applying to `platform`'s outgoing connections; their counters join its metrics.
    pub fn new(platform: &Platform) -> Self {
        platform.metrics().register_collector(
            "outgoing.redis",
            Box::new(RedisCommands {
                outgoing: platform.outgoing().clone(),
            }),
        );
        RedisKind {
            outgoing: platform.outgoing().clone(),
        }
    }
}

#[async_trait]
impl Kind for RedisKind {
    type Config = RedisConfig;
    const SECTION: Section = Section::Outgoing;
    const NAME: &'static str = "redis";
    const SECRETS: &'static [&'static str] = &["password"];

    fn describe() -> Description<RedisConfig> {
        Description::new(
            "a Redis server: key-value store, cache and raw commands, bounded in flight",
            RedisConfig::new("cache", crate::config::DEFAULT_URL).with_password("secret"),
        )
        .pings()
    }

    /// A password written in `url` is moved to `password`, so that it is never shown.
    fn prepare(object: &mut Value) -> Result<(), ConfigError> {
        split_password(object)
    }

    fn check(config: &RedisConfig) -> Vec<ConfigProblem> {
        config.problems()
    }

    async fn apply(&self, config: Arc<RedisConfig>) -> Result<(), ConfigError> {
        let config = RedisConfig::clone(&config);
        match self.outgoing.get::<RedisConnection>(&config.name) {
            Some(conn) => conn.reconfigure(config),
            None => {
                self.outgoing.add_redis(RedisConnection::new(config)?);
                Ok(())
            }
        }
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        match self.outgoing.remove::<RedisConnection>(name) {
            Some(_) => {
                tracing::info!(connection = ?name, "redis connection removed");
                Ok(())
            }
            None => Err(ConfigError::one("", "no such redis connection")),
        }
    }

    /// Sends `PING`.
    async fn ping(&self, name: &str) -> Result<String, String> {
        let conn = self
            .outgoing
            .get::<RedisConnection>(name)
            .ok_or_else(|| format!("no redis connection named `{name}` on this node"))?;
        let took = conn.ping().await.map_err(|e| e.to_string())?;
        Ok(format!(
            "PONG from {} in {:.1} ms",
            conn.config().address(),
            took.as_secs_f64() * 1000.0
        ))
    }
}

/// `channels.redis_stream`: Redis Streams channels, applied to one adapter.
#[derive(Debug, Clone)]
pub struct RedisStreamKind {
    adapter: RedisStreamAdapter,
}

impl RedisStreamKind {
    /// The kind applying to `adapter`.
    pub fn new(adapter: RedisStreamAdapter) -> Self {
        RedisStreamKind { adapter }
    }
}

#[async_trait]
impl Kind for RedisStreamKind {
    type Config = RedisStreamConfig;
    const SECTION: Section = Section::Channels;
    const NAME: &'static str = "redis_stream";

    fn describe() -> Description<RedisStreamConfig> {
        Description::new(
            "a Redis stream read by a consumer group, each entry acknowledged once its service succeeded",
            RedisStreamConfig::new("invoices.redis", "cache", "invoices", "invoice.dispatcher"),
        )
    }

    fn check(config: &RedisStreamConfig) -> Vec<ConfigProblem> {
        config.problems()
    }

    fn references(config: &RedisStreamConfig) -> Vec<Reference> {
        vec![Reference {
            field: "connection".to_owned(),
            to: ObjectKey::new(Section::Outgoing, "redis", config.connection.as_str()),
        }]
    }

    async fn apply(&self, config: Arc<RedisStreamConfig>) -> Result<(), ConfigError> {
        self.adapter.upsert(RedisStreamConfig::clone(&config)).await
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        self.adapter.remove(name).await
    }
}

/// The Redis plug-in: `outgoing.redis` on the platform's outgoing connections,
/// `channels.redis_stream` on an adapter attached to the platform.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedisPlugin;

/// The Redis plug-in, for `zato::Node`.
pub fn plugin() -> RedisPlugin {
    RedisPlugin
}

#[async_trait]
impl Plugin for RedisPlugin {
    fn name(&self) -> &str {
        "redis"
    }

    fn schemas(&self) -> Vec<Arc<dyn ObjectSchema>> {
        vec![
            kind::schema::<RedisKind>(),
            kind::schema::<RedisStreamKind>(),
        ]
    }

    async fn attach(&self, platform: &Platform) -> Result<Vec<Arc<dyn ObjectKind>>, AttachError> {
        let adapter = RedisStreamAdapter::attach(platform)?;
        Ok(vec![
            kind::live(RedisKind::new(platform)),
            kind::live(RedisStreamKind::new(adapter)),
        ])
    }
}

/// The commands of a platform's Redis connections, read at each scrape.
#[derive(Debug)]
struct RedisCommands {
    outgoing: OutgoingConnections,
}

impl Collector for RedisCommands {
    fn collect(&self, scrape: &mut Scrape) {
        let commands = scrape.counters(
            "outgoing_redis_commands",
            "Commands sent on a Redis connection",
        );
        let errors = scrape.counters(
            "outgoing_redis_errors",
            "Commands that failed on a Redis connection",
        );
        for name in self.outgoing.names::<RedisConnection>() {
            let Some(conn) = self.outgoing.get::<RedisConnection>(&name) else {
                continue;
            };
            let stats = conn.stats();
            let labels: Labels = vec![("connection", Cow::Owned(name))];
            commands.get_or_create(&labels).inc_by(stats.commands);
            errors.get_or_create(&labels).inc_by(stats.errors);
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
        let schema = kind::schema::<RedisKind>();
        let normal = schema
            .normalize(&json!({"name": "c", "url": "redis://:pw@127.0.0.1:6379/1"}))
            .unwrap();
        assert_eq!(normal["url"], "redis://127.0.0.1:6379/1");
        assert_eq!(normal["password"], "pw");
        let info = schema.describe();
        assert!(info.fields.iter().any(|f| f.name == "password" && f.secret));
        assert!(info.example.get("password").is_none());
        let bad = schema
            .normalize(&json!({"name": "c", "url": "redis://h", "pool": 3}))
            .unwrap_err();
        assert!(bad.to_string().contains("pool"), "{bad}");
    }

    #[test]
    fn a_channel_names_its_connection_and_is_checked() {
        let schema = kind::schema::<RedisStreamKind>();
        let normal = schema
            .normalize(&json!({"name": "c", "connection": "r", "stream": "s", "service": "x"}))
            .unwrap();
        assert_eq!(normal["group"], "zato");
        assert_eq!(normal["max_deliveries"], 5);
        assert_eq!(
            schema.references(&normal)[0].to.to_string(),
            "outgoing.redis.r"
        );
        let bad = schema
            .normalize(
                &json!({"name": "c", "connection": "r", "stream": "s", "service": "x",
                "timeout": 90, "claim_idle": 60, "block": 1e9}),
            )
            .unwrap_err();
        let text = bad.to_string();
        assert!(
            text.contains("claim_idle") && text.contains("block"),
            "{text}"
        );
    }

    #[test]
    fn the_password_never_shows_in_debug() {
        let conn = RedisConnection::new(
            RedisConfig::new("c", "redis://127.0.0.1:1").with_password("hunter2"),
        )
        .unwrap();
        assert!(!format!("{conn:?}").contains("hunter2"));
    }
}

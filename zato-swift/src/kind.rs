//! `outgoing.swift` in a node's config document: Swift connections created, reconfigured and
//! removed while services use them.

use std::borrow::Cow;
use std::time::Instant;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use zato_core::config::{
    ConfigDocument, ConfigError, ConfigProblem, ObjectKind, ObjectSchema, Section,
};
use zato_core::kind::{self, AttachError, Description, Env, Kind, Plugin};
use zato_core::metrics::{Collector, Labels, Scrape};
use zato_core::{OutgoingConnections, Platform};

use crate::config::SwiftConfig;
use crate::connection::{SwiftConnection, SwiftOutgoing};

/// `outgoing.swift`: Swift connections, applied to a platform's outgoing connections.
///
/// Applying a changed connection builds its new pool and swaps it in: clients already handed out
/// finish on the old pool, which is dropped once they are back. Building checks the
/// configuration, not the remote system; [`Kind::ping`] does that.
#[derive(Debug, Clone)]
pub struct SwiftKind {
    outgoing: OutgoingConnections,
}

impl SwiftKind {
    /// The kind applying to `platform`'s outgoing connections. Also puts the pools of the
    /// platform's Swift connections into its metrics.
    pub fn new(platform: &Platform) -> Self {
        platform.metrics().register_collector(
            "outgoing.swift",
            Box::new(SwiftPools {
                outgoing: platform.outgoing().clone(),
            }),
        );
        SwiftKind {
            outgoing: platform.outgoing().clone(),
        }
    }
}

/// The connection's own problems, relative to it: [`SwiftConfig::validate`] places them in the
/// document already.
fn relative(config: &SwiftConfig, e: ConfigError) -> Vec<ConfigProblem> {
    let prefix = format!("outgoing.swift.{}", zato_core::config::key(&config.name));
    e.into_problems()
        .into_iter()
        .map(|mut p| {
            if let Some(rest) = p.path.strip_prefix(&prefix) {
                p.path = rest.trim_start_matches('.').to_owned();
            }
            p
        })
        .collect()
}

#[async_trait]
impl Kind for SwiftKind {
    type Config = SwiftConfig;
    const SECTION: Section = Section::Outgoing;
    const NAME: &'static str = "swift";
    const SECRETS: &'static [&'static str] = &["key", "preauth_token"];

    fn describe() -> Description<SwiftConfig> {
        Description::new(
            "an OpenStack Swift connection: auth v1.0, Keystone v2.0 or v3, a bounded pool",
            SwiftConfig::v1(
                "Invoice Dispatcher",
                "https://swift.example.com/auth/v1.0",
                "account:user",
                "secret",
            ),
        )
        .pings()
    }

    fn check(config: &SwiftConfig) -> Vec<ConfigProblem> {
        match config.validate() {
            Ok(()) => Vec::new(),
            Err(e) => relative(config, e),
        }
    }

    async fn apply(&self, config: Arc<SwiftConfig>) -> Result<(), ConfigError> {
        let config = SwiftConfig::clone(&config);
        match self.outgoing.get::<SwiftConnection>(&config.name) {
            Some(conn) => conn
                .reconfigure(config)
                .map_err(|e| ConfigError::one("", e.to_string())),
            None => {
                let conn = SwiftConnection::new(config)
                    .map_err(|e| ConfigError::one("", e.to_string()))?;
                self.outgoing.add_swift(conn);
                Ok(())
            }
        }
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        match self.outgoing.remove::<SwiftConnection>(name) {
            Some(_) => {
                tracing::info!(connection = ?name, "swift connection removed");
                Ok(())
            }
            None => Err(ConfigError::one("", "no such swift connection")),
        }
    }

    /// Authenticates, takes a client from the pool and reads the account (`HEAD`).
    async fn ping(&self, name: &str) -> Result<String, String> {
        let conn = self
            .outgoing
            .get::<SwiftConnection>(name)
            .ok_or_else(|| format!("no swift connection named `{name}` on this node"))?;
        let started = Instant::now();
        let client = conn.client().await.map_err(|e| e.to_string())?;
        let account = client.head_account().await.map_err(|e| e.to_string())?;
        Ok(format!(
            "authenticated and read the account in {:.1} ms: {} containers, {} objects",
            started.elapsed().as_secs_f64() * 1000.0,
            account.container_count,
            account.object_count
        ))
    }
}

/// The environment variables the Swift plug-in reads, each overriding a field of the
/// document's Swift connection.
const ENV: &[(&str, &str, &str)] = &[
    (
        "ZATO_SWIFT_AUTH_URL",
        "auth_url",
        "the auth URL of the document's Swift connection",
    ),
    ("ZATO_SWIFT_USER", "user", "its user"),
    ("ZATO_SWIFT_KEY", "key", "its key (a secret)"),
    (
        "ZATO_SWIFT_AUTH_VERSION",
        "auth_version",
        "its auth version: 1.0, 2.0 or 3",
    ),
    (
        "ZATO_SWIFT_API_KEY",
        "api_key_auth",
        "1 sends the key as a Rackspace API key (Keystone v2.0 only), 0 does not",
    ),
];

/// The Swift plug-in: `outgoing.swift`.
///
/// Before a node seeds its configuration, the variables `ZATO_SWIFT_AUTH_URL`,
/// `ZATO_SWIFT_USER`, `ZATO_SWIFT_KEY`, `ZATO_SWIFT_AUTH_VERSION` and `ZATO_SWIFT_API_KEY`
/// override those fields of the document's Swift connection, so that credentials need not be
/// in the file. They need exactly one Swift connection in the document.
#[derive(Debug, Clone, Copy, Default)]
pub struct SwiftPlugin;

/// The Swift plug-in, for [`zato::Node`](https://docs.rs/zato).
pub fn plugin() -> SwiftPlugin {
    SwiftPlugin
}

#[async_trait]
impl Plugin for SwiftPlugin {
    fn name(&self) -> &str {
        "swift"
    }

    fn schemas(&self) -> Vec<Arc<dyn ObjectSchema>> {
        vec![kind::schema::<SwiftKind>()]
    }

    fn env(&self) -> Vec<(&'static str, &'static str)> {
        ENV.iter().map(|(var, _, what)| (*var, *what)).collect()
    }

    fn prepare(&self, doc: &mut ConfigDocument, env: Env<'_>) -> Result<(), ConfigError> {
        let given: Vec<(&str, &str, String)> = ENV
            .iter()
            .filter_map(|(var, field, _)| env(var).map(|v| (*var, *field, v.trim().to_owned())))
            .collect();
        let Some((first, _, _)) = given.first() else {
            return Ok(());
        };
        let list = doc.outgoing.entry(SwiftKind::NAME.to_owned()).or_default();
        let [connection] = list.as_mut_slice() else {
            return Err(ConfigError::one(
                "outgoing.swift",
                format!(
                    "{first} is set: the document must hold exactly one Swift connection for it, and holds {}",
                    list.len()
                ),
            ));
        };
        let Some(map) = connection.as_object_mut() else {
            return Ok(());
        };
        for (var, field, value) in given {
            let value = match field {
                "api_key_auth" => match value.to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" => Value::Bool(true),
                    "0" | "false" | "no" => Value::Bool(false),
                    _ => return Err(ConfigError::one(var, "expected 1 or 0")),
                },
                _ => Value::String(value),
            };
            map.insert(field.to_owned(), value);
        }
        Ok(())
    }

    async fn attach(&self, platform: &Platform) -> Result<Vec<Arc<dyn ObjectKind>>, AttachError> {
        Ok(vec![kind::live(SwiftKind::new(platform))])
    }
}

/// The pools of a platform's Swift connections, read at each scrape.
#[derive(Debug)]
struct SwiftPools {
    outgoing: OutgoingConnections,
}

impl Collector for SwiftPools {
    fn collect(&self, scrape: &mut Scrape) {
        let max_size = scrape.gauges("outgoing_pool_max_size", "The most clients a pool may hold");
        let size = scrape.gauges("outgoing_pool_size", "Clients a pool holds now");
        let in_use = scrape.gauges("outgoing_pool_in_use", "Clients checked out of a pool now");
        let waits = scrape.counters(
            "outgoing_pool_waits",
            "Checkouts that found no idle client and waited",
        );
        let timeouts = scrape.counters(
            "outgoing_pool_checkout_timeouts",
            "Checkouts that waited for a client in vain",
        );
        for name in self.outgoing.names::<SwiftConnection>() {
            let Some(conn) = self.outgoing.get::<SwiftConnection>(&name) else {
                continue;
            };
            let stats = conn.stats();
            let labels: Labels = vec![
                ("kind", Cow::Borrowed("swift")),
                ("connection", Cow::Owned(name)),
            ];
            max_size
                .get_or_create(&labels)
                .set(i64::from(stats.max_size));
            size.get_or_create(&labels).set(i64::from(stats.size));
            in_use.get_or_create(&labels).set(i64::from(stats.in_use));
            waits.get_or_create(&labels).inc_by(stats.waits);
            timeouts
                .get_or_create(&labels)
                .inc_by(stats.checkout_timeouts);
        }
    }
}

//! `outgoing.swift` in a node's config document: Swift connections created, reconfigured and
//! removed while services use them.

use std::borrow::Cow;
use std::time::Instant;

use async_trait::async_trait;
use serde_json::Value;
use zato_core::config::{ConfigError, ObjectKind, ObjectSchema, Section, normalize_as};
use zato_core::metrics::{Collector, Labels, Scrape};
use zato_core::{OutgoingConnections, Platform};

use crate::config::SwiftConfig;
use crate::connection::{SwiftConnection, SwiftOutgoing};

/// The fields of [`SwiftConfig`] that hold secrets.
const SECRETS: &[&str] = &["key", "preauth_token"];

/// `outgoing.swift`: Swift connections, applied to a platform's outgoing connections (or only
/// checked, without one).
///
/// Applying a changed connection builds its new pool and swaps it in: clients already handed out
/// finish on the old pool, which is dropped once they are back. Building checks the
/// configuration, not the remote system; [`ObjectKind::ping`] does that.
#[derive(Debug, Clone, Default)]
pub struct SwiftKind {
    outgoing: Option<OutgoingConnections>,
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
            outgoing: Some(platform.outgoing().clone()),
        }
    }

    /// The kind's schema alone, for checking documents offline.
    pub fn schema() -> Self {
        SwiftKind { outgoing: None }
    }

    fn outgoing(&self) -> Result<&OutgoingConnections, ConfigError> {
        self.outgoing
            .as_ref()
            .ok_or_else(|| ConfigError::one("", "no platform to apply it to"))
    }
}

/// The connection's own problems, relative to it: [`SwiftConfig::validate`] places them in the
/// document already.
fn relative(config: &SwiftConfig, e: ConfigError) -> ConfigError {
    let prefix = format!("outgoing.swift.{}", zato_core::config::key(&config.name));
    let problems = e
        .into_problems()
        .into_iter()
        .map(|mut p| {
            if let Some(rest) = p.path.strip_prefix(&prefix) {
                p.path = rest.trim_start_matches('.').to_owned();
            }
            p
        })
        .collect();
    ConfigError::new(problems)
}

fn read(object: &Value) -> Result<SwiftConfig, ConfigError> {
    // serde's message could quote a secret's value.
    serde_json::from_value(object.clone()).map_err(|_| ConfigError::one("", "cannot be read"))
}

impl ObjectSchema for SwiftKind {
    fn section(&self) -> Section {
        Section::Outgoing
    }

    fn kind(&self) -> &str {
        "swift"
    }

    fn normalize(&self, object: &Value) -> Result<Value, ConfigError> {
        let normal = normalize_as::<SwiftConfig>(object, SECRETS)?;
        let config = read(&normal)?;
        config.validate().map_err(|e| relative(&config, e))?;
        Ok(normal)
    }

    fn secret_fields(&self) -> &[&'static str] {
        SECRETS
    }
}

#[async_trait]
impl ObjectKind for SwiftKind {
    async fn apply(&self, object: &Value) -> Result<(), ConfigError> {
        let outgoing = self.outgoing()?;
        let config = read(object)?;
        match outgoing.get::<SwiftConnection>(&config.name) {
            Some(conn) => conn
                .reconfigure(config)
                .map_err(|e| ConfigError::one("", e.to_string())),
            None => {
                let conn = SwiftConnection::new(config)
                    .map_err(|e| ConfigError::one("", e.to_string()))?;
                outgoing.add_swift(conn);
                Ok(())
            }
        }
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        let outgoing = self.outgoing()?;
        match outgoing.remove::<SwiftConnection>(name) {
            Some(_) => {
                tracing::info!(connection = ?name, "swift connection removed");
                Ok(())
            }
            None => Err(ConfigError::one("", "no such swift connection")),
        }
    }

    /// Authenticates, takes a client from the pool and reads the account (`HEAD`).
    async fn ping(&self, name: &str) -> Result<String, String> {
        let outgoing = self.outgoing().map_err(|e| e.to_string())?;
        let conn = outgoing
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

//! `outgoing.sql` in a node's config document: SQL connections created, edited, pinged and
//! removed while services use them.

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use zato_core::config::{ConfigError, ConfigProblem, Section};
use zato_core::kind::{Description, Kind};
use zato_core::metrics::{Buckets, Collector, HistogramFamily, Labels, Scrape};
use zato_core::{OutgoingConnections, Platform};

use crate::config::{self, SqlConfig};
use crate::connection::SqlConnection;
use crate::handle::SqlOutgoing;

/// `outgoing.sql`: SQL connections (PostgreSQL, MySQL/MariaDB, SQLite), applied to a
/// platform's outgoing connections.
///
/// Applying a changed connection builds its new pool and swaps it in: queries under way finish
/// on the old pool. Building checks the configuration, not the server; [`Kind::ping`] runs
/// `SELECT 1`.
#[derive(Debug, Clone)]
pub struct SqlKind {
    outgoing: OutgoingConnections,
    latency: HistogramFamily,
}

impl SqlKind {
    /// The kind applying to `platform`'s outgoing connections; their pools and query times
    /// join its metrics.
    pub fn new(platform: &Platform) -> Self {
        platform.metrics().register_collector(
            "outgoing.sql",
            Box::new(SqlPools {
                outgoing: platform.outgoing().clone(),
            }),
        );
        let latency = platform.metrics().histograms(
            "sql_query_seconds",
            "Time of the statements run through an outgoing SQL connection's typed helpers",
            Buckets::exponential(0.0005, 2.0, 16),
        );
        SqlKind {
            outgoing: platform.outgoing().clone(),
            latency,
        }
    }
}

#[async_trait]
impl Kind for SqlKind {
    type Config = SqlConfig;
    const SECTION: Section = Section::Outgoing;
    const NAME: &'static str = "sql";
    const SECRETS: &'static [&'static str] = &["password"];

    fn describe() -> Description<SqlConfig> {
        let mut example = SqlConfig::sqlite("Billing DB", "");
        example.engine = config::Engine::Postgresql;
        example.host = "db.example.com".into();
        example.port = 5432;
        example.database = "billing".into();
        example.user = "billing".into();
        example.password = Some("secret".into());
        Description::new(
            "a SQL database (PostgreSQL, MySQL/MariaDB, SQLite) through a bounded pool; `url` sets the fields at once",
            example,
        )
        .pings()
    }

    fn prepare(object: &mut Value) -> Result<(), ConfigError> {
        config::prepare(object)
    }

    fn check(config: &SqlConfig) -> Vec<ConfigProblem> {
        config.problems()
    }

    async fn apply(&self, config: Arc<SqlConfig>) -> Result<(), ConfigError> {
        let config = SqlConfig::clone(&config);
        match self.outgoing.get::<SqlConnection>(&config.name) {
            Some(conn) => conn
                .reconfigure(config)
                .map_err(|e| ConfigError::one("", e.to_string())),
            None => {
                let labels: Labels = vec![("connection", Cow::Owned(config.name.clone()))];
                let conn =
                    SqlConnection::with_latency(config, Some(self.latency.get_or_create(&labels)))
                        .map_err(|e| ConfigError::one("", e.to_string()))?;
                self.outgoing.add_sql(conn);
                Ok(())
            }
        }
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        match self.outgoing.remove::<SqlConnection>(name) {
            Some(conn) => {
                conn.retire();
                tracing::info!(connection = ?name, "sql connection removed");
                Ok(())
            }
            None => Err(ConfigError::one("", "no such sql connection")),
        }
    }

    /// Runs `SELECT 1` on a pooled connection.
    async fn ping(&self, name: &str) -> Result<String, String> {
        let conn = self
            .outgoing
            .get::<SqlConnection>(name)
            .ok_or_else(|| format!("no sql connection named `{name}` on this node"))?;
        let took = conn.ping().await.map_err(|e| e.to_string())?;
        Ok(format!(
            "SELECT 1 on {} answered in {:.1} ms",
            conn.config().engine.as_str(),
            took.as_secs_f64() * 1000.0
        ))
    }
}

/// The pools of a platform's SQL connections, read at each scrape.
#[derive(Debug)]
struct SqlPools {
    outgoing: OutgoingConnections,
}

impl Collector for SqlPools {
    fn collect(&self, scrape: &mut Scrape) {
        // Families of their own: a name is one family in the whole scrape, and Swift's pools
        // report as `outgoing_pool_*`.
        let max_size = scrape.gauges(
            "sql_pool_max_size",
            "The most connections a SQL pool may hold",
        );
        let size = scrape.gauges("sql_pool_size", "Connections a SQL pool holds now");
        let in_use = scrape.gauges(
            "sql_pool_in_use",
            "Connections checked out of a SQL pool now",
        );
        let waits = scrape.counters(
            "sql_pool_waits",
            "Queries that found no idle connection in the pool and waited",
        );
        let timeouts = scrape.counters(
            "sql_pool_timeouts",
            "Queries that waited for a connection in vain (503)",
        );
        let queries = scrape.counters(
            "sql_queries",
            "Statements run through an outgoing SQL connection's typed helpers",
        );
        let errors = scrape.counters("sql_query_errors", "Those of them that failed");
        for name in self.outgoing.names::<SqlConnection>() {
            let Some(conn) = self.outgoing.get::<SqlConnection>(&name) else {
                continue;
            };
            let s = conn.stats();
            let labels: Labels = vec![("connection", Cow::Owned(name))];
            max_size.get_or_create(&labels).set(i64::from(s.max_size));
            size.get_or_create(&labels).set(i64::from(s.size));
            in_use.get_or_create(&labels).set(i64::from(s.in_use));
            waits.get_or_create(&labels).inc_by(s.waits);
            timeouts.get_or_create(&labels).inc_by(s.timeouts);
            queries.get_or_create(&labels).inc_by(s.queries);
            errors.get_or_create(&labels).inc_by(s.errors);
        }
    }
}

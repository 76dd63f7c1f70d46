//! The config document's kind `channels.sql_outbox`.

use std::sync::Arc;

use async_trait::async_trait;
use zato_core::config::{ConfigError, ConfigProblem, ObjectKey, ObjectKind, Reference, Section};
use zato_core::kind::{self, Description, Kind};

use super::adapter::SqlOutboxAdapter;
use super::config::SqlOutboxConfig;

/// `channels.sql_outbox`: outbox channels, applied to one adapter. Each names its connection
/// in `outgoing.sql`.
#[derive(Debug, Clone)]
pub struct SqlOutboxKind {
    adapter: SqlOutboxAdapter,
}

impl SqlOutboxKind {
    /// The kind applying to `adapter`.
    pub fn new(adapter: SqlOutboxAdapter) -> Self {
        SqlOutboxKind { adapter }
    }
}

#[async_trait]
impl Kind for SqlOutboxKind {
    type Config = SqlOutboxConfig;
    const SECTION: Section = Section::Channels;
    const NAME: &'static str = "sql_outbox";

    fn describe() -> Description<SqlOutboxConfig> {
        Description::new(
            "a SQL table polled for rows, each handed to a service and marked done (a transactional outbox)",
            SqlOutboxConfig::new("orders.outbox", "Billing DB", "outbox", "orders.notify"),
        )
    }

    fn check(channel: &SqlOutboxConfig) -> Vec<ConfigProblem> {
        channel.problems()
    }

    fn references(channel: &SqlOutboxConfig) -> Vec<Reference> {
        vec![Reference {
            field: "connection".to_owned(),
            to: ObjectKey::new(Section::Outgoing, "sql", channel.connection.as_str()),
        }]
    }

    async fn apply(&self, channel: Arc<SqlOutboxConfig>) -> Result<(), ConfigError> {
        self.adapter.upsert(SqlOutboxConfig::clone(&channel)).await
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        self.adapter.remove(name).await
    }
}

impl SqlOutboxAdapter {
    /// The config document's kind `channels.sql_outbox` on this adapter.
    pub fn config_kind(&self) -> Arc<dyn ObjectKind> {
        kind::live(SqlOutboxKind::new(self.clone()))
    }
}

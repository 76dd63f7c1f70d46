//! SQL for zato-rs: outgoing connections to PostgreSQL, MySQL/MariaDB and SQLite
//! (`outgoing.sql`), and the transactional outbox as a channel (`channels.sql_outbox`), both on
//! sqlx and both configured, edited and removed live through the plug-in seam.
//!
//! A service reaches a connection by name and queries it with plain sqlx or the typed helpers:
//!
//! ```
//! use zato_core::OutgoingConnections;
//! use zato_sql::{SqlConfig, SqlConnection, SqlOutgoing};
//!
//! #[derive(serde::Deserialize)]
//! struct Customer {
//!     id: i64,
//!     name: String,
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), zato_core::ServiceError> {
//! let outgoing = OutgoingConnections::new();
//! outgoing.add_sql(SqlConnection::new(SqlConfig::sqlite("Billing DB", ":memory:"))?);
//!
//! // In a service: `ctx.outgoing().sql("Billing DB")?`.
//! let db = outgoing.sql("Billing DB")?;
//! db.execute("CREATE TABLE customer (id INTEGER PRIMARY KEY, name TEXT)", &[]).await?;
//! db.execute("INSERT INTO customer VALUES (?, ?)", &[7.into(), "ACME".into()]).await?;
//! let one: Option<Customer> = db
//!     .fetch_optional("SELECT id, name FROM customer WHERE id = ?", &[7.into()])
//!     .await?;
//! assert_eq!(one.map(|c| (c.id, c.name)), Some((7, "ACME".to_owned())));
//!
//! // Plain sqlx on the same pool, its errors typed by the handle.
//! let n: i64 = sqlx::query_scalar("SELECT count(*) FROM customer")
//!     .fetch_one(db.sqlite()?)
//!     .await
//!     .map_err(|e| db.error(e))?;
//! assert_eq!(n, 1);
//! # Ok(()) }
//! ```
//!
//! Errors reach the service typed ([`SqlError`]): a pool that has no free connection within
//! `pool_wait` is a 503 naming the connection, an unreachable server a 502, a statement past
//! `statement_timeout` a 504; no error text holds the password.

mod config;
mod connection;
mod error;
mod handle;
mod kind;
pub mod outbox;
mod rows;

use std::sync::Arc;

use async_trait::async_trait;
use zato_core::Platform;
use zato_core::config::{ObjectKind, ObjectSchema};
use zato_core::kind::{self as seam, AttachError, Plugin};

pub use config::{Engine, MAX_POOL_SIZE, MAX_POOL_WAIT, SqlConfig, TlsMode};
pub use connection::{SqlConnection, SqlPool, SqlPoolStats};
pub use error::{SqlError, SqlErrorKind};
pub use handle::{SqlHandle, SqlOutgoing};
pub use kind::SqlKind;
pub use outbox::{SqlOutboxAdapter, SqlOutboxConfig, SqlOutboxKind, SqlOutboxStats};

/// The SQL plug-in: `outgoing.sql` and `channels.sql_outbox`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SqlPlugin;

/// The SQL plug-in, for [`zato::Node`](https://docs.rs/zato).
pub fn plugin() -> SqlPlugin {
    SqlPlugin
}

#[async_trait]
impl Plugin for SqlPlugin {
    fn name(&self) -> &str {
        "sql"
    }

    fn schemas(&self) -> Vec<Arc<dyn ObjectSchema>> {
        vec![seam::schema::<SqlKind>(), seam::schema::<SqlOutboxKind>()]
    }

    async fn attach(&self, platform: &Platform) -> Result<Vec<Arc<dyn ObjectKind>>, AttachError> {
        let outbox = SqlOutboxAdapter::attach(platform)?;
        Ok(vec![
            seam::live(SqlKind::new(platform)),
            outbox.config_kind(),
        ])
    }
}

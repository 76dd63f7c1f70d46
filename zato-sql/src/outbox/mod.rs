//! `channels.sql_outbox`: the transactional outbox as a channel. An application writes a row
//! in the same transaction as its own change; the channel reads the rows, invokes a service for
//! each with the row as its SimpleIO input (a JSON object of its columns), and marks the row
//! done, or deletes it.
//!
//! # The table
//!
//! Any table with these columns, besides the application's own ([`create_table_sql`] gives one):
//!
//! | column         | type                | meaning                                              |
//! |----------------|---------------------|------------------------------------------------------|
//! | `id`           | integer primary key | the order rows are taken in                          |
//! | `status`       | text                | `pending` (new), `done`, `failed`                    |
//! | `attempts`     | integer, 0          | failed attempts so far                               |
//! | `last_error`   | text, nullable      | the last failure, as the service's error said it     |
//! | `available_at` | bigint, 0           | Unix milliseconds before which the row is not taken  |
//!
//! # Delivery
//!
//! At least once, like the Swift inbox: a batch of pending rows is taken in one transaction
//! with `FOR UPDATE SKIP LOCKED` (PostgreSQL, MySQL 8, MariaDB 10.6 and later), so each row is
//! handled by one node at a time; the outcome of every row of the batch is written and the
//! transaction committed once their services returned. A node that dies meanwhile holds no row:
//! its transaction rolls back and the rows are taken again. A failed invocation counts an
//! attempt and makes the row wait a backoff (`backoff`, doubled per attempt up to
//! `max_backoff`); after `max_attempts` the row is `failed` with the error in `last_error`.
//! SQLite has no row locks: one poller per table and process works on it at a time, and
//! several processes must not poll the same file.
//!
//! The channel polls every `poll_interval` seconds, at once again while batches come full; on
//! PostgreSQL a `listen` channel wakes it early (`NOTIFY <listen>` after inserting a row), over
//! one connection of the pool held for it.

mod adapter;
mod config;
mod kind;
mod poller;

pub use adapter::{SqlOutboxAdapter, SqlOutboxStats};
pub use config::{OnSuccess, SQL_OUTBOX_KIND, SqlOutboxConfig};
pub use kind::SqlOutboxKind;

use crate::Engine;

/// A table fit for an outbox channel on `engine`, with a JSON `payload` column for the
/// application's data: `CREATE TABLE IF NOT EXISTS`.
///
/// # Examples
///
/// ```
/// use zato_sql::Engine;
/// use zato_sql::outbox::create_table_sql;
///
/// let ddl = create_table_sql(Engine::Postgresql, "outbox");
/// assert!(ddl.starts_with("CREATE TABLE IF NOT EXISTS outbox"));
/// ```
pub fn create_table_sql(engine: Engine, table: &str) -> String {
    let id = match engine {
        Engine::Postgresql => "id BIGSERIAL PRIMARY KEY",
        Engine::Mysql => "id BIGINT AUTO_INCREMENT PRIMARY KEY",
        Engine::Sqlite => "id INTEGER PRIMARY KEY AUTOINCREMENT",
    };
    let text = match engine {
        Engine::Mysql => "VARCHAR(16)",
        _ => "TEXT",
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {table} ({id}, payload TEXT NOT NULL, \
         status {text} NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, \
         last_error TEXT, available_at BIGINT NOT NULL DEFAULT 0)"
    )
}

//! [`SqlOutboxConfig`]: a `channels.sql_outbox` object of the config document.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use zato_core::ChannelKind;
use zato_core::config::{ConfigProblem, bounds};

/// The channel kind of SQL outbox channels, as requests name it.
pub const SQL_OUTBOX_KIND: ChannelKind = ChannelKind::new("sql_outbox");

/// What becomes of a row whose service succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum OnSuccess {
    /// Its `status` becomes `done`.
    #[default]
    Mark,
    /// It is deleted.
    Delete,
}

/// An outbox channel: `channels.sql_outbox.<name>`. See [the module](super) for the table and
/// the delivery.
///
/// # Examples
///
/// ```
/// use zato_sql::SqlOutboxConfig;
///
/// let c = SqlOutboxConfig::new("orders.outbox", "Billing DB", "outbox", "orders.notify");
/// assert!(c.problems().is_empty());
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlOutboxConfig {
    /// The channel's name.
    pub name: String,
    /// Whether it polls.
    #[serde(default = "yes")]
    pub is_active: bool,
    /// The `outgoing.sql` connection of the table.
    pub connection: String,
    /// The table (`outbox`, or `schema.outbox`).
    pub table: String,
    /// The service invoked for each row.
    pub service: String,
    /// Whether a done row is marked or deleted.
    #[serde(default)]
    pub on_success: OnSuccess,
    /// Seconds between polls when the table has no ready row.
    #[serde(default = "poll_interval")]
    pub poll_interval: f64,
    /// The most rows taken in one transaction.
    #[serde(default = "batch_size")]
    pub batch_size: u32,
    /// How many rows of a batch are handled at once.
    #[serde(default = "concurrency")]
    pub concurrency: u32,
    /// Attempts before a row is `failed`.
    #[serde(default = "max_attempts")]
    pub max_attempts: u32,
    /// Seconds a row waits after its first failure; doubled after each next one.
    #[serde(default = "backoff")]
    pub backoff: f64,
    /// The longest wait between two attempts, in seconds.
    #[serde(default = "max_backoff")]
    pub max_backoff: f64,
    /// How long one invocation may take, in seconds; then it counts as failed.
    #[serde(default = "timeout")]
    pub timeout: f64,
    /// PostgreSQL only: a `LISTEN` channel whose notifications wake the poller early.
    #[serde(default)]
    pub listen: Option<String>,
}

fn yes() -> bool {
    true
}
fn poll_interval() -> f64 {
    1.0
}
fn batch_size() -> u32 {
    100
}
fn concurrency() -> u32 {
    1
}
fn max_attempts() -> u32 {
    5
}
fn backoff() -> f64 {
    1.0
}
fn max_backoff() -> f64 {
    300.0
}
fn timeout() -> f64 {
    60.0
}

/// Whether `s` is a plain SQL identifier, or two joined by a dot.
fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.split('.').count() <= 2
        && s.split('.').all(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

impl SqlOutboxConfig {
    /// A channel with the defaults.
    pub fn new(
        name: impl Into<String>,
        connection: impl Into<String>,
        table: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        SqlOutboxConfig {
            name: name.into(),
            is_active: true,
            connection: connection.into(),
            table: table.into(),
            service: service.into(),
            on_success: OnSuccess::default(),
            poll_interval: poll_interval(),
            batch_size: batch_size(),
            concurrency: concurrency(),
            max_attempts: max_attempts(),
            backoff: backoff(),
            max_backoff: max_backoff(),
            timeout: timeout(),
            listen: None,
        }
    }

    /// Every problem, paths relative to the object.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        for (field, value) in [
            ("name", &self.name),
            ("connection", &self.connection),
            ("service", &self.service),
        ] {
            if value.trim().is_empty() {
                p.push(ConfigProblem::new(field, "must not be empty"));
            }
        }
        if !is_identifier(&self.table) {
            p.push(ConfigProblem::new(
                "table",
                "must be a table name: letters, digits and _, optionally schema.table",
            ));
        }
        if let Some(listen) = &self.listen
            && !is_identifier(listen)
        {
            p.push(ConfigProblem::new(
                "listen",
                "must be a channel name: letters, digits and _",
            ));
        }
        p.extend(bounds::seconds(
            "poll_interval",
            self.poll_interval,
            0.01,
            3600.0,
        ));
        p.extend(bounds::count("batch_size", self.batch_size, 1, 10_000));
        p.extend(bounds::count("concurrency", self.concurrency, 1, 256));
        p.extend(bounds::count("max_attempts", self.max_attempts, 1, 1000));
        p.extend(bounds::seconds(
            "backoff",
            self.backoff,
            0.0,
            bounds::MAX_SECONDS,
        ));
        p.extend(bounds::seconds(
            "max_backoff",
            self.max_backoff,
            0.0,
            bounds::MAX_SECONDS,
        ));
        p.extend(bounds::positive_seconds(
            "timeout",
            self.timeout,
            bounds::MAX_SECONDS,
        ));
        p
    }

    pub(crate) fn poll_every(&self) -> Duration {
        bounds::duration(self.poll_interval)
    }

    pub(crate) fn timeout_duration(&self) -> Duration {
        bounds::duration(self.timeout)
    }

    /// The wait after the `attempt`th failure.
    pub(crate) fn backoff_after(&self, attempt: u32) -> Duration {
        let factor = 2f64.powi(i32::try_from(attempt.saturating_sub(1).min(60)).unwrap_or(60));
        bounds::duration((self.backoff * factor).min(self.max_backoff))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_are_named() {
        let mut c = SqlOutboxConfig::new("o", "db", "outbox; DROP TABLE x", "s");
        c.batch_size = 0;
        c.poll_interval = 0.0;
        c.listen = Some("a b".into());
        let paths: Vec<String> = c.problems().into_iter().map(|p| p.path).collect();
        assert_eq!(paths, ["table", "listen", "poll_interval", "batch_size"]);
        assert!(is_identifier("app.outbox"));
    }

    #[test]
    fn backoff_doubles_up_to_its_bound() {
        let mut c = SqlOutboxConfig::new("o", "db", "outbox", "s");
        c.backoff = 2.0;
        c.max_backoff = 10.0;
        let waits: Vec<u64> = (1..=5).map(|a| c.backoff_after(a).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 10, 10]);
    }
}

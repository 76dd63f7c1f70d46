//! [`PgStore`]: a node's [`ConfigStore`] in PostgreSQL, shared by every node of a cluster.

use std::fmt;
use std::sync::RwLock;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_postgres::{Client, NoTls};
use zato_core::Secret;
use zato_core::config::{
    Commit, ConfigStore, HistoryEntry, ObjectKey, Op, Section, Snapshot, StoreError, Stored,
};

use crate::crypto::{MIN_PASSPHRASE, SecretBox};

/// The longest a statement may run on the server, and an operation wait for its answer.
const STATEMENT_TIMEOUT: &str = "15s";
const OPERATION_TIMEOUT: Duration = Duration::from_secs(20);

/// How many versions [`ConfigStore::history`] lists.
const HISTORY: i64 = 100;

/// Where the cluster's database is, and the key to its secrets.
#[derive(Clone)]
#[non_exhaustive]
pub struct PgSettings {
    /// `postgres://user:password@host:port/database`.
    pub url: Secret<String>,
    /// The schema holding the cluster's tables (letters, digits and `_`): several clusters, or
    /// tests, can share one database.
    pub schema: String,
    /// `ZATO_SECRET_KEY`: the passphrase (at least 32 characters) the key encrypting secrets is
    /// derived from.
    pub passphrase: Secret<String>,
    /// How long to wait for the database to answer a connection.
    pub connect_timeout: Duration,
}

impl fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgSettings")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl PgSettings {
    /// The cluster at `url`, in the schema `zato`, with secrets under `passphrase`.
    pub fn new(url: impl Into<String>, passphrase: impl Into<String>) -> Self {
        PgSettings {
            url: Secret::new(url.into()),
            schema: "zato".to_owned(),
            passphrase: Secret::new(passphrase.into()),
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// The same settings with another schema.
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }
}

/// Why a node cannot join the cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// No passphrase, or one too short.
    #[error(
        "ZATO_SECRET_KEY must hold a passphrase of at least {MIN_PASSPHRASE} characters to join a cluster: it encrypts the secrets in the database"
    )]
    NoKey,
    /// The passphrase is not the one the cluster's secrets are encrypted with.
    #[error(
        "ZATO_SECRET_KEY does not match the cluster's key: the secrets in the database were encrypted with another one"
    )]
    KeyMismatch,
    /// The schema name is not a plain identifier.
    #[error("the schema name {0:?} must be letters, digits and `_`, starting with a letter")]
    BadSchema(String),
    /// The database could not be reached or refused.
    #[error("the cluster database: {0}")]
    Database(String),
}

fn backend(e: impl fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Why one attempt at an operation failed.
enum Fail {
    Db(tokio_postgres::Error),
    Store(StoreError),
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        Fail::Db(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

/// The database's own message (`57P01: terminating connection due to administrator command`)
/// rather than the driver's bare "db error".
fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// Opens a connection with the settings' search path; its driver runs as a task.
pub(crate) async fn connect(settings: &PgSettings) -> Result<Client, String> {
    let (client, connection) = tokio::time::timeout(
        settings.connect_timeout,
        tokio_postgres::connect(settings.url.expose(), NoTls),
    )
    .await
    .map_err(|_| format!("no connection within {:?}", settings.connect_timeout))?
    // The driver's messages name the server and its reason, never the password.
    .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "cluster database connection ended");
        }
    });
    client
        .batch_execute(&format!(
            "SET search_path TO \"{}\"; SET statement_timeout = '{STATEMENT_TIMEOUT}'",
            settings.schema
        ))
        .await
        .map_err(|e| e.to_string())?;
    Ok(client)
}

/// Runs `$body` on the shared connection (`$client`); when the connection turns out to be gone
/// (the database restarted, the backend was terminated), opens a new one and runs it once more.
/// A commit retried this way is safe: its version check refuses it if the first attempt went
/// through.
macro_rules! with_retry {
    ($store:expr, $client:ident => $body:block) => {{
        let mut result = Err(backend("the connection was lost twice"));
        for attempt in 0..2 {
            let mut guard = $store.client().await?;
            let Some($client) = guard.as_mut() else {
                return Err(backend("no connection"));
            };
            let Ok(outcome) = tokio::time::timeout(OPERATION_TIMEOUT, async { $body }).await else {
                // No answer: the connection may be half-dead; the next operation opens another.
                *guard = None;
                result = Err(backend(format!(
                    "no answer from the database within {OPERATION_TIMEOUT:?}"
                )));
                break;
            };
            let outcome: Result<_, Fail> = outcome;
            match outcome {
                Ok(v) => {
                    result = Ok(v);
                    break;
                }
                Err(Fail::Store(e)) => {
                    result = Err(e);
                    break;
                }
                Err(Fail::Db(e)) => {
                    let lost = e.is_closed()
                        || $client.is_closed()
                        || e.as_db_error()
                            .is_some_and(|d| d.code().code().starts_with("57P"));
                    result = Err(backend(db_message(&e)));
                    if !lost {
                        break;
                    }
                    *guard = None;
                    if attempt > 0 {
                        break;
                    }
                }
            }
        }
        result
    }};
}

/// The configuration of a cluster in PostgreSQL: objects with their versions, the change log,
/// the nodes and their acknowledgements. Secrets are encrypted at rest, in the objects and the
/// change log alike. Every commit notifies the nodes (`LISTEN`/`NOTIFY`) with its version.
pub struct PgStore {
    settings: PgSettings,
    crypto: SecretBox,
    secrets: RwLock<Vec<String>>,
    client: tokio::sync::Mutex<Option<Client>>,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.settings.schema)
            .finish_non_exhaustive()
    }
}

const SETUP: &str = r#"
CREATE TABLE IF NOT EXISTS meta (
    id int PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL,
    salt bytea NOT NULL,
    key_check bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS objects (
    section text NOT NULL,
    kind text NOT NULL,
    name text NOT NULL,
    document jsonb NOT NULL,
    version bigint NOT NULL,
    PRIMARY KEY (section, kind, name)
);
CREATE TABLE IF NOT EXISTS changes (
    version bigint PRIMARY KEY,
    time timestamptz NOT NULL DEFAULT now(),
    author text NOT NULL,
    diff jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS nodes (
    name text PRIMARY KEY,
    addresses text NOT NULL,
    started timestamptz NOT NULL,
    heartbeat timestamptz NOT NULL,
    applied bigint NOT NULL,
    last_error text
);
CREATE TABLE IF NOT EXISTS acks (
    node text NOT NULL,
    version bigint NOT NULL,
    status text NOT NULL,
    error text,
    time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (node, version)
);
"#;

fn section_of(text: &str) -> Result<Section, StoreError> {
    Section::parse(text).ok_or_else(|| backend(format!("unknown section {text:?} in the database")))
}

impl PgStore {
    /// Connects, creates the schema and its tables when missing (the first node of a cluster),
    /// and checks the key against the cluster's.
    ///
    /// # Errors
    ///
    /// [`ClusterError::NoKey`] without a passphrase of at least 32 characters,
    /// [`ClusterError::KeyMismatch`] when it is not the cluster's, or the database's error.
    pub async fn connect(settings: PgSettings) -> Result<PgStore, ClusterError> {
        if settings.passphrase.expose().chars().count() < MIN_PASSPHRASE {
            return Err(ClusterError::NoKey);
        }
        let schema = &settings.schema;
        let plain = schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
            && schema
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
            && schema.len() <= 48;
        if !plain {
            return Err(ClusterError::BadSchema(schema.clone()));
        }
        let db = |e: tokio_postgres::Error| ClusterError::Database(e.to_string());
        let mut client = connect(&settings).await.map_err(ClusterError::Database)?;
        let tx = client.transaction().await.map_err(db)?;
        // Nodes starting together create the tables once.
        tx.execute("SELECT pg_advisory_xact_lock(7243100)", &[])
            .await
            .map_err(db)?;
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS \"{schema}\"; SET LOCAL search_path TO \"{schema}\"; {SETUP}"
        ))
        .await
        .map_err(db)?;
        let salt: [u8; 16] = rand::random();
        let row = tx
            .query_opt("SELECT salt, key_check FROM meta WHERE id = 1", &[])
            .await
            .map_err(db)?;
        let crypto = match row {
            Some(row) => {
                let salt: Vec<u8> = row.get(0);
                let check: Vec<u8> = row.get(1);
                let crypto = SecretBox::derive(settings.passphrase.expose(), &salt);
                if !crypto.matches(&check) {
                    return Err(ClusterError::KeyMismatch);
                }
                crypto
            }
            None => {
                let crypto = SecretBox::derive(settings.passphrase.expose(), &salt);
                tx.execute(
                    "INSERT INTO meta (id, version, salt, key_check) VALUES (1, 0, $1, $2)",
                    &[&&salt[..], &crypto.key_check()],
                )
                .await
                .map_err(db)?;
                crypto
            }
        };
        tx.commit().await.map_err(db)?;
        Ok(PgStore {
            settings,
            crypto,
            secrets: RwLock::new(Vec::new()),
            client: tokio::sync::Mutex::new(Some(client)),
        })
    }

    /// The settings it was made with.
    pub fn settings(&self) -> &PgSettings {
        &self.settings
    }

    /// Encrypts the secret fields ([`ConfigStore::protect`]) that rows already written hold in
    /// plain text, in the objects and in the change log: what a database written before every
    /// secret was known still holds. Returns how many rows it rewrote.
    ///
    /// # Errors
    ///
    /// The store's, when the rows cannot be read or written; then nothing changed.
    pub async fn reseal(&self) -> Result<usize, StoreError> {
        let secrets = self.secret_fields();
        if secrets.is_empty() {
            return Ok(0);
        }
        with_retry!(self, client => {
            let tx = client.transaction().await?;
            let mut rewritten = 0;
            let objects = tx
                .query("SELECT section, kind, name, document FROM objects FOR UPDATE", &[])
                .await?;
            for r in &objects {
                let document: Value = r.get(3);
                let sealed = self.crypto.seal_fields(&document, &secrets);
                if sealed != document {
                    let (section, kind, name): (String, String, String) =
                        (r.get(0), r.get(1), r.get(2));
                    tx.execute(
                        "UPDATE objects SET document = $4 \
                         WHERE section = $1 AND kind = $2 AND name = $3",
                        &[&section, &kind, &name, &sealed],
                    )
                    .await?;
                    rewritten += 1;
                }
            }
            let changes = tx
                .query("SELECT version, diff FROM changes FOR UPDATE", &[])
                .await?;
            for r in &changes {
                let version: i64 = r.get(0);
                let mut diff: Value = r.get(1);
                let mut changed = false;
                for item in diff.as_array_mut().into_iter().flatten() {
                    if let Some(value) = item.get_mut("value") {
                        let sealed = self.crypto.seal_fields(value, &secrets);
                        if sealed != *value {
                            *value = sealed;
                            changed = true;
                        }
                    }
                }
                if changed {
                    tx.execute(
                        "UPDATE changes SET diff = $2 WHERE version = $1",
                        &[&version, &diff],
                    )
                    .await?;
                    rewritten += 1;
                }
            }
            tx.commit().await?;
            Ok(rewritten)
        })
    }

    fn secret_fields(&self) -> Vec<String> {
        self.secrets
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The notification channel of this cluster's versions.
    pub(crate) fn channel(&self) -> String {
        format!("zato_config_{}", self.settings.schema)
    }

    /// The shared connection, opened again when it was lost.
    async fn client(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Client>>, StoreError> {
        let mut guard = self.client.lock().await;
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = None;
            *guard = Some(connect(&self.settings).await.map_err(backend)?);
        }
        Ok(guard)
    }

    /// The latest version.
    ///
    /// # Errors
    ///
    /// The database's.
    pub async fn latest_version(&self) -> Result<u64, StoreError> {
        with_retry!(self, client => {
            let row = client
                .query_one("SELECT version FROM meta WHERE id = 1", &[])
                .await?;
            Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
        })
    }

    /// Records `node` as a member, with the addresses it serves on.
    pub(crate) async fn register_node(
        &self,
        node: &str,
        addresses: &str,
    ) -> Result<(), StoreError> {
        with_retry!(self, client => {
            client
                .execute(
                    "INSERT INTO nodes (name, addresses, started, heartbeat, applied) \
                     VALUES ($1, $2, now(), now(), 0) \
                     ON CONFLICT (name) DO UPDATE SET addresses = $2, started = now(), heartbeat = now()",
                    &[&node, &addresses],
                )
                .await?;
            Ok(())
        })
    }

    /// Says `node` is alive, at `applied`, with its last error.
    pub(crate) async fn heartbeat(
        &self,
        node: &str,
        applied: u64,
        last_error: Option<&str>,
    ) -> Result<(), StoreError> {
        let applied = i64::try_from(applied).unwrap_or(i64::MAX);
        with_retry!(self, client => {
            client
                .execute(
                    "UPDATE nodes SET heartbeat = now(), applied = $2, last_error = $3 WHERE name = $1",
                    &[&node, &applied, &last_error],
                )
                .await?;
            Ok(())
        })
    }

    /// Records whether `node` applied `version`.
    pub(crate) async fn ack(
        &self,
        node: &str,
        version: u64,
        outcome: Result<(), &str>,
    ) -> Result<(), StoreError> {
        let version = i64::try_from(version).unwrap_or(i64::MAX);
        let (status, error) = match outcome {
            Ok(()) => ("applied", None),
            Err(e) => ("failed", Some(e)),
        };
        with_retry!(self, client => {
            client
                .execute(
                    "INSERT INTO acks (node, version, status, error) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (node, version) DO UPDATE SET status = $3, error = $4, time = now()",
                    &[&node, &version, &status, &error],
                )
                .await?;
            client
                .execute(
                    "UPDATE nodes SET applied = GREATEST(applied, $2), heartbeat = now(), last_error = $3 WHERE name = $1",
                    &[&node, &version, &error],
                )
                .await?;
            Ok(())
        })
    }

    /// Every node with its state; `live` when its heartbeat is younger than `live_within`.
    ///
    /// # Errors
    ///
    /// The database's.
    pub async fn nodes(&self, live_within: Duration) -> Result<Vec<NodeStatus>, StoreError> {
        let (latest, rows) = with_retry!(self, client => {
            let latest: i64 = client
                .query_one("SELECT version FROM meta WHERE id = 1", &[])
                .await?
                .get(0);
            let rows = client
                .query(
                    "SELECT name, addresses, applied, last_error, \
             EXTRACT(EPOCH FROM now() - heartbeat)::float8, \
             to_char(started AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
             FROM nodes ORDER BY name",
                    &[],
                )
                .await?;
            Ok((latest, rows))
        })?;
        Ok(rows
            .iter()
            .map(|r| {
                let applied: i64 = r.get(2);
                let ago: f64 = r.get(4);
                NodeStatus {
                    name: r.get(0),
                    addresses: r.get(1),
                    applied: u64::try_from(applied).unwrap_or(0),
                    lag: u64::try_from(latest - applied).unwrap_or(0),
                    last_error: r.get(3),
                    heartbeat_secs_ago: ago,
                    live: ago < live_within.as_secs_f64(),
                    started: r.get(5),
                }
            })
            .collect())
    }

    /// For each live node, whether it applied `version` (or a later one) yet.
    ///
    /// # Errors
    ///
    /// The database's.
    pub async fn acks(
        &self,
        version: u64,
        live_within: Duration,
    ) -> Result<Vec<(String, Option<Result<(), String>>)>, StoreError> {
        let version = i64::try_from(version).unwrap_or(i64::MAX);
        let secs = live_within.as_secs_f64();
        let rows = with_retry!(self, client => {
            Ok(client
                .query(
                    "SELECT n.name, a.status, a.error FROM nodes n \
             LEFT JOIN LATERAL (SELECT status, error FROM acks \
               WHERE node = n.name AND version >= $1 ORDER BY version LIMIT 1) a ON true \
             WHERE n.heartbeat > now() - make_interval(secs => $2) ORDER BY n.name",
                    &[&version, &secs],
                )
                .await?)
        })?;
        Ok(rows
            .iter()
            .map(|r| {
                let status: Option<String> = r.get(1);
                let error: Option<String> = r.get(2);
                let outcome = status.map(|s| match s.as_str() {
                    "applied" => Ok(()),
                    _ => Err(error.unwrap_or_default()),
                });
                (r.get(0), outcome)
            })
            .collect())
    }
}

/// One node of the cluster as the database knows it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NodeStatus {
    /// Its name.
    pub name: String,
    /// Where it serves.
    pub addresses: String,
    /// When it started, in RFC 3339.
    pub started: String,
    /// The version it applied.
    pub applied: u64,
    /// How many versions it is behind.
    pub lag: u64,
    /// Seconds since its last heartbeat.
    pub heartbeat_secs_ago: f64,
    /// Whether it is alive (heartbeat recent enough).
    pub live: bool,
    /// What it failed to apply last, if anything.
    pub last_error: Option<String>,
}

#[async_trait::async_trait]
impl ConfigStore for PgStore {
    fn protect(&self, fields: &[String]) {
        let mut secrets = self
            .secrets
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        secrets.extend(fields.iter().cloned());
        secrets.sort();
        secrets.dedup();
    }

    async fn load(&self) -> Result<Snapshot, StoreError> {
        let (version, rows) = with_retry!(self, client => {
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let version: i64 = tx
                .query_one("SELECT version FROM meta WHERE id = 1", &[])
                .await?
                .get(0);
            let rows = tx
                .query(
                    "SELECT section, kind, name, document, version FROM objects",
                    &[],
                )
                .await?;
            tx.commit().await?;
            Ok((version, rows))
        })?;
        let mut snapshot = Snapshot {
            version: u64::try_from(version).unwrap_or(0),
            ..Snapshot::default()
        };
        for r in &rows {
            let section: String = r.get(0);
            let key = ObjectKey::new(
                section_of(&section)?,
                r.get::<_, String>(1),
                r.get::<_, String>(2),
            );
            let document: Value = r.get(3);
            let value = self
                .crypto
                .open_fields(&document)
                .map_err(|e| backend(format!("{key}: {e}")))?;
            let v: i64 = r.get(4);
            snapshot.objects.insert(
                key,
                Stored {
                    value,
                    version: u64::try_from(v).unwrap_or(0),
                },
            );
        }
        Ok(snapshot)
    }

    async fn commit(&self, commit: Commit) -> Result<u64, StoreError> {
        let secrets = self.secret_fields();
        let channel = self.channel();
        with_retry!(self, client => {
            let tx = client.transaction().await?;
            let current: i64 = tx
                .query_one("SELECT version FROM meta WHERE id = 1 FOR UPDATE", &[])
                .await?
                .get(0);
            let current_u = u64::try_from(current).unwrap_or(0);
            if current_u != commit.base {
                return Err(StoreError::Stale { current: current_u }.into());
            }
            let version = current + 1;
            let mut diff = Vec::with_capacity(commit.changes.len());
            for (key, value) in &commit.changes {
                let section = key.section.as_str();
                let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
                    [&section, &key.kind, &key.name];
                let existed = tx
                    .query_opt(
                        "SELECT 1 FROM objects WHERE section = $1 AND kind = $2 AND name = $3",
                        &params,
                    )
                    .await?
                    .is_some();
                let (op, sealed) = match value {
                    Some(v) => {
                        let sealed = self.crypto.seal_fields(v, &secrets);
                        tx.execute(
                            "INSERT INTO objects (section, kind, name, document, version) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (section, kind, name) \
                         DO UPDATE SET document = $4, version = $5",
                            &[&section, &key.kind, &key.name, &sealed, &version],
                        )
                        .await?;
                        (if existed { Op::Updated } else { Op::Created }, sealed)
                    }
                    None => {
                        tx.execute(
                            "DELETE FROM objects WHERE section = $1 AND kind = $2 AND name = $3",
                            &params,
                        )
                        .await?;
                        (Op::Deleted, Value::Null)
                    }
                };
                diff.push(json!({
                "op": op, "section": section, "kind": key.kind, "name": key.name, "value": sealed,
            }));
            }
            tx.execute(
                "INSERT INTO changes (version, author, diff) VALUES ($1, $2, $3)",
                &[&version, &commit.author, &Value::Array(diff)],
            )
            .await?;
            tx.execute("UPDATE meta SET version = $1 WHERE id = 1", &[&version])
                .await?;
            tx.execute(
                "SELECT pg_notify($1, $2)",
                &[&channel, &version.to_string()],
            )
            .await?;
            tx.commit().await?;
            Ok(u64::try_from(version).unwrap_or(0))
        })
    }

    async fn history(&self) -> Result<Vec<HistoryEntry>, StoreError> {
        let rows = with_retry!(self, client => {
            Ok(client
                .query(
            "SELECT version, to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
             author, diff FROM changes ORDER BY version DESC LIMIT $1",
            &[&HISTORY],
        )
                .await?)
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let version: i64 = r.get(0);
            let diff: Value = r.get(3);
            let changes = diff
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|c| {
                            let section = Section::parse(c["section"].as_str()?)?;
                            let key =
                                ObjectKey::new(section, c["kind"].as_str()?, c["name"].as_str()?);
                            Some(format!("{} {key}", c["op"].as_str()?))
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push(HistoryEntry {
                version: u64::try_from(version).unwrap_or(0),
                time: r.get(1),
                author: r.get(2),
                changes,
            });
        }
        Ok(out)
    }
}

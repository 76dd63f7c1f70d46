//! The seed article's InvoiceDispatcher, end to end: `cargo run --example invoice_dispatcher`,
//! then, in another terminal,
//!
//! ```sh
//! curl "localhost:11223/invoice.dispatcher?target=CRM&target=Billing" -d '{"id":"123"}'
//! ```
//!
//! Configuration comes from `config.json` beside this file (`ZATO_CONFIG` names another, in
//! JSON, TOML or YAML by its extension; `config.toml` is its twin), the
//! listening address from `ZATO_HTTP_ADDR` (default `127.0.0.1:11223`), and Swift credentials
//! from the file or from `ZATO_SWIFT_AUTH_URL`, `ZATO_SWIFT_USER`, `ZATO_SWIFT_KEY`,
//! `ZATO_SWIFT_AUTH_VERSION` and `ZATO_SWIFT_API_KEY` (`1` sends the key as a Rackspace API key,
//! Keystone v2.0 only). Without credentials the example starts a local Swift-compatible endpoint
//! and keeps the objects under `target/invoice_dispatcher_swift/`.
//!
//! Built with `--features amqp` and given `ZATO_AMQP_URL` (`amqp://guest:guest@127.0.0.1:5672/%2f`),
//! it also consumes the queue `invoices` (declared durable when missing, dead letters in
//! `invoices.dead`): each message is an invoice naming its own targets,
//! `{"id":"300","target":["CRM"]}`.
//!
//! Built with `--features zmq` and given `ZATO_ZMQ_PULL_ADDRESS` (`tcp://127.0.0.1:11225`), it
//! also binds a ZeroMQ PULL socket there, taking the same messages.
//!
//! Built with `--features cluster` and given `ZATO_CLUSTER_DB` (a PostgreSQL URL) and
//! `ZATO_SECRET_KEY` (at least 32 characters), it is one node of a cluster named
//! `ZATO_NODE_NAME` (default: host name and port): the first node of an empty database seeds it
//! from its config; later ones take the database's configuration.
//!
//! Given `ZATO_SWIFT_INBOX` (`invoices-in`), it also polls that container every 5 s: each
//! object is an invoice naming its own targets, dispatched as an HTTP call would be, then moved
//! to `invoices-archive` (or, when it fails, to `invoices-error` with the error in its
//! metadata). The containers are created when missing.
//!
//! With `ZATO_ADMIN_TOKEN` set, the admin API listens on `ZATO_ADMIN_ADDR` (default
//! `127.0.0.1:11224`), and the `zato` CLI changes the configuration while requests flow.

#[allow(
    dead_code,
    reason = "tests/invoice_dispatcher.rs uses the parts main does not"
)]
mod app;

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

use app::{AdminSettings, AppConfig};
use zato::admin::{ADMIN_ADDR_ENV, ADMIN_TOKEN_ENV, DEFAULT_ADMIN_ADDR};
use zato::config::Format;

const DEFAULT_CONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/invoice_dispatcher/config.json"
);

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn load_config() -> Result<AppConfig, Box<dyn Error + Send + Sync>> {
    let path = env("ZATO_CONFIG").unwrap_or_else(|| DEFAULT_CONFIG.to_owned());
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let format = Format::from_path(&path)?;
    let mut config =
        AppConfig::parse(&text, format).map_err(|e| format!("invalid config {path}: {e}"))?;
    if let Some(url) = env("ZATO_SWIFT_AUTH_URL") {
        config.swift.auth_url = Some(url);
    }
    if let Some(user) = env("ZATO_SWIFT_USER") {
        config.swift.user = Some(user);
    }
    if let Some(key) = env("ZATO_SWIFT_KEY") {
        config.swift.key = Some(key.into());
    }
    if let Some(version) = env("ZATO_SWIFT_AUTH_VERSION") {
        config.swift.auth_version = serde_json::from_value(serde_json::Value::String(version))
            .map_err(|e| format!("ZATO_SWIFT_AUTH_VERSION: {e}"))?;
    }
    if let Some(inbox) = env("ZATO_SWIFT_INBOX") {
        config = config.with_swift_inbox(inbox.trim());
    }
    if let Some(address) = env("ZATO_ZMQ_PULL_ADDRESS") {
        config = zmq_pull(config, &address)?;
    }
    if let Some(flag) = env("ZATO_SWIFT_API_KEY") {
        config.swift.api_key_auth = match flag.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" => true,
            "0" | "false" | "no" => false,
            _ => return Err("ZATO_SWIFT_API_KEY: expected 1 or 0".into()),
        };
    }
    Ok(config)
}

#[cfg(feature = "zmq")]
fn zmq_pull(config: AppConfig, address: &str) -> Result<AppConfig, Box<dyn Error + Send + Sync>> {
    Ok(config.with_zmq_pull(address))
}

#[cfg(not(feature = "zmq"))]
fn zmq_pull(_: AppConfig, _: &str) -> Result<AppConfig, Box<dyn Error + Send + Sync>> {
    Err("ZATO_ZMQ_PULL_ADDRESS needs the `zmq` feature: \
         cargo run --example invoice_dispatcher --features zmq"
        .into())
}

/// With `ZATO_CLUSTER_DB`, the node joins the cluster whose configuration that PostgreSQL holds.
#[cfg(feature = "cluster")]
fn cluster_settings(
    addr: &str,
) -> Result<Option<app::ClusterSettings>, Box<dyn Error + Send + Sync>> {
    let Some(db) = env("ZATO_CLUSTER_DB") else {
        return Ok(None);
    };
    let Some(secret_key) = env("ZATO_SECRET_KEY") else {
        return Err(format!(
            "ZATO_CLUSTER_DB is set but ZATO_SECRET_KEY is not: a node of a cluster needs the passphrase (at least {} characters) its secrets are encrypted under",
            zato::cluster::MIN_PASSPHRASE
        )
        .into());
    };
    let node = env("ZATO_NODE_NAME").unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "node".to_owned());
        let port = addr.rsplit(':').next().unwrap_or("0");
        format!("{host}:{port}")
    });
    Ok(Some(app::ClusterSettings {
        db: db.into(),
        secret_key: secret_key.into(),
        node,
        schema: env("ZATO_CLUSTER_SCHEMA").unwrap_or_else(|| "zato".to_owned()),
    }))
}

#[cfg(not(feature = "cluster"))]
fn cluster_settings(
    _addr: &str,
) -> Result<Option<app::ClusterSettings>, Box<dyn Error + Send + Sync>> {
    if env("ZATO_CLUSTER_DB").is_some() {
        return Err(
            "ZATO_CLUSTER_DB is set, but this build has no cluster: build with --features cluster"
                .into(),
        );
    }
    Ok(None)
}

async fn run() -> Result<(), Box<dyn Error + Send + Sync>> {
    #[allow(unused_mut, reason = "only the amqp feature changes it")]
    let mut config = load_config()?;
    #[cfg(feature = "amqp")]
    if let Some(url) = env("ZATO_AMQP_URL") {
        config = config.with_amqp(&url, app::AMQP_QUEUE);
    }
    #[cfg(not(feature = "amqp"))]
    if env("ZATO_AMQP_URL").is_some() {
        return Err(
            "ZATO_AMQP_URL is set, but this build has no AMQP: build with --features amqp".into(),
        );
    }
    let addr = env("ZATO_HTTP_ADDR").unwrap_or_else(|| "127.0.0.1:11223".to_owned());
    let local_dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/invoice_dispatcher_swift");
    let admin = match env(ADMIN_TOKEN_ENV) {
        Some(token) => Some(AdminSettings {
            addr: env(ADMIN_ADDR_ENV).unwrap_or_else(|| DEFAULT_ADMIN_ADDR.to_owned()),
            token: token.into(),
        }),
        None => {
            tracing::info!(
                "admin API not started: set {ADMIN_TOKEN_ENV} to start it (it never runs open)"
            );
            None
        }
    };
    let cluster = cluster_settings(&addr)?;
    let running = app::start_node(config, &addr, Some(local_dir), admin, cluster).await?;
    let port = running.http.local_addr().port();
    tracing::info!(
        "listening on http://{}; try:\n  curl \"localhost:{port}/invoice.dispatcher?target=CRM&target=Billing\" -d '{{\"id\":\"123\"}}'",
        running.http.local_addr()
    );
    tokio::signal::ctrl_c().await?;
    tracing::info!("shutting down: finishing requests in flight");
    running.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The whole chain: "could not listen on 127.0.0.1:11223: Address already in use".
            let mut shown = e.to_string();
            let mut cause = e.source();
            while let Some(c) = cause {
                shown.push_str(": ");
                shown.push_str(&c.to_string());
                cause = c.source();
            }
            tracing::error!("{shown}");
            ExitCode::FAILURE
        }
    }
}

//! The seed article's InvoiceDispatcher, end to end: `cargo run --example invoice_dispatcher`,
//! then, in another terminal,
//!
//! ```sh
//! curl "localhost:11223/invoice.dispatcher?target=CRM&target=Billing" -d '{"id":"123"}'
//! ```
//!
//! Configuration comes from `config.json` beside this file (`ZATO_CONFIG` names another), the
//! listening address from `ZATO_HTTP_ADDR` (default `127.0.0.1:11223`), and Swift credentials
//! from the file or from `ZATO_SWIFT_AUTH_URL`, `ZATO_SWIFT_USER`, `ZATO_SWIFT_KEY`,
//! `ZATO_SWIFT_AUTH_VERSION` and `ZATO_SWIFT_API_KEY` (`1` sends the key as a Rackspace API key,
//! Keystone v2.0 only). Without credentials the example starts a local Swift-compatible endpoint
//! and keeps the objects under `target/invoice_dispatcher_swift/`.

mod app;

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

use app::AppConfig;

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
    let mut config: AppConfig =
        serde_json::from_str(&text).map_err(|e| format!("invalid config {path}: {e}"))?;
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
    if let Some(flag) = env("ZATO_SWIFT_API_KEY") {
        config.swift.api_key_auth = match flag.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" => true,
            "0" | "false" | "no" => false,
            _ => return Err("ZATO_SWIFT_API_KEY: expected 1 or 0".into()),
        };
    }
    Ok(config)
}

async fn run() -> Result<(), Box<dyn Error + Send + Sync>> {
    let config = load_config()?;
    let addr = env("ZATO_HTTP_ADDR").unwrap_or_else(|| "127.0.0.1:11223".to_owned());
    let local_dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/invoice_dispatcher_swift");
    let running = app::start(config, &addr, Some(local_dir)).await?;
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

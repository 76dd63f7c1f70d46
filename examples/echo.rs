//! The load benchmark's service: one JSON channel, `/echo`, answering how many targets it was
//! given. `cargo run --release --example echo`, then, in another terminal,
//!
//! ```sh
//! curl "localhost:11226/echo?target=CRM&target=Billing" -d '{"id":"123"}'
//! # {"id":"123","targets":2}
//! ```
//!
//! The address comes from `ZATO_HTTP_ADDR` (default `127.0.0.1:11226`). The runtime is tokio's
//! multi-thread one with as many workers as `TOKIO_WORKER_THREADS` says (by default one per
//! core). `benches/http_load.rs` and `tests/echo.rs` include this file to run the same service.

use std::error::Error;
use std::process::ExitCode;

use zato::prelude::*;

/// The address the example listens on unless `ZATO_HTTP_ADDR` names another.
pub(crate) const DEFAULT_ADDR: &str = "127.0.0.1:11226";

/// The input: the targets from the query string, the id from the JSON body.
#[derive(SimpleIo, Debug)]
pub(crate) struct Echo {
    pub(crate) target: Vec<String>,
    pub(crate) id: String,
}

/// The output: the id back, and how many targets there were.
#[derive(SimpleIo, Debug)]
pub(crate) struct Echoed {
    pub(crate) id: String,
    pub(crate) targets: usize,
}

/// Answers `{"id":"…","targets":N}`. A request without `target` never gets here: SimpleIO
/// answers it with a 400 naming the missing element.
#[service(name = "echo")]
pub(crate) async fn echo(req: Request<Echo>, _ctx: &Context) -> Result<Echoed, ServiceError> {
    Ok(Echoed {
        targets: req.input.target.len(),
        id: req.input.id,
    })
}

/// The platform with the service deployed, served on `addr` through one JSON channel, `/echo`,
/// for POST.
pub(crate) async fn start(addr: &str) -> Result<HttpServer, Box<dyn Error + Send + Sync>> {
    let platform = Platform::new();
    platform.services().deploy(echo)?;
    let channel = HttpChannelConfig::new("echo", "/echo", "echo").with_methods(["POST"]);
    let config = HttpConfig::new(vec![channel], Vec::new());
    Ok(HttpServer::serve(addr, platform, config).await?)
}

/// The listening address: `ZATO_HTTP_ADDR`, or [`DEFAULT_ADDR`].
pub(crate) fn addr_from_env() -> String {
    std::env::var("ZATO_HTTP_ADDR")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ADDR.to_owned())
}

async fn run() -> Result<(), Box<dyn Error + Send + Sync>> {
    let server = start(&addr_from_env()).await?;
    let port = server.local_addr().port();
    tracing::info!(
        "listening on http://{}; try:\n  curl \"localhost:{port}/echo?target=CRM&target=Billing\" -d '{{\"id\":\"123\"}}'",
        server.local_addr()
    );
    tokio::signal::ctrl_c().await?;
    tracing::info!("shutting down: finishing requests in flight");
    server.platform().shutdown().await;
    Ok(())
}

// `#[tokio::main]` is the multi-thread runtime; with no `worker_threads` given, tokio reads
// `TOKIO_WORKER_THREADS`.
#[tokio::main]
pub(crate) async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
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

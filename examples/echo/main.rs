//! The load benchmark's service (see the `echo` library beside this file): `cargo run --release
//! --example echo`, then `curl "localhost:11226/echo?target=CRM&target=Billing" -d '{"id":"1"}'`.

use std::error::Error;
use std::process::ExitCode;

async fn run() -> Result<(), Box<dyn Error + Send + Sync>> {
    let server = echo::start(&echo::addr_from_env()).await?;
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
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        // Colour only on a terminal: a log written to a file holds no escape codes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
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

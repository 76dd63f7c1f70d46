//! The seed article's InvoiceDispatcher: `cargo run --example invoice_dispatcher`, then
//! `curl "localhost:11223/invoice.dispatcher?target=CRM&target=Billing" -d '{"id":"123"}'`.
//! It reads the variables `zato::Node` documents, and those the library beside it lists.

use ::invoice_dispatcher as app;
use std::process::ExitCode;

async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut node = zato::Node::from_env()?.default_config(app::CONFIG_FILE);
    let dir = Some(node.data_dir().join("swift"));
    let local = app::prepare_from_env(node.document_mut()?, dir).await?;
    let node = node
        .deploy(app::invoice_dispatcher)?
        .deploy(app::invoice_audit)?
        .start()
        .await?;
    let (addr, port) = (node.http().local_addr(), node.http().local_addr().port());
    let try_it = r#"/invoice.dispatcher?target=CRM&target=Billing" -d '{"id":"123"}'"#;
    tracing::info!("listening on http://{addr}; try:\n  curl \"localhost:{port}{try_it}");
    node.run_until_ctrl_c().await;
    if let Some(local) = local {
        local.shutdown().await;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    // With the `otel` feature: `ZATO_LOG_FORMAT=json` writes JSON lines with trace ids.
    #[cfg(feature = "otel")]
    zato::otel::logging::init(zato::otel::logging::LogFormat::from_env());
    #[cfg(not(feature = "otel"))]
    init_logging();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The whole chain: "the HTTP channels cannot listen: could not listen on …: …".
            tracing::error!("{}", zato::error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

#[cfg(not(feature = "otel"))]
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env();
    let filter = filter.unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout()); // no colour in a file
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .init();
}

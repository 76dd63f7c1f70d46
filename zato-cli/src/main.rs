//! `zato`: manage a running zato node through its admin API.
//!
//! Outgoing connections, channels and security definitions are listed, read, created, edited
//! (with `--set FIELD=VALUE`, sent as a JSON merge patch) and deleted while the node serves;
//! services are listed and invoked; the whole configuration is exported and imported "en masse",
//! with a dry run that prints the diff.
//!
//! ```text
//! $ zato conn edit swift "Invoice Dispatcher" --set key=NEW --set pool_size=10
//! updated outgoing swift "Invoice Dispatcher" (version 12)
//! ```
//!
//! Every error is one line on standard error naming the object and the problem. Exit codes:
//! 0 done, 1 refused by the admin API (or a local file problem), 2 a usage error, 3 the admin API
//! could not be reached.

mod check;
mod cli;
mod client;
mod commands;
mod error;
mod file;
mod output;
mod patch;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("zato: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error::CliError::ClosedOutput) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zato: {}", output::shown(&e.to_string()));
            e.exit_code()
        }
    }
}

//! A kind of one's own: `outgoing.file_sink`, a file each call appends to, defined here with the
//! public API only and given to a node as a plug-in. The node then checks its objects, applies
//! them live, and the admin API, the web admin, the CLI (`zato kinds`, `zato conn … file_sink`)
//! and enmasse know it, with no change to zato.
//!
//! ```sh
//! ZATO_ADMIN_TOKEN=dev-token-123 cargo run --example custom_kind
//! # READY http=127.0.0.1:11223 admin=127.0.0.1:11224
//! curl localhost:11223/file_sink/append -d '{"sink": "audit", "event": "paid"}'
//! # {"bytes":35}: file_sink.audit.log ends with the request as one line
//! ZATO_ADMIN_TOKEN=dev-token-123 zato kinds
//! ZATO_ADMIN_TOKEN=dev-token-123 zato conn create file_sink --set name=errors --set path=/tmp/errors.log
//! ZATO_ADMIN_TOKEN=dev-token-123 zato conn ping file_sink errors
//! ```
//!
//! It reads the same environment as every node (`ZATO_CONFIG`, `ZATO_HTTP_ADDR`,
//! `ZATO_ADMIN_ADDR`, `ZATO_ADMIN_TOKEN`, …); its config is `examples/custom_kind.json` unless
//! `ZATO_CONFIG` names another. Once serving it prints one line, `READY http=ADDR admin=ADDR`,
//! for whoever started it. `zato-cli/tests/custom_kind.rs` runs it (as zato-cli's example
//! `custom_kind_node`) and drives the kind through the `zato` command.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use zato::config::{ConfigError, ConfigProblem, Section};
use zato::kind::{self, Description, Kind};
use zato::prelude::*;
use zato::{Node, NodeError, OutgoingConnections, OutgoingError, OutgoingErrorKind};

/// The config the example ships with, next to this file.
pub(crate) const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/custom_kind.json");

/// One `outgoing.file_sink` object, in the document's field names.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileSinkConfig {
    /// The object's name, which services ask for.
    pub(crate) name: String,
    /// The file appended to; a relative path is relative to the node's working directory.
    pub(crate) path: String,
    /// The file's largest size: an append that would pass it is refused.
    #[serde(default = "default_max_bytes")]
    pub(crate) max_bytes: u64,
    /// Whether services may append to it.
    #[serde(default = "yes")]
    pub(crate) is_active: bool,
}

fn default_max_bytes() -> u64 {
    1024 * 1024
}

fn yes() -> bool {
    true
}

/// A sink as services reach it: `ctx.outgoing().require::<FileSink>(name)`.
#[derive(Debug)]
pub(crate) struct FileSink {
    config: FileSinkConfig,
    /// One append at a time, so that lines never interleave.
    writing: Mutex<()>,
}

impl FileSink {
    /// Appends `bytes` and a line break; the new size of the file.
    ///
    /// # Errors
    ///
    /// A 503 naming the sink when it is inactive, full or cannot be written.
    pub(crate) fn append(&self, bytes: &[u8]) -> Result<u64, ServiceError> {
        let fail = |message: String| {
            ServiceError::from(OutgoingError::new(
                self.config.name.as_str(),
                OutgoingErrorKind::Unavailable,
                message,
            ))
        };
        if !self.config.is_active {
            return Err(fail("the file sink is not active".to_owned()));
        }
        let _one = self
            .writing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let size = std::fs::metadata(&self.config.path).map_or(0, |m| m.len());
        let after = size + bytes.len() as u64 + 1;
        if after > self.config.max_bytes {
            return Err(fail(format!(
                "the file would pass its max_bytes ({})",
                self.config.max_bytes
            )));
        }
        // A small blocking write: an example's simplicity over a thread of its own.
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.config.path)
            .map_err(|e| fail(format!("cannot open {}: {e}", self.config.path)))?;
        file.write_all(bytes)
            .and_then(|()| file.write_all(b"\n"))
            .map_err(|e| fail(format!("cannot write {}: {e}", self.config.path)))?;
        Ok(after)
    }
}

/// `outgoing.file_sink`: the kind, applying its objects to a platform's outgoing connections.
#[derive(Debug)]
pub(crate) struct FileSinks {
    outgoing: OutgoingConnections,
}

/// The directory a sink's file is in: `.` for a bare file name.
fn directory(path: &str) -> PathBuf {
    match Path::new(path).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

#[async_trait::async_trait]
impl Kind for FileSinks {
    type Config = FileSinkConfig;
    const SECTION: Section = Section::Outgoing;
    const NAME: &'static str = "file_sink";

    fn describe() -> Description<FileSinkConfig> {
        Description::new(
            "a file that each call appends a line to, up to max_bytes",
            FileSinkConfig {
                name: "audit".into(),
                path: "/var/log/zato/audit.log".into(),
                max_bytes: default_max_bytes(),
                is_active: true,
            },
        )
        .pings()
    }

    fn check(config: &FileSinkConfig) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if config.path.trim().is_empty() {
            problems.push(ConfigProblem::new("path", "must not be empty"));
        } else if config.path.ends_with('/') {
            problems.push(ConfigProblem::new(
                "path",
                "must name a file, not a directory",
            ));
        }
        if config.max_bytes < 1 {
            problems.push(ConfigProblem::new("max_bytes", "must be at least 1"));
        }
        problems
    }

    async fn apply(&self, config: Arc<FileSinkConfig>) -> Result<(), ConfigError> {
        let sink = FileSink {
            config: FileSinkConfig::clone(&config),
            writing: Mutex::new(()),
        };
        // Swapped in whole: a call under way finishes on the sink it took.
        self.outgoing.insert(config.name.clone(), Arc::new(sink));
        Ok(())
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        match self.outgoing.remove::<FileSink>(name) {
            Some(_) => Ok(()),
            None => Err(ConfigError::one("", "no such file sink")),
        }
    }

    /// Writes and removes a file in the sink's directory.
    async fn ping(&self, name: &str) -> Result<String, String> {
        let sink = self
            .outgoing
            .get::<FileSink>(name)
            .ok_or_else(|| format!("no file sink named `{name}` on this node"))?;
        let dir = directory(&sink.config.path);
        let probe = dir.join(format!(".zato-ping-{}", std::process::id()));
        std::fs::write(&probe, b"ping")
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|e| format!("{} is not writable: {e}", dir.display()))?;
        Ok(format!("{} is writable", dir.display()))
    }
}

/// The input of `file_sink.append`: the sink to append to. The whole request is appended.
#[derive(SimpleIo, Debug)]
pub(crate) struct Append {
    pub(crate) sink: String,
}

/// The file's size after the append.
#[derive(SimpleIo, Debug)]
pub(crate) struct Appended {
    pub(crate) bytes: u64,
}

/// Appends its raw request, as one line, to the file sink its input names.
#[service(name = "file_sink.append")]
pub(crate) async fn append(req: Request<Append>, ctx: &Context) -> Result<Appended, ServiceError> {
    let sink = ctx.outgoing().require::<FileSink>(&req.input.sink)?;
    let bytes = sink.append(&req.raw_request)?;
    Ok(Appended { bytes })
}

/// `node` with the kind and its service: what `main` runs, and what the tests start.
///
/// # Errors
///
/// A [`NodeError`] when the service cannot be deployed.
pub(crate) fn with_file_sinks(node: Node) -> Result<Node, NodeError> {
    node.plugin(kind::plugin(|platform: &Platform| {
        Ok(FileSinks {
            outgoing: platform.outgoing().clone(),
        })
    }))
    .deploy(append)
}

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
    let started = async {
        let node = with_file_sinks(Node::from_env()?.default_config(CONFIG))?;
        node.start().await
    };
    match started.await {
        Ok(running) => {
            let admin = running
                .admin()
                .map_or_else(|| "none".to_owned(), |a| a.local_addr().to_string());
            println!("READY http={} admin={admin}", running.http().local_addr());
            running.run_until_ctrl_c().await;
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{}", zato::error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

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
//! core). `benches/http_load.rs` and `tests/echo.rs` run the same service through this library.

use std::error::Error;

use zato::prelude::*;

/// The address the example listens on unless `ZATO_HTTP_ADDR` names another.
pub const DEFAULT_ADDR: &str = "127.0.0.1:11226";

/// The input: the targets from the query string, the id from the JSON body.
#[derive(SimpleIo, Debug)]
pub struct Echo {
    /// The applications named in the query string.
    pub target: Vec<String>,
    /// The invoice's id, from the JSON body.
    pub id: String,
}

/// The output: the id back, and how many targets there were.
#[derive(SimpleIo, Debug)]
pub struct Echoed {
    /// The id given.
    pub id: String,
    /// How many targets were named.
    pub targets: usize,
}

/// Answers `{"id":"…","targets":N}`. A request without `target` never gets here: SimpleIO
/// answers it with a 400 naming the missing element.
#[service(name = "echo")]
pub async fn echo(req: Request<Echo>, _ctx: &Context) -> Result<Echoed, ServiceError> {
    Ok(Echoed {
        targets: req.input.target.len(),
        id: req.input.id,
    })
}

/// The platform with the service deployed, served on `addr` through one JSON channel, `/echo`,
/// for POST.
pub async fn start(addr: &str) -> Result<HttpServer, Box<dyn Error + Send + Sync>> {
    let platform = Platform::new();
    platform.services().deploy(echo)?;
    let channel = HttpChannelConfig::new("echo", "/echo", "echo").with_methods(["POST"]);
    let config = HttpConfig::new(vec![channel], Vec::new());
    Ok(HttpServer::serve(addr, platform, config).await?)
}

/// The listening address: `ZATO_HTTP_ADDR`, or [`DEFAULT_ADDR`].
pub fn addr_from_env() -> String {
    std::env::var("ZATO_HTTP_ADDR")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ADDR.to_owned())
}

//! Load on the HTTP channel against the physical limit on this machine: the echo service
//! (`examples/echo.rs`) through the zato HTTP channel, and a bare hyper 1 server doing the same
//! work by hand (the repeated `target` keys with form_urlencoded, the JSON body with serde_json,
//! a small JSON answer), measured alternately in the same run.
//!
//! ```sh
//! cargo bench --bench http_load
//! ```
//!
//! The bench starts each server as a child process of itself (`ZATO_BENCH_ROLE=bare` or `zato`),
//! with one tokio worker of the multi-thread scheduler, pinned to CPU 0 with `taskset`; the load
//! generator runs on CPU 1. The load is `wrk` when it is installed (one thread, a fixed number of
//! keep-alive connections, a fixed time), else a hyper client loop with the same connections.
//! Each line gives requests per second, the median and 99th percentile latency, and the server's
//! CPU time (user + system, from `/proc/PID/stat`) per request; the last line is the ratio of
//! the two throughputs.
//!
//! With the `otel` feature (`cargo bench --bench http_load --features otel`) the zato server
//! also runs twice more with tracing on: `zato-otel-0` at sampler ratio 0 (every span started,
//! none recorded) and `zato-otel-1` at ratio 1, exporting every span over OTLP/HTTP to a
//! receiver in the bench's process (on the client's CPU); their lines end with the median of the
//! per-round req/s ratios against `zato` (tracing off).
//!
//! Settings, from the environment: `ZATO_BENCH_ROUNDS` (3), `ZATO_BENCH_SECS` per server and
//! round (8), `ZATO_BENCH_CONNECTIONS` (50), `ZATO_BENCH_CLIENT=rust` to use the Rust client
//! even where wrk is installed.
//!
//! For instruction counts, run one server role under `valgrind --tool=callgrind` and send it a
//! fixed number of requests with `ZATO_BENCH_ROLE=count ZATO_BENCH_ADDR=127.0.0.1:PORT
//! ZATO_BENCH_REQUESTS=N`.

use std::convert::Infallible;
use std::error::Error;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

type BoxError = Box<dyn Error + Send + Sync>;

#[cfg(feature = "otel")]
#[path = "../tests/support/otlp.rs"]
#[allow(dead_code, reason = "the bench uses the receiver's count only")]
mod otlp;

const QUERY: &str = "/echo?target=CRM&target=Billing";
const BODY: &str = r#"{"id":"123"}"#;
const ANSWER: &str = r#"{"id":"123","targets":2}"#;
/// The bare server's body limit: the channel's default.
const MAX_BODY: usize = 10 * 1024 * 1024;

fn main() -> ExitCode {
    let role = std::env::var("ZATO_BENCH_ROLE").unwrap_or_default();
    let result = match role.as_str() {
        "bare" | "zato" | "zato-otel-0" | "zato-otel-1" => serve(&role),
        "count" => count_client(),
        "" => orchestrate(),
        other => Err(format!(
            "unknown ZATO_BENCH_ROLE `{other}`: bare, zato, zato-otel-0, zato-otel-1 or count"
        )
        .into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_load: {e}");
            ExitCode::FAILURE
        }
    }
}

fn env_number(name: &str, default: u64) -> Result<u64, BoxError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map_err(|e| format!("{name}=`{v}`: {e}").into()),
        _ => Ok(default),
    }
}

// ---------------------------------------------------------------------------------------------
// The servers (child processes)

/// Serves as `role` on 127.0.0.1:0, prints `listening ADDR`, and stops when stdin closes (the
/// bench ended, or died).
fn serve(role: &str) -> Result<(), BoxError> {
    // The multi-thread scheduler; its worker count comes from TOKIO_WORKER_THREADS.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let addr = rt.block_on(async {
        if role.starts_with("zato") {
            // Held in the runtime by the platform until the process ends.
            let server = echo::start("127.0.0.1:0").await?;
            if role != "zato" {
                tracing_on(&server, role).await?;
            }
            Ok::<_, BoxError>(server.local_addr())
        } else {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            tokio::spawn(bare_accept(listener));
            Ok(addr)
        }
    })?;
    println!("listening {addr}");
    std::io::stdout().flush()?;
    let mut sink = [0u8; 64];
    while std::io::stdin().read(&mut sink)? > 0 {}
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// Turns tracing on in a `zato-otel-*` server: ratio 0 (spans made, none kept), or ratio 1
/// exporting every span over OTLP/HTTP to the bench's receiver (`ZATO_BENCH_OTLP`).
#[cfg(feature = "otel")]
async fn tracing_on(server: &zato::channels::HttpServer, role: &str) -> Result<(), BoxError> {
    use zato::core::kind::Kind;
    use zato::otel::{OtlpConfig, OtlpKind, OtlpProtocol, SamplerKind};
    let endpoint = std::env::var("ZATO_BENCH_OTLP").map_err(|_| "ZATO_BENCH_OTLP is not set")?;
    let mut config = OtlpConfig::new("bench", endpoint, OtlpProtocol::HttpProtobuf);
    config.sampler = Some(SamplerKind::Traceidratio);
    config.ratio = Some(if role == "zato-otel-1" { 1.0 } else { 0.0 });
    OtlpKind::new(server.platform())
        .apply(std::sync::Arc::new(config))
        .await?;
    Ok(())
}

#[cfg(not(feature = "otel"))]
async fn tracing_on(_: &zato::channels::HttpServer, role: &str) -> Result<(), BoxError> {
    Err(format!("the {role} server needs the `otel` feature").into())
}

async fn bare_accept(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(bare_handle))
                .await;
        });
    }
}

#[derive(serde::Deserialize)]
struct BareInput {
    id: String,
}

#[derive(serde::Serialize)]
struct BareOutput<'a> {
    id: &'a str,
    targets: usize,
}

fn bare_reply(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp
}

/// The echo service by hand: what the channel and SimpleIO do for `/echo`, without them.
async fn bare_handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let bad = |msg: &str| {
        bare_reply(
            StatusCode::BAD_REQUEST,
            format!(r#"{{"error":"{msg}"}}"#).into(),
        )
    };
    if req.uri().path() != "/echo" || req.method() != Method::POST {
        return Ok(bare_reply(StatusCode::NOT_FOUND, b"{}".to_vec()));
    }
    let targets: Vec<String> = req
        .uri()
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .filter(|(k, _)| k == "target")
                .map(|(_, v)| v.into_owned())
                .collect()
        })
        .unwrap_or_default();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return Ok(bad("could not read the body")),
    };
    let input: BareInput = match serde_json::from_slice(&body) {
        Ok(input) => input,
        Err(_) => return Ok(bad("invalid JSON")),
    };
    if targets.is_empty() {
        return Ok(bad("target is required"));
    }
    let out = BareOutput {
        id: &input.id,
        targets: targets.len(),
    };
    match serde_json::to_vec(&out) {
        Ok(body) => Ok(bare_reply(StatusCode::OK, body)),
        Err(_) => Ok(bare_reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            b"{}".to_vec(),
        )),
    }
}

/// A server child: its process, and the pipe whose closing stops it.
/// The OTLP receiver's URL, for the `zato-otel-1` server.
static OTLP_URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();

struct ServerChild {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    addr: SocketAddr,
}

impl ServerChild {
    fn start(exe: &Path, role: &'static str, pinned: bool) -> Result<ServerChild, BoxError> {
        let mut cmd = if pinned {
            let mut c = Command::new("taskset");
            c.args(["-c", "0"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        if pinned {
            cmd.env("TOKIO_WORKER_THREADS", "1");
        }
        if let Some(url) = OTLP_URL.get() {
            cmd.env("ZATO_BENCH_OTLP", url);
        }
        let mut child = cmd
            .env("ZATO_BENCH_ROLE", role)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the {role} server: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("listening ")
            .ok_or_else(|| format!("the {role} server did not start: `{}`", line.trim()))?
            .parse()?;
        Ok(ServerChild {
            name: role,
            child,
            stdin,
            addr,
        })
    }

    fn url(&self) -> String {
        format!("http://{}{QUERY}", self.addr)
    }

    /// User plus system CPU time of the whole process, every thread, in microseconds.
    fn cpu_us(&self) -> Result<u64, BoxError> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // The command name may hold spaces; the fields after it are space-separated, from
        // field 3 (state) on: utime is field 14, stime field 15.
        let rest = stat.rsplit_once(')').ok_or("unreadable stat")?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = fields.get(11).ok_or("no utime")?.parse::<u64>()?
            + fields.get(12).ok_or("no stime")?.parse::<u64>()?;
        Ok(ticks * 1_000_000 / clock_ticks())
    }

    /// `VmRSS` and `VmHWM` of the process, in KiB.
    fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        // Closing stdin asks it to stop; the kill is for one that does not.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

// ---------------------------------------------------------------------------------------------
// The load

/// One measured run against one server.
#[derive(Debug, Clone, Copy)]
struct Run {
    requests: u64,
    errors: u64,
    secs: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_us: u64,
}

impl Run {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.secs
    }

    fn cpu_per_request(&self) -> f64 {
        self.cpu_us as f64 / self.requests.max(1) as f64
    }
}

enum Load {
    Wrk { script: PathBuf },
    Rust { rt: tokio::runtime::Runtime },
}

impl Load {
    fn new() -> Result<Load, BoxError> {
        let forced_rust = std::env::var("ZATO_BENCH_CLIENT").is_ok_and(|v| v == "rust");
        let has_wrk = Command::new("wrk")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if has_wrk && !forced_rust {
            let script =
                std::env::temp_dir().join(format!("zato-http-load-{}.lua", std::process::id()));
            std::fs::write(
                &script,
                format!(
                    "wrk.method = \"POST\"\nwrk.body = '{BODY}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
                ),
            )?;
            Ok(Load::Wrk { script })
        } else {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            Ok(Load::Rust { rt })
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Load::Wrk { .. } => "wrk",
            Load::Rust { .. } => "hyper client loop",
        }
    }

    fn run(&self, server: &ServerChild, connections: u64, secs: u64) -> Result<Run, BoxError> {
        let cpu_before = server.cpu_us()?;
        let mut run = match self {
            Load::Wrk { script } => wrk(script, &server.url(), connections, secs)?,
            Load::Rust { rt } => rt.block_on(rust_load(server.addr, connections, secs))?,
        };
        run.cpu_us = server.cpu_us()?.saturating_sub(cpu_before);
        Ok(run)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        if let Load::Wrk { script } = self {
            let _ = std::fs::remove_file(script);
        }
    }
}

fn wrk(script: &Path, url: &str, connections: u64, secs: u64) -> Result<Run, BoxError> {
    let out = Command::new("wrk")
        .args(["-t1", "--latency"])
        .arg(format!("-c{connections}"))
        .arg(format!("-d{secs}s"))
        .arg("-s")
        .arg(script)
        .arg(url)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr)).into());
    }
    parse_wrk(&text).ok_or_else(|| format!("unreadable wrk output:\n{text}").into())
}

/// Reads `N requests in 8.00s`, the `50%` and `99%` latencies, and the error counts.
fn parse_wrk(text: &str) -> Option<Run> {
    let mut requests = None;
    let mut secs = None;
    let mut p50 = None;
    let mut p99 = None;
    let mut errors = 0;
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [n, "requests", "in", d, ..] => {
                requests = n.parse().ok();
                secs = d.trim_end_matches(',').trim_end_matches('s').parse().ok();
            }
            ["50%", v] => p50 = duration_us(v),
            ["99%", v] => p99 = duration_us(v),
            ["Non-2xx", "or", "3xx", "responses:", n] => errors += n.parse::<u64>().ok()?,
            ["Socket", "errors:", ..] => {
                errors += words
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            _ => {}
        }
    }
    Some(Run {
        requests: requests?,
        errors,
        secs: secs?,
        p50_us: p50?,
        p99_us: p99?,
        cpu_us: 0,
    })
}

/// `359.00us`, `1.23ms`, `2.00s` in microseconds.
fn duration_us(v: &str) -> Option<f64> {
    let (n, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e6)
    } else {
        (v, 1.0)
    };
    n.parse::<f64>().ok().map(|n| n * scale)
}

/// One keep-alive connection sending the echo request until `deadline`, or `limit` requests;
/// returns the latencies in microseconds and the count of wrong answers.
async fn connection_loop(
    addr: SocketAddr,
    deadline: Instant,
    limit: u64,
) -> Result<(Vec<u32>, u64), BoxError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut latencies = Vec::new();
    let mut errors = 0;
    let host = addr.to_string();
    while Instant::now() < deadline && (latencies.len() as u64) < limit {
        let req = Request::post(QUERY)
            .header(header::HOST, &host)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from_static(BODY.as_bytes())))?;
        let start = Instant::now();
        let resp = sender.send_request(req).await?;
        let ok = resp.status() == StatusCode::OK;
        let body = resp.into_body().collect().await?.to_bytes();
        let micros = start.elapsed().as_micros();
        latencies.push(u32::try_from(micros).unwrap_or(u32::MAX));
        if !ok || body != ANSWER.as_bytes() {
            errors += 1;
        }
    }
    Ok((latencies, errors))
}

async fn drive(
    addr: SocketAddr,
    connections: u64,
    duration: Duration,
    total: u64,
) -> Result<Run, BoxError> {
    let start = Instant::now();
    let deadline = start + duration;
    let per_connection = total.div_ceil(connections.max(1));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        tasks.spawn(connection_loop(addr, deadline, per_connection));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    while let Some(done) = tasks.join_next().await {
        let (latencies, errs) = done??;
        all.extend(latencies);
        errors += errs;
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        let i = ((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1));
        all.get(i).map_or(0.0, |&v| f64::from(v))
    };
    Ok(Run {
        requests: all.len() as u64,
        errors,
        secs,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        cpu_us: 0,
    })
}

async fn rust_load(addr: SocketAddr, connections: u64, secs: u64) -> Result<Run, BoxError> {
    drive(addr, connections, Duration::from_secs(secs), u64::MAX).await
}

/// `ZATO_BENCH_ROLE=count`: exactly `ZATO_BENCH_REQUESTS` requests to `ZATO_BENCH_ADDR`, for
/// instruction counts under callgrind.
fn count_client() -> Result<(), BoxError> {
    let addr: SocketAddr = std::env::var("ZATO_BENCH_ADDR")
        .map_err(|_| "ZATO_BENCH_ADDR is required")?
        .parse()?;
    let total = env_number("ZATO_BENCH_REQUESTS", 10_000)?;
    let connections = env_number("ZATO_BENCH_CONNECTIONS", 10)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let run = rt.block_on(drive(addr, connections, Duration::from_secs(3600), total))?;
    println!(
        "{} requests, {} wrong answers, {:.1} s",
        run.requests, run.errors, run.secs
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The bench

/// Checks one answer of each server by hand before measuring anything.
fn check_answers(servers: &[&ServerChild]) -> Result<(), BoxError> {
    for server in servers {
        let mut stream = std::net::TcpStream::connect(server.addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "POST {QUERY} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
            server.addr,
            BODY.len()
        )?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        if !answer.starts_with("HTTP/1.1 200") || !answer.ends_with(ANSWER) {
            return Err(format!("the {} server answered wrongly:\n{answer}", server.name).into());
        }
    }
    Ok(())
}

/// Pins this process (and so wrk, which inherits it) to CPU 1 with `taskset`. Returns whether
/// it could, and so whether the servers can be pinned to CPU 0.
fn pin_self() -> bool {
    Command::new("taskset")
        .args(["-a", "-p", "-c", "1"])
        .arg(std::process::id().to_string())
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

struct Summary {
    rps: f64,
    p50: f64,
    p99: f64,
    cpu_per_request: f64,
    errors: u64,
}

fn summarise(runs: &[Run]) -> Summary {
    let requests: u64 = runs.iter().map(|r| r.requests).sum();
    let cpu: u64 = runs.iter().map(|r| r.cpu_us).sum();
    Summary {
        rps: median(runs.iter().map(Run::rps).collect()),
        p50: median(runs.iter().map(|r| r.p50_us).collect()),
        p99: median(runs.iter().map(|r| r.p99_us).collect()),
        cpu_per_request: cpu as f64 / requests.max(1) as f64,
        errors: runs.iter().map(|r| r.errors).sum(),
    }
}

fn orchestrate() -> Result<(), BoxError> {
    let rounds = env_number("ZATO_BENCH_ROUNDS", 3)?.max(1);
    let secs = env_number("ZATO_BENCH_SECS", 8)?.max(1);
    let connections = env_number("ZATO_BENCH_CONNECTIONS", 50)?.max(1);
    let exe = std::env::current_exe()?;

    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let pinned = cpus >= 2 && pin_self();
    // With the `otel` feature, the zato server also runs with tracing on at ratio 0 and at
    // ratio 1, exporting to a receiver in this process (on the client's CPU).
    #[cfg(feature = "otel")]
    let (_receiver_rt, receiver) = {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let receiver = rt.block_on(otlp::Receiver::start());
        let _ = OTLP_URL.set(receiver.url.clone());
        (rt, receiver)
    };
    let mut servers = vec![
        ServerChild::start(&exe, "bare", pinned)?,
        ServerChild::start(&exe, "zato", pinned)?,
    ];
    if cfg!(feature = "otel") {
        servers.push(ServerChild::start(&exe, "zato-otel-0", pinned)?);
        servers.push(ServerChild::start(&exe, "zato-otel-1", pinned)?);
    }
    check_answers(&servers.iter().collect::<Vec<_>>())?;
    let load = Load::new()?;
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    println!(
        "http_load: {} CPUs ({cpu_model}); servers {}; load: {}, {connections} connections, {rounds} rounds x {secs} s per server",
        cpus,
        if pinned {
            "on CPU 0 with 1 tokio worker, client on CPU 1"
        } else {
            "and client unpinned"
        },
        load.name(),
    );
    let idle: Vec<u64> = servers.iter().map(|s| s.memory_kib().0).collect();

    // Warm them up: connections, allocator, page cache.
    for server in &servers {
        load.run(server, connections, 1)?;
    }

    let mut runs: Vec<Vec<Run>> = servers.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        // Rotate which goes first, so a drift in the machine's load hits all alike.
        let n = servers.len();
        let order: Vec<usize> = (0..n).map(|i| (i + round as usize) % n).collect();
        for i in order {
            let server = &servers[i];
            let run = load.run(server, connections, secs)?;
            println!(
                "round {}  {:<11}  {:>9.0} req/s  p50 {:>7.0} us  p99 {:>7.0} us  cpu {:>6.2} us/req{}",
                round + 1,
                server.name,
                run.rps(),
                run.p50_us,
                run.p99_us,
                run.cpu_per_request(),
                if run.errors > 0 {
                    format!("  ({} errors)", run.errors)
                } else {
                    String::new()
                }
            );
            runs[i].push(run);
        }
    }

    let summaries: Vec<Summary> = runs.iter().map(|r| summarise(r)).collect();
    for (i, server) in servers.iter().enumerate() {
        let s = &summaries[i];
        let (rss, hwm) = server.memory_kib();
        println!(
            "{:<11}  {:>9.0} req/s  p50 {:>7.0} us  p99 {:>7.0} us  cpu {:>6.2} us/req  errors {}  rss idle {} KiB, now {} KiB, peak {} KiB",
            server.name, s.rps, s.p50, s.p99, s.cpu_per_request, s.errors, idle[i], rss, hwm
        );
    }
    let (b, z) = (&summaries[0], &summaries[1]);
    println!(
        "zato/bare cpu per request ratio: {:.2}",
        z.cpu_per_request / b.cpu_per_request.max(f64::MIN_POSITIVE)
    );
    println!(
        "zato/bare req/s ratio: {:.2}",
        z.rps / b.rps.max(f64::MIN_POSITIVE)
    );
    // Tracing against tracing off, as the median of the per-round ratios (each round's runs
    // are seconds apart, so a drift in the machine's load cancels out within a round).
    for (i, server) in servers.iter().enumerate().skip(2) {
        let per_round: Vec<f64> = runs[i]
            .iter()
            .zip(&runs[1])
            .map(|(t, off)| t.rps() / off.rps().max(f64::MIN_POSITIVE))
            .collect();
        let shown: Vec<String> = per_round.iter().map(|r| format!("{r:.3}")).collect();
        println!(
            "{}/zato req/s ratio: median {:.3} of rounds [{}]",
            server.name,
            median(per_round.clone()),
            shown.join(", ")
        );
    }
    #[cfg(feature = "otel")]
    println!(
        "spans received by the OTLP receiver: {}",
        receiver.received()
    );
    if summaries.iter().any(|s| s.errors > 0) {
        return Err("some requests were answered wrongly or failed".into());
    }
    Ok(())
}

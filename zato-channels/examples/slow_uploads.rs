//! The memory figure of the body budget: 200 connections each trickling a 10 MiB body into one
//! listener, while a normal request is timed every half second.
//!
//! ```text
//! cargo run --release -p zato-channels --example slow_uploads
//! ```
//!
//! It runs the server in a child process (the same program with the argument `serve`), so that
//! the resident memory read from `/proc/PID/status` (Linux) is the server's alone, and drives
//! it from this process for `SLOW_UPLOADS_SECS` seconds (default 20). Each of the 200 clients
//! declares a 10 MiB body and sends it in 64 KiB pieces every 50 ms; one refused with a 503
//! waits for its `Retry-After` and tries again. The server's budget is `ZATO_BODY_BUDGET_MIB`
//! (default 256). It prints the server's RSS when idle and at its peak, the budget plus 50 MiB
//! it should stay under, the uploads completed and refused, and the latency of the timed
//! requests. It asserts nothing: it reports.

use std::error::Error;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zato_channels::{HttpChannelConfig, HttpConfig, HttpServer};
use zato_core::{Platform, Request, ServiceError};
use zato_macros::service;

const CLIENTS: usize = 200;
const BODY: usize = 10 * 1024 * 1024;
const PIECE: usize = 64 * 1024;
const PAUSE: Duration = Duration::from_millis(50);
const MIB: u64 = 1024 * 1024;

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Takes any body and answers 200: what the upload costs is the channel's business.
#[service(name = "demo.upload", crate = "zato_core")]
async fn upload(_req: Request<()>) -> Result<(), ServiceError> {
    Ok(())
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The child: serves `/upload` and `/ping` until its parent closes its stdin.
async fn serve() -> Res<()> {
    let platform = Platform::new();
    platform.services().deploy(upload)?;
    let config = HttpConfig::new(
        vec![
            HttpChannelConfig::new("upload", "/upload", "demo.upload")
                .with_max_body_size(11 * MIB)
                .with_timeout(Duration::from_secs(120)),
            HttpChannelConfig::new("ping", "/ping", "demo.upload"),
        ],
        vec![],
    );
    let server = HttpServer::bind("127.0.0.1:0", platform.clone()).await?;
    server.apply_config(config)?;
    server.set_body_memory_budget(env_u64("ZATO_BODY_BUDGET_MIB", 256) * MIB);
    server.start().await?;
    println!("{}", server.local_addr());
    // Until the parent goes away.
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    })
    .await?;
    platform.shutdown().await;
    Ok(())
}

/// The resident memory of process `pid`, in bytes, from `/proc/PID/status`.
fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Reads an HTTP/1.1 response head and returns its status.
async fn status(stream: &mut TcpStream) -> Res<u16> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await? == 0 {
            return Err("closed before the answer".into());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head);
    Ok(text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0))
}

/// One client: uploads 10 MiB slowly, again and again, until `deadline`.
async fn uploader(
    addr: SocketAddr,
    deadline: Instant,
    done: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
) {
    let piece = vec![b' '; PIECE];
    while Instant::now() < deadline {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            tokio::time::sleep(PAUSE).await;
            continue;
        };
        let head = format!(
            "POST /upload HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\ncontent-length: {BODY}\r\n\r\n"
        );
        if stream.write_all(head.as_bytes()).await.is_err() {
            continue;
        }
        let (mut read, mut write) = stream.into_split();
        let sending = async {
            let mut sent = 0;
            while sent < BODY && Instant::now() < deadline {
                let n = PIECE.min(BODY - sent);
                if write.write_all(&piece[..n]).await.is_err() {
                    return;
                }
                sent += n;
                tokio::time::sleep(PAUSE).await;
            }
            std::future::pending::<()>().await;
        };
        let answer = async {
            let mut buf = [0u8; 16];
            let n = read.read(&mut buf).await.unwrap_or(0);
            String::from_utf8_lossy(&buf[..n]).into_owned()
        };
        tokio::select! {
            () = sending => {}
            got = answer => {
                if got.starts_with("HTTP/1.1 503") {
                    refused.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_secs(5)).await;
                } else if got.starts_with("HTTP/1.1 200") {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
            () = tokio::time::sleep_until(deadline.into()) => {}
        }
    }
}

/// Times one normal request on a new connection.
async fn ping(addr: SocketAddr) -> Res<Duration> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(b"GET /ping HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n")
        .await?;
    let code = status(&mut stream).await?;
    if code != 200 {
        return Err(format!("ping answered {code}").into());
    }
    Ok(started.elapsed())
}

async fn drive() -> Res<()> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg("serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let mut line = String::new();
    BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
    let addr: SocketAddr = line.trim().parse()?;
    let budget = env_u64("ZATO_BODY_BUDGET_MIB", 256);
    let secs = env_u64("SLOW_UPLOADS_SECS", 20);

    // A few requests first, so the idle figure is of a server that has served.
    for _ in 0..10 {
        ping(addr).await?;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let idle = rss(pid).unwrap_or(0);

    let deadline = Instant::now() + Duration::from_secs(secs);
    let (done, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            tokio::spawn(uploader(
                addr,
                deadline,
                Arc::clone(&done),
                Arc::clone(&refused),
            ))
        })
        .collect();

    let (mut peak, mut latencies, mut failed) = (idle, Vec::new(), 0);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        peak = peak.max(rss(pid).unwrap_or(0));
        match tokio::time::timeout(Duration::from_secs(5), ping(addr)).await {
            Ok(Ok(took)) => latencies.push(took),
            _ => failed += 1,
        }
        peak = peak.max(rss(pid).unwrap_or(0));
    }
    for c in clients {
        c.abort();
    }
    drop(child.stdin.take());
    let _ = child.wait();

    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q) as usize)
            .copied()
    };
    println!(
        "clients: {CLIENTS} uploading 10 MiB each in 64 KiB pieces every {PAUSE:?}, for {secs} s"
    );
    println!(
        "body budget: {budget} MiB; RSS limit (budget + 50 MiB): {} MiB",
        budget + 50
    );
    println!(
        "server RSS idle: {:.1} MiB, peak: {:.1} MiB",
        idle as f64 / MIB as f64,
        peak as f64 / MIB as f64
    );
    println!(
        "uploads completed: {}, refused with 503: {}",
        done.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed)
    );
    println!(
        "normal requests during the run: {} answered (p50 {:.2} ms, max {:.2} ms), {failed} failed or over 5 s",
        latencies.len(),
        pick(0.5).map_or(0.0, ms),
        latencies.last().copied().map_or(0.0, ms),
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Res<()> {
    if std::env::args().nth(1).as_deref() == Some("serve") {
        serve().await
    } else {
        drive().await
    }
}

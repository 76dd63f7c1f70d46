//! Entries per second through a Redis Streams channel into a trivial service, against a bare
//! `redis` consumer doing the same work by hand (read the group, parse the JSON body, `XACK`
//! each entry), measured alternately in the same run against the same server.
//!
//! ```sh
//! ZATO_TEST_REDIS_URL=redis://127.0.0.1:6379 cargo bench --bench redis_stream --features redis,macros
//! ```
//!
//! Each round adds `ZATO_BENCH_MESSAGES` (20 000) JSON entries to a fresh stream, not timed,
//! then times how long each consumer takes to acknowledge them all, from connecting to the last
//! ack; both read `ZATO_BENCH_BATCH` (10) entries at a time and acknowledge them one by one,
//! concurrently within a batch. `ZATO_BENCH_ROUNDS` (5) rounds; the median of the per-round
//! ratios is printed last. Without a server address the bench says so and exits.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use zato::prelude::*;
use zato::redis::redis::streams::StreamReadReply;
use zato::redis::{RedisConfig, RedisConnection, RedisStreamAdapter, RedisStreamConfig, redis};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(SimpleIo, Debug)]
struct Invoice {
    id: String,
}

#[derive(SimpleIo, Debug)]
struct Seen {
    id: String,
}

static HANDLED: AtomicU64 = AtomicU64::new(0);

#[service(name = "bench.invoice")]
async fn invoice(req: Request<Invoice>) -> Result<Seen, ServiceError> {
    HANDLED.fetch_add(1, Ordering::Relaxed);
    Ok(Seen { id: req.input.id })
}

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn fill(url: &str, stream: &str, messages: u64) -> Result<(), BoxError> {
    let mut r = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let mut i = 0;
    while i < messages {
        let mut pipe = redis::pipe();
        for j in i..(i + 1000).min(messages) {
            pipe.cmd("XADD")
                .arg(stream)
                .arg("*")
                .arg("body")
                .arg(format!(r#"{{"id":"{j}"}}"#))
                .ignore();
        }
        pipe.query_async::<()>(&mut r).await?;
        i += 1000;
    }
    Ok(())
}

/// A bare consumer: reads the group, parses each body as JSON and acknowledges it.
async fn bare(url: &str, stream: &str, messages: u64, batch: u64) -> Result<Duration, BoxError> {
    let started = Instant::now();
    let mut r = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg("bare")
        .arg("0")
        .arg("MKSTREAM")
        .query_async(&mut r)
        .await?;
    let mut acked = 0;
    while acked < messages {
        let reply: Option<StreamReadReply> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("bare")
            .arg("c")
            .arg("COUNT")
            .arg(batch)
            .arg("BLOCK")
            .arg(2000)
            .arg("STREAMS")
            .arg(stream)
            .arg(">")
            .query_async(&mut r)
            .await?;
        let ids: Vec<_> = reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .collect();
        let done = futures_util::future::join_all(ids.into_iter().map(|entry| {
            let mut r = r.clone();
            async move {
                let body: Vec<u8> = entry
                    .map
                    .get("body")
                    .and_then(|v| redis::from_redis_value_ref(v).ok())
                    .unwrap_or_default();
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                std::hint::black_box(v);
                redis::cmd("XACK")
                    .arg(stream)
                    .arg("bare")
                    .arg(&entry.id)
                    .query_async::<u64>(&mut r)
                    .await
            }
        }))
        .await;
        for d in done {
            d?;
            acked += 1;
        }
    }
    Ok(started.elapsed())
}

/// The zato channel into the trivial service.
async fn zato(url: &str, stream: &str, messages: u64, batch: u64) -> Result<Duration, BoxError> {
    let platform = Platform::new();
    platform.services().deploy(invoice)?;
    platform
        .outgoing()
        .add_redis(RedisConnection::new(RedisConfig::new("bench", url))?);
    let adapter = RedisStreamAdapter::attach(&platform)?;
    let mut channel = RedisStreamConfig::new("bench", "bench", stream, "bench.invoice");
    channel.batch = u16::try_from(batch).unwrap_or(10);
    channel.consumer = "c".to_owned();
    adapter.upsert(channel).await?;
    let started = Instant::now();
    platform.start().await?;
    loop {
        if adapter.stats("bench").map_or(0, |s| s.acked) >= messages {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err("the channel did not finish in 10 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let took = started.elapsed();
    platform.shutdown().await;
    Ok(took)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn run(url: String) -> Result<(), BoxError> {
    let messages = setting("ZATO_BENCH_MESSAGES", 20_000);
    let rounds = setting("ZATO_BENCH_ROUNDS", 5);
    let batch = setting("ZATO_BENCH_BATCH", 10);
    println!("redis_stream: {messages} entries per run, batch {batch}, {rounds} rounds");
    let mut ratios = Vec::new();
    let mut r = redis::Client::open(url.as_str())?
        .get_multiplexed_async_connection()
        .await?;
    for round in 1..=rounds {
        let mut rates = [0.0; 2];
        for (i, who) in ["bare", "zato"].into_iter().enumerate() {
            let stream = format!("zato-bench.{who}.{}.{round}", std::process::id());
            fill(&url, &stream, messages).await?;
            let took = if who == "bare" {
                bare(&url, &stream, messages, batch).await?
            } else {
                zato(&url, &stream, messages, batch).await?
            };
            rates[i] = messages as f64 / took.as_secs_f64();
            println!(
                "round {round} {who:>4}: {:>9.0} msg/s ({took:.2?})",
                rates[i]
            );
            let _: u64 = redis::cmd("DEL").arg(&stream).query_async(&mut r).await?;
        }
        ratios.push(rates[1] / rates[0]);
    }
    println!(
        "median of per-round ratios zato/bare = {:.2} ({ratios:.2?})",
        median(ratios.clone())
    );
    Ok(())
}

fn main() -> ExitCode {
    let Some(url) = std::env::var("ZATO_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        println!("redis_stream bench skipped: set ZATO_TEST_REDIS_URL to a Redis");
        return ExitCode::SUCCESS;
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(url)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("redis_stream bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}

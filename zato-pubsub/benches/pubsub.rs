//! Publish-to-delivery throughput and latency for a trivial subscriber: zato's pub/sub on the
//! embedded store (SQLite) and on PostgreSQL (`ZATO_TEST_PG_URL`), side by side with RabbitMQ
//! (`ZATO_TEST_AMQP_URL`) doing the same through lapin: persistent messages, each publication
//! confirmed before the next, each delivery acknowledged after it was handled.
//!
//! `cargo bench -p zato-pubsub --bench pubsub`; `ZATO_BENCH_MESSAGES` (2000) messages a round,
//! `ZATO_BENCH_ROUNDS` (3) rounds. Each round measures every system once; the report gives
//! the medians of the per-round ratios against RabbitMQ, and the medians of p50 and p99.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use zato_core::{Context, Platform, Request, Response, Service, ServiceError};
use zato_pubsub::{Delivery, PgStore, PubSub, SqliteStore, Store, SubscriptionConfig, TopicConfig};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The clock every message's send time is read from.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_us() -> u64 {
    u64::try_from(epoch().elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// What a round's subscriber saw: each message's latency, in microseconds.
#[derive(Debug, Clone, Default)]
struct Sink {
    latencies: Arc<Mutex<Vec<u64>>>,
    count: Arc<AtomicU64>,
}

impl Sink {
    fn take(&self, body: &[u8]) {
        let sent: u64 = std::str::from_utf8(body)
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or_default();
        if let Ok(mut l) = self.latencies.lock() {
            l.push(now_us().saturating_sub(sent));
        }
        self.count.fetch_add(1, Ordering::Release);
    }

    async fn wait(&self, n: u64) -> Result<(), BoxError> {
        let deadline = Instant::now() + Duration::from_secs(300);
        while self.count.load(Ordering::Acquire) < n {
            if Instant::now() > deadline {
                return Err("the subscriber did not get every message within 300 s".into());
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        Ok(())
    }
}

impl Service for Sink {
    const NAME: &'static str = "bench.sink";
    type Input = ();
    type Output = ();

    fn handle(
        &self,
        req: Request<()>,
        _ctx: &Context,
    ) -> impl Future<Output = Result<Response<()>, ServiceError>> + Send {
        self.take(&req.raw_request);
        async { Ok(Response::new(())) }
    }
}

/// Throughput (messages a second) and latencies of one run.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    rate: f64,
    p50: f64,
    p99: f64,
}

fn outcome(n: u64, took: Duration, sink: &Sink) -> Outcome {
    let mut l = sink.latencies.lock().map(|l| l.clone()).unwrap_or_default();
    l.sort_unstable();
    let at = |q: f64| {
        let i = ((l.len() as f64 - 1.0) * q).round() as usize;
        l.get(i).copied().unwrap_or_default() as f64 / 1000.0
    };
    Outcome {
        rate: n as f64 / took.as_secs_f64(),
        p50: at(0.5),
        p99: at(0.99),
    }
}

async fn zato_round(store: Arc<dyn Store>, n: u64) -> Result<Outcome, BoxError> {
    let platform = Platform::new();
    let sink = Sink::default();
    platform.services().deploy(sink.clone())?;
    let pubsub = PubSub::start(&platform, store).await?;
    let mut topic = TopicConfig::new("bench");
    topic.max_depth = 1_000_000;
    pubsub.put_topic(topic);
    let mut sub = SubscriptionConfig::new("bench", "bench", Delivery::Service);
    sub.service = Some("bench.sink".into());
    sub.batch_size = 100;
    pubsub.put_subscription(sub).await?;
    let started = Instant::now();
    for _ in 0..n {
        pubsub
            .publish("bench", now_us().to_string(), "bench")
            .await?;
    }
    sink.wait(n).await?;
    let took = started.elapsed();
    pubsub.shutdown();
    Ok(outcome(n, took, &sink))
}

async fn rabbit_round(url: &str, queue: &str, n: u64) -> Result<Outcome, BoxError> {
    let conn = Connection::connect(url, ConnectionProperties::default()).await?;
    let publisher = conn.create_channel().await?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    publisher
        .queue_declare(queue.into(), durable, FieldTable::default())
        .await?;
    let consumer_channel = conn.create_channel().await?;
    consumer_channel
        .basic_qos(100, BasicQosOptions::default())
        .await?;
    let mut consumer = consumer_channel
        .basic_consume(
            queue.into(),
            "bench".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let sink = Sink::default();
    let consuming = {
        let sink = sink.clone();
        tokio::spawn(async move {
            for _ in 0..n {
                let Some(Ok(delivery)) = consumer.next().await else {
                    return;
                };
                sink.take(&delivery.data);
                let _ = delivery.ack(BasicAckOptions::default()).await;
            }
        })
    };
    let props = BasicProperties::default().with_delivery_mode(2);
    let started = Instant::now();
    for _ in 0..n {
        let body = now_us().to_string();
        publisher
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                body.as_bytes(),
                props.clone(),
            )
            .await?
            .await?;
    }
    sink.wait(n).await?;
    let took = started.elapsed();
    consuming.abort();
    publisher
        .queue_delete(queue.into(), QueueDeleteOptions::default())
        .await?;
    let _ = conn.close(200, "done".into()).await;
    Ok(outcome(n, took, &sink))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn run() -> Result<(), BoxError> {
    let n = setting("ZATO_BENCH_MESSAGES", 2000);
    let rounds = setting("ZATO_BENCH_ROUNDS", 3);
    let pg = std::env::var("ZATO_TEST_PG_URL").ok();
    let amqp = std::env::var("ZATO_TEST_AMQP_URL").ok();
    let dir = std::env::temp_dir();
    let mut results: Vec<(&str, Vec<Outcome>)> = vec![
        ("sqlite", Vec::new()),
        ("postgresql", Vec::new()),
        ("rabbitmq", Vec::new()),
    ];
    for round in 0..rounds {
        let id = format!("{}_{round}", std::process::id());
        let file = dir.join(format!("zato_pubsub_bench_{id}.sqlite"));
        let sqlite = zato_round(Arc::new(SqliteStore::open(&file).await?), n).await?;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
        }
        results[0].1.push(sqlite);
        if let Some(url) = &pg {
            let schema = format!("zato_ps_bench_{id}");
            let store = PgStore::connect(url, &schema, 8).await?;
            let outcome = zato_round(Arc::new(store), n).await;
            let pool = sqlx::PgPool::connect(url).await?;
            sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .execute(&pool)
                .await?;
            results[1].1.push(outcome?);
        }
        if let Some(url) = &amqp {
            results[2]
                .1
                .push(rabbit_round(url, &format!("zato.pubsub.bench.{id}"), n).await?);
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }
    println!("{n} messages a round, {rounds} rounds; medians:");
    for (name, runs) in &results {
        if runs.is_empty() {
            println!("{name:>10}: not run (no server configured)");
            continue;
        }
        println!(
            "{name:>10}: {:>8.0} msg/s, p50 {:>7.2} ms, p99 {:>7.2} ms",
            median(runs.iter().map(|o| o.rate).collect()),
            median(runs.iter().map(|o| o.p50).collect()),
            median(runs.iter().map(|o| o.p99).collect()),
        );
    }
    let rabbit = &results[2].1;
    for (name, runs) in &results[..2] {
        if runs.len() == rabbit.len() && !rabbit.is_empty() {
            let ratios = runs
                .iter()
                .zip(rabbit)
                .map(|(o, r)| o.rate / r.rate)
                .collect();
            println!(
                "{name:>10} / rabbitmq throughput: {:.2}x (median of per-round ratios)",
                median(ratios)
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("the bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}

//! Messages per second through an AMQP channel into a trivial service, against a bare lapin
//! consumer doing the same work by hand (read the JSON body, acknowledge), measured alternately
//! in the same run against the same broker.
//!
//! ```sh
//! ZATO_TEST_AMQP_URL='amqp://guest:guest@127.0.0.1:5672/%2f' cargo bench --bench amqp --features amqp
//! ```
//!
//! Each round publishes `ZATO_BENCH_MESSAGES` (100 000) persistent JSON messages to a fresh
//! queue, not timed, then times how long each consumer takes to acknowledge them all, from
//! connecting to the last ack; both use the same prefetch (`ZATO_BENCH_PREFETCH`, 50) and
//! acknowledge one message at a time. `ZATO_BENCH_ROUNDS` (3) rounds; the medians and their ratio
//! are printed last. Without a broker address the bench says so and exits.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use zato::channels::ChannelAdapter;
use zato::channels::amqp::{AmqpAdapter, AmqpChannelConfig, AmqpConnection, AmqpConnectionConfig};
use zato::prelude::*;

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

async fn fill(url: &str, queue: &str, messages: u64) -> Result<(Connection, Channel), BoxError> {
    let conn = Connection::connect(url, ConnectionProperties::default()).await?;
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    ch.queue_declare(queue.into(), durable, FieldTable::default())
        .await?;
    let props = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2);
    let mut confirms = Vec::with_capacity(1000);
    for i in 0..messages {
        let body = format!(r#"{{"id":"{i}"}}"#);
        confirms.push(
            ch.basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                body.as_bytes(),
                props.clone(),
            )
            .await?,
        );
        if confirms.len() == 1000 {
            for c in confirms.drain(..) {
                c.await?;
            }
        }
    }
    for c in confirms {
        c.await?;
    }
    Ok((conn, ch))
}

/// A bare consumer: reads each body as JSON and acknowledges it.
async fn bare(url: &str, queue: &str, messages: u64, prefetch: u16) -> Result<Duration, BoxError> {
    let started = Instant::now();
    let conn = Connection::connect(url, ConnectionProperties::default()).await?;
    let ch = conn.create_channel().await?;
    ch.basic_qos(prefetch, BasicQosOptions::default()).await?;
    let mut consumer = ch
        .basic_consume(
            queue.into(),
            "bench-bare".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let acked = Arc::new(AtomicU64::new(0));
    for _ in 0..messages {
        let Some(delivery) = consumer.next().await else {
            return Err("the consumer ended".into());
        };
        let delivery = delivery?;
        let acked = acked.clone();
        // Handled concurrently, as the channel does, up to the prefetch the broker allows.
        tokio::spawn(async move {
            let v: serde_json::Value = serde_json::from_slice(&delivery.data).unwrap_or_default();
            std::hint::black_box(v);
            if delivery.ack(BasicAckOptions::default()).await.is_ok() {
                acked.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    while acked.load(Ordering::Relaxed) < messages {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let took = started.elapsed();
    let _ = conn.close(200, "done".into()).await;
    Ok(took)
}

/// The zato channel into the trivial service.
async fn zato(url: &str, queue: &str, messages: u64, prefetch: u16) -> Result<Duration, BoxError> {
    let platform = Platform::new();
    platform.services().deploy(invoice)?;
    platform
        .outgoing()
        .add_amqp(AmqpConnection::new(AmqpConnectionConfig::from_url(
            "broker", url,
        )?)?);
    let adapter = AmqpAdapter::attach(&platform)?;
    let channel =
        AmqpChannelConfig::new("bench", "broker", queue, "bench.invoice").with_prefetch(prefetch);
    adapter
        .upsert_channel(serde_json::to_value(channel)?)
        .await?;
    let started = Instant::now();
    adapter.start().await?;
    loop {
        let acked = adapter.stats("bench").map_or(0, |s| s.acked);
        if acked >= messages {
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
    let messages = setting("ZATO_BENCH_MESSAGES", 100_000);
    let rounds = setting("ZATO_BENCH_ROUNDS", 3);
    let prefetch = u16::try_from(setting("ZATO_BENCH_PREFETCH", 50)).unwrap_or(50);
    println!("amqp: {messages} messages per run, prefetch {prefetch}, {rounds} rounds");
    let (mut bare_rates, mut zato_rates) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        for who in ["bare", "zato"] {
            let queue = format!("zato-bench.{who}.{}", std::process::id());
            let (conn, ch) = fill(&url, &queue, messages).await?;
            let took = if who == "bare" {
                bare(&url, &queue, messages, prefetch).await?
            } else {
                zato(&url, &queue, messages, prefetch).await?
            };
            let rate = messages as f64 / took.as_secs_f64();
            println!("round {round} {who:>4}: {rate:>9.0} msg/s ({took:.2?})");
            if who == "bare" {
                bare_rates.push(rate);
            } else {
                zato_rates.push(rate);
            }
            ch.queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await?;
            let _ = conn.close(200, "done".into()).await;
        }
    }
    let (b, z) = (median(bare_rates), median(zato_rates));
    println!(
        "median: bare {b:.0} msg/s, zato {z:.0} msg/s, zato/bare = {:.2}",
        z / b
    );
    Ok(())
}

fn main() -> ExitCode {
    let Some(url) = std::env::var("ZATO_TEST_AMQP_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        println!("amqp bench skipped: set ZATO_TEST_AMQP_URL to a RabbitMQ");
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
            eprintln!("amqp bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}

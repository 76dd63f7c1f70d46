//! Messages per second through an MQTT channel into a trivial service, against a bare rumqttc
//! consumer doing the same work by hand (parse the JSON payload, acknowledge it), measured
//! alternately in the same run against the same broker.
//!
//! ```sh
//! ZATO_TEST_MQTT_URL=mqtt://127.0.0.1:1883 cargo bench --bench mqtt --features mqtt,macros
//! ```
//!
//! A broker queues only so many messages for an absent client (Mosquitto: 1000), so the queue
//! cannot be filled beforehand: each run subscribes its consumer, then a publisher of the
//! bench's own publishes `ZATO_BENCH_MESSAGES` (20 000) JSON messages at QoS 1 as fast as the
//! broker acknowledges them, never more than 500 ahead of the consumer (so the broker drops
//! none), and the run is timed from the first publication to the consumer's last
//! acknowledgement. Both consumers subscribe at QoS 1, handle up to `ZATO_BENCH_IN_FLIGHT`
//! (10) messages at once and acknowledge each after handling it. `ZATO_BENCH_ROUNDS` (5) rounds;
//! the median of the per-round ratios is printed last. Without a broker address the bench says
//! so and exits.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use zato::mqtt::{MqttAdapter, MqttChannelConfig, MqttConfig, MqttConnection};
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

fn host_port(url: &str) -> (String, u16) {
    let rest = url.trim_start_matches("mqtt://").trim_end_matches('/');
    match rest.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), p.parse().unwrap_or(1883)),
        None => (rest.to_owned(), 1883),
    }
}

/// How far the publisher may run ahead of the consumer: a broker drops what it cannot queue for
/// a slow client (Mosquitto: `max_queued_messages`, 1000), which would lose messages of the run.
const WINDOW: u64 = 500;

/// Counts what the consumer has acknowledged so far.
type Consumed = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Publishes `messages` at QoS 1 to `topic`, each acknowledged by the broker, at most
/// [`WINDOW`] ahead of what the consumer acknowledged.
async fn publish(
    url: &str,
    topic: &str,
    messages: u64,
    consumed: Consumed,
) -> Result<(), BoxError> {
    let publisher = MqttConnection::new(MqttConfig::new("bench-publisher", url))?;
    let publisher = Arc::new(publisher);
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..50u64 {
        let (publisher, topic, consumed) = (publisher.clone(), topic.to_owned(), consumed.clone());
        tasks.spawn(async move {
            let mut i = lane;
            while i < messages {
                while i > consumed() + WINDOW {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
                let message =
                    zato::mqtt::MqttMessage::new(topic.as_str(), format!(r#"{{"id":"{i}"}}"#));
                publisher.publish(&message).await?;
                i += 50;
            }
            Ok::<(), zato::mqtt::MqttError>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// A bare consumer: parses each payload as JSON and acknowledges it, up to `in_flight` at once.
async fn bare(
    url: &str,
    topic: &str,
    messages: u64,
    in_flight: usize,
) -> Result<Duration, BoxError> {
    let (host, port) = host_port(url);
    let mut options = MqttOptions::new(
        format!("zato-bench-bare-{}", std::process::id()),
        host,
        port,
    );
    options.set_manual_acks(true).set_clean_session(true);
    let (client, mut eventloop) = AsyncClient::new(options, 1000);
    client.subscribe(topic, QoS::AtLeastOnce).await?;
    loop {
        if let Event::Incoming(Incoming::SubAck(_)) = eventloop.poll().await? {
            break;
        }
    }
    let started = Instant::now();
    let acked = Arc::new(AtomicU64::new(0));
    let publisher = tokio::spawn({
        let (url, topic, acked) = (url.to_owned(), topic.to_owned(), acked.clone());
        async move {
            publish(
                &url,
                &topic,
                messages,
                Arc::new(move || acked.load(Ordering::Relaxed)),
            )
            .await
        }
    });
    let slots = Arc::new(tokio::sync::Semaphore::new(in_flight));
    while acked.load(Ordering::Relaxed) < messages {
        if started.elapsed() > Duration::from_secs(600) {
            return Err("the bare consumer did not finish in 10 minutes".into());
        }
        let event = tokio::time::timeout(Duration::from_millis(50), eventloop.poll()).await;
        let Ok(event) = event else { continue };
        if let Event::Incoming(Incoming::Publish(p)) = event? {
            let (client, acked, slots) = (client.clone(), acked.clone(), slots.clone());
            tokio::spawn(async move {
                let Ok(_permit) = slots.acquire_owned().await else {
                    return;
                };
                let v: serde_json::Value = serde_json::from_slice(&p.payload).unwrap_or_default();
                std::hint::black_box(v);
                if client.ack(&p).await.is_ok() {
                    acked.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    }
    let took = started.elapsed();
    publisher.await??;
    let _ = client.try_disconnect();
    let _ = tokio::time::timeout(Duration::from_secs(1), eventloop.poll()).await;
    Ok(took)
}

/// The zato channel into the trivial service.
async fn zato(
    url: &str,
    topic: &str,
    messages: u64,
    in_flight: usize,
) -> Result<Duration, BoxError> {
    let platform = Platform::new();
    platform.services().deploy(invoice)?;
    platform
        .outgoing()
        .add_mqtt(MqttConnection::new(MqttConfig::new("bench", url))?);
    let adapter = MqttAdapter::attach(&platform)?;
    let mut channel = MqttChannelConfig::new("bench", "bench", [topic], "bench.invoice");
    channel.max_in_flight = u16::try_from(in_flight).unwrap_or(10);
    channel.persistent = false;
    channel.client_id = format!("zato-bench-zato-{}", std::process::id());
    adapter.upsert(channel).await?;
    platform.start().await?; // subscribed when it returns
    let started = Instant::now();
    let publisher = tokio::spawn({
        let (url, topic, adapter) = (url.to_owned(), topic.to_owned(), adapter.clone());
        let consumed: Consumed = Arc::new(move || adapter.stats("bench").map_or(0, |s| s.acked));
        async move { publish(&url, &topic, messages, consumed).await }
    });
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
    publisher.await??;
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
    let in_flight = usize::try_from(setting("ZATO_BENCH_IN_FLIGHT", 10)).unwrap_or(10);
    println!("mqtt: {messages} messages per run at QoS 1, {in_flight} in flight, {rounds} rounds");
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        let mut rates = [0.0; 2];
        for (i, who) in ["bare", "zato"].into_iter().enumerate() {
            let topic = format!("zato-bench/{who}/{}/{round}", std::process::id());
            let took = if who == "bare" {
                bare(&url, &topic, messages, in_flight).await?
            } else {
                zato(&url, &topic, messages, in_flight).await?
            };
            rates[i] = messages as f64 / took.as_secs_f64();
            println!(
                "round {round} {who:>4}: {:>9.0} msg/s ({took:.2?})",
                rates[i]
            );
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
    let Some(url) = std::env::var("ZATO_TEST_MQTT_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        println!("mqtt bench skipped: set ZATO_TEST_MQTT_URL to an MQTT broker");
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
            eprintln!("mqtt bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}

//! Messages per second through an AMQP 1.0 channel into a trivial service, against a bare
//! fe2o3-amqp receiver doing the same work by hand (read the JMS text body, decode its JSON,
//! accept), side by side in the same run against the same broker.
//!
//! ```sh
//! ZATO_TEST_AMQP10_URL=amqp://guest:guest@127.0.0.1:5672 cargo bench -p zato-amqp10 --bench consume
//! ```
//!
//! Each round fills two fresh queues (RabbitMQ 3: `/queue/NAME`) with `ZATO_BENCH_MESSAGES`
//! (2 000) JSON text messages, not timed, then times how long each side takes to accept them
//! all, from attaching its link to the last accept, the two in alternating order. Both grant
//! `ZATO_BENCH_CREDIT` (50) of link credit. `ZATO_BENCH_ROUNDS` (5) rounds give per-round
//! ratios channel/bare, whose median is printed last (the goal: ≥ 0.9). Without a broker
//! address the bench says so and exits.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a bench: a failed step ends it"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fe2o3_amqp::link::receiver::CreditMode;
use fe2o3_amqp::types::messaging::{Body, Source, TerminusDurability};
use fe2o3_amqp::types::primitives::Value;
use fe2o3_amqp::{Connection, Receiver, Session};
use zato_amqp10::{
    Amqp10Adapter, Amqp10ChannelConfig, Amqp10Connection, Amqp10ConnectionConfig, Amqp10Message,
    Amqp10Outgoing,
};
use zato_core::{Context, Platform, Request, Response, Service, ServiceError};
use zato_macros::SimpleIo;

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Invoice {
    id: String,
}

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Seen {
    id: String,
}

static HANDLED: AtomicU64 = AtomicU64::new(0);

/// The trivial service: count the message.
#[derive(Clone)]
struct Trivial;

impl Service for Trivial {
    const NAME: &'static str = "bench.invoice";
    type Input = Invoice;
    type Output = Seen;

    async fn handle(
        &self,
        req: Request<Invoice>,
        _: &Context,
    ) -> Result<Response<Seen>, ServiceError> {
        HANDLED.fetch_add(1, Ordering::Relaxed);
        Ok(Response::new(Seen { id: req.input.id }))
    }
}

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Fills `address` with `n` messages, eight senders at once.
async fn fill(conn: &Arc<Amqp10Connection>, address: &str, n: u64) {
    let mut tasks = Vec::new();
    for t in 0..8 {
        let conn = conn.clone();
        let address = address.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut i = t;
            while i < n {
                conn.send(&address, Amqp10Message::text(format!(r#"{{"id":"{i}"}}"#)))
                    .await
                    .unwrap();
                i += 8;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// The bare side: a receiver of its own, each message read, decoded and accepted in turn.
async fn bare(url: &str, address: &str, n: u64, credit: u32) -> Duration {
    let started = Instant::now();
    let mut connection = Connection::open("zato-bench-bare", url).await.unwrap();
    let mut session = Session::begin(&mut connection).await.unwrap();
    let mut receiver = Receiver::builder()
        .name("bench-bare")
        .source(
            Source::builder()
                .address(address.to_owned())
                .durable(TerminusDurability::Configuration)
                .build(),
        )
        .credit_mode(CreditMode::Auto(credit))
        .auto_accept(false)
        .attach(&mut session)
        .await
        .unwrap();
    for _ in 0..n {
        let delivery = receiver.recv::<Body<Value>>().await.unwrap();
        if let Body::Value(v) = delivery.body()
            && let Value::String(s) = &v.0
        {
            let parsed: serde_json::Value = serde_json::from_str(s).unwrap();
            assert!(parsed["id"].is_string());
        }
        receiver.accept(&delivery).await.unwrap();
    }
    let took = started.elapsed();
    let _ = receiver.close().await;
    let _ = session.end().await;
    let _ = connection.close().await;
    took
}

/// The channel side: a channel consuming `address` into the trivial service.
async fn channel(adapter: &Amqp10Adapter, address: &str, n: u64, credit: u32) -> Duration {
    HANDLED.store(0, Ordering::SeqCst);
    let started = Instant::now();
    adapter
        .upsert(
            Amqp10ChannelConfig::new("bench", "broker", address, "bench.invoice")
                .with_credit(credit),
        )
        .await
        .unwrap();
    while HANDLED.load(Ordering::Relaxed) < n || adapter.stats("bench").unwrap().acked < n {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let took = started.elapsed();
    adapter.remove("bench").await.unwrap();
    took
}

fn main() {
    let Some(url) = std::env::var("ZATO_TEST_AMQP10_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!(
            "skipped: set ZATO_TEST_AMQP10_URL (amqp://guest:guest@127.0.0.1:5672) to run the AMQP 1.0 bench"
        );
        return;
    };
    let n = setting("ZATO_BENCH_MESSAGES", 2_000);
    let credit = u32::try_from(setting("ZATO_BENCH_CREDIT", 50)).unwrap_or(50);
    let rounds = setting("ZATO_BENCH_ROUNDS", 5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let platform = Platform::new();
        platform.services().deploy(Trivial).unwrap();
        platform.outgoing().add_amqp10(
            Amqp10Connection::new(Amqp10ConnectionConfig::from_url("broker", &url)).unwrap(),
        );
        let adapter = Amqp10Adapter::attach(&platform).unwrap();
        platform.start().await.unwrap();
        // The rounds' queues are deleted over AMQP 0-9-1, as an operator would.
        let url091 = std::env::var("ZATO_TEST_AMQP_URL")
            .unwrap_or_else(|_| format!("{}/%2f", url.trim_end_matches('/')));
        let ops = lapin::Connection::connect(&url091, lapin::ConnectionProperties::default())
            .await
            .expect("connect over AMQP 0-9-1")
            .create_channel()
            .await
            .unwrap();
        let mut ratios = Vec::new();
        for round in 0..rounds {
            let stamp = format!("{}_{round}", std::process::id());
            let (qa, qb) = (
                format!("/queue/zato_bench_amqp10_bare_{stamp}"),
                format!("/queue/zato_bench_amqp10_channel_{stamp}"),
            );
            // A connection of the round's own fills the queues, so that no links to earlier
            // rounds' deleted queues linger into the timing.
            let filler = Arc::new(
                Amqp10Connection::new(Amqp10ConnectionConfig::from_url("filler", &url)).unwrap(),
            );
            fill(&filler, &qa, n).await;
            fill(&filler, &qb, n).await;
            drop(filler);
            let (b, c) = if round % 2 == 0 {
                let b = bare(&url, &qa, n, credit).await;
                (b, channel(&adapter, &qb, n, credit).await)
            } else {
                let c = channel(&adapter, &qb, n, credit).await;
                (bare(&url, &qa, n, credit).await, c)
            };
            for q in [&qa, &qb] {
                let name = q.trim_start_matches("/queue/");
                let _ = ops
                    .queue_delete(name.into(), lapin::options::QueueDeleteOptions::default())
                    .await;
            }
            let (rb, rc) = (n as f64 / b.as_secs_f64(), n as f64 / c.as_secs_f64());
            let ratio = rc / rb;
            println!("round {round}: bare {rb:.0} msg/s, channel {rc:.0} msg/s, ratio {ratio:.3}");
            ratios.push(ratio);
        }
        ratios.sort_by(f64::total_cmp);
        let median = ratios[ratios.len() / 2];
        println!("median of per-round ratios channel/bare over {rounds} rounds: {median:.3} (goal >= 0.9)");
        platform.shutdown().await;
    });
}

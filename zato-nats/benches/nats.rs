//! Messages per second through a NATS JetStream channel into a trivial service, against a bare
//! async-nats pull consumer doing the same work by hand (decode the JSON body, acknowledge),
//! side by side in the same run against the same server.
//!
//! ```sh
//! ZATO_TEST_NATS_URL=nats://127.0.0.1:4222 cargo bench -p zato-nats --bench nats
//! ```
//!
//! Each round publishes `ZATO_BENCH_MESSAGES` (20 000) JSON messages to a fresh stream, not
//! timed, then times how long the consumer takes to acknowledge them all, from creating its
//! durable consumer to the last ack. Both fetch `ZATO_BENCH_CONCURRENCY` (50) messages at a
//! time and acknowledge each on its own; the channel hands up to that many to the service at
//! once, the bare consumer handles them in turn. Criterion reports each side; then
//! `ZATO_BENCH_ROUNDS` (5) rounds, each filling both streams first and timing the two sides in
//! alternating order, give per-round ratios, whose median is printed last (the goal:
//! channel/bare ≥ 0.9). Without a server address the bench says so and exits.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a bench: a failed step ends it"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use criterion::Criterion;
use futures_util::StreamExt;
use zato_core::config::{ConfigRuntime, MemoryStore, ObjectKey, PutMode, Section};
use zato_core::{Context, Platform, Request, Response, Service, ServiceError};
use zato_macros::SimpleIo;
use zato_nats::NatsAdapter;

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

/// The trivial handler of both sides: count the message.
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

struct Setup {
    url: String,
    messages: u64,
    concurrency: u64,
}

/// A fresh stream holding `messages` invoices; its name and subject.
async fn fill(js: &jetstream::Context, round: &str, messages: u64) -> (String, String) {
    let stream = format!("zato_bench_{round}_{}", std::process::id());
    let subject = format!("{stream}.in");
    let _ = js.delete_stream(&stream).await;
    js.create_stream(jetstream::stream::Config {
        name: stream.clone(),
        subjects: vec![subject.clone(), format!("{subject}.dead")],
        ..Default::default()
    })
    .await
    .unwrap();
    let mut acks = Vec::with_capacity(1000);
    for i in 0..messages {
        let body = format!(r#"{{"id":"{i}"}}"#);
        acks.push(js.publish(subject.clone(), body.into()).await.unwrap());
        if acks.len() == 1000 {
            for ack in acks.drain(..) {
                ack.await.unwrap();
            }
        }
    }
    for ack in acks {
        ack.await.unwrap();
    }
    (stream, subject)
}

/// The bare client: a durable pull consumer, each message decoded and acknowledged in turn.
async fn bare(setup: &Setup, js: &jetstream::Context, stream: &str, subject: &str) -> Duration {
    let started = Instant::now();
    let consumer: jetstream::consumer::PullConsumer = js
        .get_stream(stream)
        .await
        .unwrap()
        .create_consumer(jetstream::consumer::pull::Config {
            durable_name: Some("bare".into()),
            filter_subject: subject.to_owned(),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            max_ack_pending: i64::try_from(setup.concurrency * 4).unwrap(),
            ..Default::default()
        })
        .await
        .unwrap();
    let pull = || async {
        consumer
            .stream()
            .max_messages_per_batch(usize::try_from(setup.concurrency).unwrap())
            .expires(Duration::from_secs(5))
            .heartbeat(Duration::from_secs(1))
            .messages()
            .await
            .unwrap()
    };
    let mut messages = pull().await;
    let mut done = 0;
    while done < setup.messages {
        // As the channel does: a pull the server dropped (missed heartbeats) is made anew.
        let m = match messages.next().await.unwrap() {
            Ok(m) => m,
            Err(_) => {
                messages = pull().await;
                continue;
            }
        };
        let invoice: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        if invoice.get("id").is_some() {
            HANDLED.fetch_add(1, Ordering::Relaxed);
        }
        m.ack().await.unwrap();
        done += 1;
    }
    started.elapsed()
}

/// The channel: a node's NATS channel into the trivial service, applied through the config
/// runtime; timed until it has acknowledged every message.
async fn channel(setup: &Setup, stream: &str, subject: &str) -> Duration {
    let platform = Platform::new();
    platform.services().deploy(Trivial).unwrap();
    let runtime = ConfigRuntime::new(platform.clone(), Arc::new(MemoryStore::new()));
    let adapter = NatsAdapter::attach(&platform).unwrap();
    for kind in adapter.config_kinds(&platform) {
        runtime.register(kind);
    }
    let put = |section, name: &str, object| {
        let key = ObjectKey::new(section, "nats", name);
        let runtime = runtime.clone();
        async move {
            runtime
                .put(&key, object, PutMode::Upsert, None, "bench")
                .await
                .unwrap();
        }
    };
    put(
        Section::Outgoing,
        "bus",
        serde_json::json!({"name": "bus", "url": setup.url}),
    )
    .await;
    platform.start().await.unwrap();
    let started = Instant::now();
    put(
        Section::Channels,
        "in",
        serde_json::json!({"name": "in", "connection": "bus", "stream": stream, "subject": subject,
                           "service": "bench.invoice", "concurrency": setup.concurrency}),
    )
    .await;
    while adapter.stats("in").map_or(0, |s| s.acked) < setup.messages {
        tokio::time::sleep(Duration::from_micros(200)).await;
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the channel stalled"
        );
    }
    let took = started.elapsed();
    platform.shutdown().await;
    took
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let Some(url) = std::env::var("ZATO_TEST_NATS_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("skipped: set ZATO_TEST_NATS_URL (nats://127.0.0.1:4222) to run the NATS bench");
        return;
    };
    // `RUST_LOG=zato_nats=info` shows what the channel does between rounds; quiet otherwise.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let setup = Setup {
        url,
        messages: setting("ZATO_BENCH_MESSAGES", 20_000),
        concurrency: setting("ZATO_BENCH_CONCURRENCY", 50),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let _inside = rt.enter();
    let client = rt
        .block_on(async_nats::connect(&setup.url))
        .expect("connect to NATS");
    let js = jetstream::new(client);

    let mut criterion = Criterion::default().sample_size(10).configure_from_args();
    let mut group = criterion.benchmark_group("nats_consume");
    group.throughput(criterion::Throughput::Elements(setup.messages));
    // One round is a whole stream drained: as many as the samples, not a growing number.
    group.sampling_mode(criterion::SamplingMode::Flat);
    group.bench_function("bare_async_nats", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (stream, subject) = fill(&js, "bare", setup.messages).await;
                    total += bare(&setup, &js, &stream, &subject).await;
                    let _ = js.delete_stream(&stream).await;
                }
                total
            })
        });
    });
    group.bench_function("zato_channel", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (stream, subject) = fill(&js, "zato", setup.messages).await;
                    total += channel(&setup, &stream, &subject).await;
                    let _ = js.delete_stream(&stream).await;
                }
                total
            })
        });
    });
    group.finish();

    let rounds = setting("ZATO_BENCH_ROUNDS", 5);
    let mut ratios = Vec::new();
    for round in 0..rounds {
        // Both streams filled before either is timed, and the side that goes first alternates,
        // so that neither runs while the server still writes or deletes the other's stream.
        let (b, z) = rt.block_on(async {
            let (bare_stream, bare_subject) = fill(&js, "bare", setup.messages).await;
            let (zato_stream, zato_subject) = fill(&js, "zato", setup.messages).await;
            let (b, z) = if round % 2 == 0 {
                let b = bare(&setup, &js, &bare_stream, &bare_subject).await;
                (b, channel(&setup, &zato_stream, &zato_subject).await)
            } else {
                let z = channel(&setup, &zato_stream, &zato_subject).await;
                (bare(&setup, &js, &bare_stream, &bare_subject).await, z)
            };
            let _ = js.delete_stream(&bare_stream).await;
            let _ = js.delete_stream(&zato_stream).await;
            (b, z)
        });
        let rate = |d: Duration| setup.messages as f64 / d.as_secs_f64();
        let ratio = rate(z) / rate(b);
        println!(
            "round {round}: bare {:.0} msg/s, channel {:.0} msg/s, channel/bare = {ratio:.2}",
            rate(b),
            rate(z)
        );
        ratios.push(ratio);
    }
    if !ratios.is_empty() {
        println!(
            "median of {} per-round ratios, channel/bare: {:.2} ({} messages a round, concurrency {})",
            ratios.len(),
            median(ratios),
            setup.messages,
            setup.concurrency
        );
    }
    criterion.final_summary();
}

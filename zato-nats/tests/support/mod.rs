//! What the NATS tests share: the server's address, names unique per run, a node applying
//! config objects through the plug-in seam, a recording service, and a TCP proxy whose
//! connections a test can cut.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses part of the helpers"
)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::watch;
use zato_core::config::{ConfigRuntime, MemoryStore, ObjectKey, PutMode, Section};
use zato_core::{Context, Platform, Request, Response, Service, ServiceError};
use zato_macros::SimpleIo;
use zato_nats::{NatsAdapter, NatsChannelStats};

/// The server: the tests are ignored unless asked for, and then need it.
pub fn url() -> String {
    std::env::var("ZATO_TEST_NATS_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .expect("ZATO_TEST_NATS_URL names the NATS server with JetStream this test needs (nats://127.0.0.1:4222)")
}

/// A name unique to this run: letters, digits and `_`, valid as a stream, a subject token and a
/// consumer name.
pub fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!(
        "zato_test_{what}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

/// Generous, for a loaded 2-core machine.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// The test's own client: publishes, reads streams, and deletes them at the end.
pub struct Bus {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    streams: Mutex<Vec<String>>,
}

impl Bus {
    pub async fn new(url: &str) -> Bus {
        let client = async_nats::connect(url).await.expect("connect to NATS");
        let js = jetstream::new(client.clone());
        Bus {
            client,
            js,
            streams: Mutex::new(Vec::new()),
        }
    }

    /// A file stream `name` taking `subjects`, deleted by [`cleanup`](Self::cleanup).
    pub async fn stream(&self, name: &str, subjects: &[&str]) {
        self.js
            .create_stream(jetstream::stream::Config {
                name: name.to_owned(),
                subjects: subjects.iter().map(|s| (*s).to_owned()).collect(),
                ..Default::default()
            })
            .await
            .expect("create the stream");
        self.forget_later(name);
    }

    /// Deletes `name` at the end (for streams the channel declares).
    pub fn forget_later(&self, name: &str) {
        self.streams
            .lock()
            .expect("not poisoned")
            .push(name.to_owned());
    }

    /// Publishes `body` to `subject`, JetStream acknowledging it.
    pub async fn publish(&self, subject: &str, body: Value) {
        self.publish_raw(subject, body.to_string().into_bytes())
            .await;
    }

    pub async fn publish_raw(&self, subject: &str, body: Vec<u8>) {
        self.js
            .publish(subject.to_owned(), body.into())
            .await
            .expect("publish")
            .await
            .expect("JetStream acknowledges");
    }

    /// Reads every message of `subject` in `stream` from the start (dead letters), waiting up
    /// to `limit` for `count` of them.
    pub async fn read(
        &self,
        stream: &str,
        subject: &str,
        count: usize,
        limit: Duration,
    ) -> Vec<async_nats::jetstream::Message> {
        let stream = self.js.get_stream(stream).await.expect("the stream");
        let consumer: jetstream::consumer::PullConsumer = stream
            .create_consumer(jetstream::consumer::pull::Config {
                filter_subject: subject.to_owned(),
                ..Default::default()
            })
            .await
            .expect("an ephemeral consumer");
        let mut messages = consumer.messages().await.expect("messages");
        let mut got = Vec::new();
        let started = Instant::now();
        while got.len() < count && started.elapsed() < limit {
            match tokio::time::timeout(Duration::from_secs(1), messages.next()).await {
                Ok(Some(Ok(m))) => {
                    m.ack().await.expect("ack");
                    got.push(m);
                }
                _ => continue,
            }
        }
        got
    }

    /// What the durable consumer `durable` of `stream` has not settled: (pending, unacked).
    pub async fn backlog(&self, stream: &str, durable: &str) -> (u64, usize) {
        let mut consumer: jetstream::consumer::PullConsumer = self
            .js
            .get_stream(stream)
            .await
            .expect("the stream")
            .get_consumer(durable)
            .await
            .expect("the consumer");
        let info = consumer.info().await.expect("consumer info");
        (info.num_pending, info.num_ack_pending)
    }

    pub async fn cleanup(self) {
        let streams = std::mem::take(&mut *self.streams.lock().expect("not poisoned"));
        for s in streams {
            let _ = self.js.delete_stream(&s).await;
        }
    }
}

#[derive(SimpleIo, Debug, Clone)]
#[sio(crate = "zato_core")]
pub struct Invoice {
    pub id: String,
}

#[derive(SimpleIo, Debug, Clone)]
#[sio(crate = "zato_core")]
pub struct Receipt {
    pub id: String,
    pub source: String,
}

/// One invocation: the invoice's id, its `source` header, and every channel parameter.
pub type Seen = (String, String, Vec<(String, String)>);

/// Records each invoice's id and its `source` header; fails `fail_first` times, and always
/// while `failing` is set.
#[derive(Clone, Default)]
pub struct Recorder {
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub failing: Arc<AtomicBool>,
    pub fail_first: Arc<AtomicU32>,
    pub delay: Duration,
}

impl Recorder {
    pub fn ids(&self) -> Vec<String> {
        self.seen
            .lock()
            .expect("not poisoned")
            .iter()
            .map(|(id, _, _)| id.clone())
            .collect()
    }

    /// The channel parameters of the `n`th invocation.
    pub fn params(&self, n: usize) -> Vec<(String, String)> {
        self.seen.lock().expect("not poisoned")[n].2.clone()
    }

    pub async fn wait_for(&self, distinct: usize, limit: Duration) -> HashSet<String> {
        let started = Instant::now();
        loop {
            let ids: HashSet<String> = self.ids().into_iter().collect();
            if ids.len() >= distinct || started.elapsed() > limit {
                return ids;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Service for Recorder {
    const NAME: &'static str = "test.recorder";
    type Input = Invoice;
    type Output = Receipt;

    async fn handle(
        &self,
        req: Request<Invoice>,
        _: &Context,
    ) -> Result<Response<Receipt>, ServiceError> {
        let source = req
            .channel_params
            .iter()
            .find(|(k, _)| k == "source")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        self.seen.lock().expect("not poisoned").push((
            req.input.id.clone(),
            source.clone(),
            req.channel_params.clone(),
        ));
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let first = self
            .fail_first
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if first || self.failing.load(Ordering::SeqCst) {
            return Err(ServiceError::internal("the ledger is down"));
        }
        Ok(Response::new(Receipt {
            id: req.input.id,
            source,
        }))
    }
}

/// A node as `zato::Node` makes one, smaller: a platform with `recorder` deployed, and a config
/// runtime knowing the NATS plug-in's kinds.
pub struct TestNode {
    pub platform: Platform,
    pub runtime: ConfigRuntime,
    pub adapter: NatsAdapter,
}

impl TestNode {
    pub async fn new(recorder: &Recorder) -> TestNode {
        let platform = Platform::new();
        platform
            .services()
            .deploy(recorder.clone())
            .expect("deploy");
        let runtime = ConfigRuntime::new(platform.clone(), Arc::new(MemoryStore::new()));
        // What `zato_nats::plugin().attach` does, keeping the adapter to read its counters.
        let adapter = NatsAdapter::attach(&platform).expect("attach");
        for kind in adapter.config_kinds(&platform) {
            runtime.register(kind);
        }
        TestNode {
            platform,
            runtime,
            adapter,
        }
    }

    /// Creates or replaces an object through the config runtime, as the admin API does.
    pub async fn put(&self, section: Section, name: &str, object: Value) {
        let key = ObjectKey::new(section, "nats", name);
        self.runtime
            .put(&key, object, PutMode::Upsert, None, "test")
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e}"));
    }

    /// `outgoing.nats.bus` at `url`.
    pub async fn connection(&self, url: &str) {
        self.put(Section::Outgoing, "bus", json!({"name": "bus", "url": url}))
            .await;
    }

    pub fn stats(&self, channel: &str) -> NatsChannelStats {
        self.adapter.stats(channel).expect("the channel")
    }
}

/// Waits until `cond` holds, for at most `limit`.
pub async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cond()
}

/// A TCP proxy on 127.0.0.1 to `upstream`; [`cut`](Self::cut) closes every connection through
/// it, as a server restart or a network failure would, while it goes on accepting new ones.
pub struct Proxy {
    pub url: String,
    cut: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: &str) -> Proxy {
        let upstream = upstream
            .trim_start_matches("nats://")
            .trim_end_matches('/')
            .to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("nats://{}", listener.local_addr().expect("address"));
        let (cut, _) = watch::channel(0u64);
        let cuts = cut.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let mut cut = cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Proxy { url, cut, task }
    }

    /// Closes every connection open through the proxy now.
    pub fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

//! What the AMQP 1.0 tests share: the broker's address, names unique per run, RabbitMQ queues
//! declared and deleted over AMQP 0-9-1 (lapin), a node applying config objects through the
//! plug-in seam, a recording service, and a TCP proxy whose connections a test can cut.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::expect_used,
    reason = "each test binary uses part of the helpers; a failed step fails the test"
)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lapin::options::{BasicAckOptions, BasicGetOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable};
use serde_json::{Value, json};
use tokio::sync::watch;
use zato_amqp10::{Amqp10Adapter, Amqp10ChannelStats, Amqp10ConnectionConfig};
use zato_core::config::{ConfigRuntime, MemoryStore, ObjectKey, PutMode, Section};
use zato_core::{Context, Platform, Request, Response, Service, ServiceError};
use zato_macros::SimpleIo;

/// The broker's AMQP 1.0 URL (credentials in it): the tests are ignored unless asked for, and
/// then need it.
pub fn url() -> String {
    std::env::var("ZATO_TEST_AMQP10_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .expect("ZATO_TEST_AMQP10_URL names the AMQP 1.0 broker these tests need (amqp://guest:guest@127.0.0.1:5672, RabbitMQ with rabbitmq_amqp1_0)")
}

/// The same broker over AMQP 0-9-1, to declare and inspect queues as an operator would.
pub fn url091() -> String {
    std::env::var("ZATO_TEST_AMQP_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| format!("{}/%2f", url().trim_end_matches('/')))
}

/// The connection object of `url` as the config document has it (credentials moved out).
pub fn connection_object(name: &str, url: &str) -> Value {
    let c = Amqp10ConnectionConfig::from_url(name, url);
    json!({
        "name": name,
        "url": c.url,
        "username": c.username,
        "password": c.password.as_ref().map(|p| p.expose().clone()),
        "timeout": 5.0,
    })
}

/// A name unique to this run.
pub fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!(
        "zato_test_amqp10_{what}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

/// RabbitMQ 3's AMQP 1.0 address of queue `name`.
pub fn address(queue: &str) -> String {
    format!("/queue/{queue}")
}

/// RabbitMQ 3's AMQP 1.0 address of queue `name` as it exists already: the plugin declares
/// nothing, so a queue declared with arguments (dead-lettering) keeps them.
pub fn existing(queue: &str) -> String {
    format!("/amq/queue/{queue}")
}

/// Generous, for a loaded 2-core machine.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The test's view of the broker over AMQP 0-9-1: declares queues, counts and reads them, and
/// deletes them at the end.
pub struct Broker {
    conn: lapin::Connection,
    channel: lapin::Channel,
    queues: Vec<String>,
}

impl Broker {
    pub async fn new() -> Broker {
        let conn = lapin::Connection::connect(&url091(), lapin::ConnectionProperties::default())
            .await
            .expect("connect to RabbitMQ over AMQP 0-9-1");
        let channel = conn.create_channel().await.expect("a channel");
        Broker {
            conn,
            channel,
            queues: Vec::new(),
        }
    }

    /// A durable queue `name`; with `dead_letters`, rejected messages go to that queue.
    pub async fn queue(&mut self, name: &str, dead_letters: Option<&str>) {
        let mut args = FieldTable::default();
        if let Some(dl) = dead_letters {
            args.insert(
                "x-dead-letter-exchange".into(),
                AMQPValue::LongString("".into()),
            );
            args.insert(
                "x-dead-letter-routing-key".into(),
                AMQPValue::LongString(dl.into()),
            );
        }
        let options = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        self.channel
            .queue_declare(name.into(), options, args)
            .await
            .expect("declare the queue");
        self.queues.push(name.to_owned());
    }

    /// Messages ready in `queue` (not counting those delivered and unsettled).
    pub async fn ready(&self, queue: &str) -> u32 {
        let ch = self.conn.create_channel().await.expect("a channel");
        let q = ch
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("the queue");
        let _ = ch.close(200, "ok".into()).await;
        q.message_count()
    }

    /// Takes one message from `queue`, waiting up to `limit` for one.
    pub async fn get(&self, queue: &str, limit: Duration) -> Option<lapin::message::Delivery> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(m) = self
                .channel
                .basic_get(queue.into(), BasicGetOptions::default())
                .await
                .expect("basic.get")
            {
                m.delivery
                    .ack(BasicAckOptions::default())
                    .await
                    .expect("ack");
                return Some(m.delivery);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    pub async fn cleanup(self) {
        for q in &self.queues {
            let _ = self
                .channel
                .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        let _ = self.conn.close(200, "done".into()).await;
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
/// runtime knowing the AMQP 1.0 plug-in's kinds.
pub struct TestNode {
    pub platform: Platform,
    pub runtime: ConfigRuntime,
    pub adapter: Amqp10Adapter,
}

impl TestNode {
    pub async fn new(recorder: &Recorder) -> TestNode {
        let platform = Platform::new();
        platform
            .services()
            .deploy(recorder.clone())
            .expect("deploy");
        let runtime = ConfigRuntime::new(platform.clone(), Arc::new(MemoryStore::new()));
        // What `zato_amqp10::plugin().attach` does, keeping the adapter to read its counters.
        let adapter = Amqp10Adapter::attach(&platform).expect("attach");
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
        let key = ObjectKey::new(section, "amqp10", name);
        self.runtime
            .put(&key, object, PutMode::Upsert, None, "test")
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e}"));
    }

    /// `outgoing.amqp10.broker` at `url`.
    pub async fn connection(&self, url: &str) {
        self.put(
            Section::Outgoing,
            "broker",
            connection_object("broker", url),
        )
        .await;
    }

    /// `channels.amqp10.<name>` consuming `queue`, with `extra` fields.
    pub async fn channel(&self, name: &str, queue: &str, extra: Value) {
        let mut object = json!({
            "name": name,
            "connection": "broker",
            "address": address(queue),
            "service": "test.recorder",
            "timeout": 10.0,
            // RabbitMQ 3's plugin refuses `modified`.
            "failed_outcome": "released",
        });
        if let (Some(map), Some(more)) = (object.as_object_mut(), extra.as_object()) {
            map.extend(more.clone());
        }
        self.put(Section::Channels, name, object).await;
    }

    pub fn stats(&self, channel: &str) -> Amqp10ChannelStats {
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
            .trim_start_matches("amqp://")
            .trim_end_matches('/')
            .to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("amqp://{}", listener.local_addr().expect("address"));
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

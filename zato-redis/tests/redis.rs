//! `outgoing.redis` and `channels.redis_stream` against a real Redis at `ZATO_TEST_REDIS_URL`
//! (`redis://127.0.0.1:6379`), applied through the config runtime as the admin API and the CLI
//! apply them. A plain `cargo test` reports them as ignored; `--include-ignored` runs them, and
//! then they need the server. Every test uses keys and streams of its own and deletes them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step fails the test"
)]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zato_core::config::{ConfigRuntime, MemoryStore, ObjectKey, PutMode, Section};
use zato_core::kind;
use zato_core::{Context, Platform, Request, Response, Service, ServiceError};
use zato_macros::SimpleIo;
use zato_redis::{RedisKind, RedisOutgoing, RedisStreamAdapter, RedisStreamKind};

/// The server: the tests are ignored unless asked for, and then need it.
fn url() -> String {
    std::env::var("ZATO_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("ZATO_TEST_REDIS_URL names the Redis this test needs (redis://127.0.0.1:6379)")
}

fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("zato-test.{what}.{}.{nanos}", std::process::id())
}

/// The test's own connection to the server.
async fn direct(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn xadd(r: &mut redis::aio::MultiplexedConnection, stream: &str, fields: &[(&str, &str)]) {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(stream).arg("*");
    for (f, v) in fields {
        cmd.arg(*f).arg(*v);
    }
    let _: String = cmd.query_async(r).await.unwrap();
}

async fn cleanup(r: &mut redis::aio::MultiplexedConnection, keys: &[&str]) {
    for key in keys {
        let _: u64 = redis::cmd("DEL").arg(*key).query_async(r).await.unwrap();
    }
}

/// The entries of `stream`, each as its fields.
async fn entries(
    r: &mut redis::aio::MultiplexedConnection,
    stream: &str,
) -> Vec<HashMap<String, String>> {
    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query_async(r)
        .await
        .unwrap();
    reply
        .ids
        .into_iter()
        .map(|e| {
            e.map
                .into_iter()
                .map(|(k, v)| (k, redis::from_redis_value::<String>(v).unwrap()))
                .collect()
        })
        .collect()
}

/// Entries of `stream` pending in `group`.
async fn pending(r: &mut redis::aio::MultiplexedConnection, stream: &str, group: &str) -> u64 {
    let reply: redis::streams::StreamPendingReply = redis::cmd("XPENDING")
        .arg(stream)
        .arg(group)
        .query_async(r)
        .await
        .unwrap();
    reply.count() as u64
}

#[derive(SimpleIo, Debug, Clone)]
#[sio(crate = "zato_core")]
struct Invoice {
    id: String,
}

#[derive(SimpleIo, Debug, Clone)]
#[sio(crate = "zato_core")]
struct Receipt {
    id: String,
}

/// Records each invoice's id and its `source` field; fails for ids listed in `poison`, and for
/// everything while `failing` is set; fails the first time for ids in `flaky`.
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<(String, String)>>>,
    failing: Arc<AtomicBool>,
    poison: Arc<Mutex<HashSet<String>>>,
    flaky: Arc<Mutex<HashSet<String>>>,
    delay: Duration,
}

impl Recorder {
    fn ids(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn times(&self, id: &str) -> usize {
        self.ids().iter().filter(|i| *i == id).count()
    }

    async fn wait_for(&self, distinct: usize, limit: Duration) -> HashSet<String> {
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
        let id = req.input.id;
        self.seen.lock().unwrap().push((id.clone(), source));
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if self.failing.load(Ordering::SeqCst) || self.poison.lock().unwrap().contains(&id) {
            return Err(ServiceError::internal("the ledger is down"));
        }
        if self.flaky.lock().unwrap().remove(&id) {
            return Err(ServiceError::internal("the ledger hiccuped"));
        }
        Ok(Response::new(Receipt { id }))
    }
}

/// A node: `recorder` deployed, the Redis plug-in attached to a config runtime holding the
/// connection `cache` and the channel `invoices` on `stream` (with `extra` fields).
struct Node {
    platform: Platform,
    runtime: ConfigRuntime,
    adapter: RedisStreamAdapter,
}

impl Node {
    fn stats(&self) -> zato_redis::RedisStreamStats {
        self.adapter.stats("invoices").unwrap()
    }
}

async fn node(url: &str, recorder: &Recorder, stream: &str, extra: Value) -> Node {
    let platform = Platform::new();
    platform.services().deploy(recorder.clone()).unwrap();
    let runtime = ConfigRuntime::new(platform.clone(), Arc::new(MemoryStore::new()));
    // What `RedisPlugin::attach` does, keeping the adapter for its counters.
    let adapter = RedisStreamAdapter::attach(&platform).unwrap();
    runtime.register(kind::live(RedisKind::new(&platform)));
    runtime.register(kind::live(RedisStreamKind::new(adapter.clone())));
    put(
        &runtime,
        Section::Outgoing,
        "redis",
        "cache",
        json!({"name": "cache", "url": url}),
    )
    .await;
    let mut channel = json!({
        "name": "invoices", "connection": "cache", "stream": stream, "service": Recorder::NAME,
        "consumer": "node-1", "block": 0.2, "timeout": 2, "claim_idle": 3
    });
    merge(&mut channel, extra);
    put(
        &runtime,
        Section::Channels,
        "redis_stream",
        "invoices",
        channel,
    )
    .await;
    platform.start().await.unwrap();
    Node {
        platform,
        runtime,
        adapter,
    }
}

fn merge(target: &mut Value, extra: Value) {
    if let (Some(t), Value::Object(e)) = (target.as_object_mut(), extra) {
        t.extend(e);
    }
}

async fn put(runtime: &ConfigRuntime, section: Section, kind: &str, name: &str, object: Value) {
    runtime
        .put(
            &ObjectKey::new(section, kind, name),
            object,
            PutMode::Upsert,
            None,
            "test",
        )
        .await
        .unwrap();
}

async fn patch(runtime: &ConfigRuntime, section: Section, kind: &str, name: &str, object: Value) {
    runtime
        .put(
            &ObjectKey::new(section, kind, name),
            object,
            PutMode::Patch,
            None,
            "test",
        )
        .await
        .unwrap();
}

fn invoice(id: &str) -> String {
    format!(r#"{{"id":"{id}"}}"#)
}

#[tokio::test]
#[ignore = "needs Redis (ZATO_TEST_REDIS_URL)"]
async fn a_service_uses_the_connection_as_a_store_and_cache_and_the_admin_never_shows_its_password()
{
    let url = url();
    let prefix = unique("kv");
    let platform = Platform::new();
    let runtime = ConfigRuntime::new(platform.clone(), Arc::new(MemoryStore::new()));
    runtime.register(kind::live(RedisKind::new(&platform)));
    // A password in the URL: Redis here has none, so AUTH fails, which the ping says.
    let key = ObjectKey::new(Section::Outgoing, "redis", "cache");
    let with_password = url.replacen("redis://", "redis://:hunter2@", 1);
    put(
        &runtime,
        Section::Outgoing,
        "redis",
        "cache",
        json!({"name": "cache", "url": with_password}),
    )
    .await;
    let (shown, _) = runtime.get(&key).await.unwrap().unwrap();
    assert!(!shown.to_string().contains("hunter2"), "{shown}");
    let pinged = runtime.ping(&key).await.unwrap();
    let why = pinged.unwrap_err();
    assert!(!why.contains("hunter2"), "{why}");
    // Without it, it works.
    put(
        &runtime,
        Section::Outgoing,
        "redis",
        "cache",
        json!({"name": "cache", "url": url}),
    )
    .await;
    let pong = runtime.ping(&key).await.unwrap().unwrap();
    assert!(pong.starts_with("PONG"), "{pong}");

    let cache = platform.outgoing().redis("cache").unwrap();
    let k = |s: &str| format!("{prefix}:{s}");
    assert_eq!(cache.get(&k("missing")).await.unwrap(), None);
    cache.set(&k("invoice"), "sent", None).await.unwrap();
    assert_eq!(
        cache.get_string(&k("invoice")).await.unwrap().as_deref(),
        Some("sent")
    );
    assert_eq!(cache.ttl(&k("invoice")).await.unwrap(), None);
    cache
        .set(
            &k("session"),
            b"\x00\xffbytes",
            Some(Duration::from_millis(300)),
        )
        .await
        .unwrap();
    assert_eq!(
        cache.get(&k("session")).await.unwrap().as_deref(),
        Some(&b"\x00\xffbytes"[..])
    );
    assert!(cache.ttl(&k("session")).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        cache.get(&k("session")).await.unwrap(),
        None,
        "expired after its TTL"
    );
    let err = cache
        .set(&k("x"), "v", Some(Duration::ZERO))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), zato_redis::RedisErrorKind::Argument);

    // Atomic increments: 20 tasks adding 50 each.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let cache = cache.clone();
            let key = k("counter");
            tokio::spawn(async move {
                for _ in 0..50 {
                    cache.incr(&key, 1).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(cache.incr(&k("counter"), 0).await.unwrap(), 1000);
    // A wrong type is the server's error, a 502 naming the connection.
    let err = cache.incr(&k("invoice"), 1).await.unwrap_err();
    let service_error = ServiceError::from(err);
    assert_eq!(service_error.status().as_u16(), 502);
    assert!(
        service_error.to_string().contains("cache"),
        "{service_error}"
    );
    // Raw commands.
    let added: i64 = cache
        .command(
            redis::cmd("HSET")
                .arg(k("hash"))
                .arg("a")
                .arg("1")
                .arg("b")
                .arg("2"),
        )
        .await
        .unwrap();
    assert_eq!(added, 2);
    let all: HashMap<String, String> = cache
        .command(redis::cmd("HGETALL").arg(k("hash")))
        .await
        .unwrap();
    assert_eq!(all["b"], "2");
    assert!(cache.delete(&k("invoice")).await.unwrap());
    assert!(!cache.delete(&k("invoice")).await.unwrap());

    // Deactivated live: a 503; deleted: a 503 naming it.
    patch(
        &runtime,
        Section::Outgoing,
        "redis",
        "cache",
        json!({"is_active": false}),
    )
    .await;
    let err = ServiceError::from(cache.get(&k("counter")).await.unwrap_err());
    assert_eq!(err.status().as_u16(), 503);
    patch(
        &runtime,
        Section::Outgoing,
        "redis",
        "cache",
        json!({"is_active": true}),
    )
    .await;
    for s in ["counter", "hash"] {
        cache.delete(&k(s)).await.unwrap();
    }
    runtime.delete(&key, None, "test").await.unwrap();
    assert_eq!(
        platform
            .outgoing()
            .redis("cache")
            .unwrap_err()
            .status()
            .as_u16(),
        503
    );
}

#[tokio::test]
#[ignore = "needs Redis (ZATO_TEST_REDIS_URL)"]
async fn an_entry_is_handed_to_the_service_with_its_fields_and_acked_after() {
    let url = url();
    let mut r = direct(&url).await;
    let stream = unique("ack");
    let recorder = Recorder::default();
    let node = node(&url, &recorder, &stream, json!({})).await;
    xadd(
        &mut r,
        &stream,
        &[("body", &invoice("300")), ("source", "billing")],
    )
    .await;
    let ids = recorder.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(ids, HashSet::from(["300".to_owned()]));
    assert_eq!(recorder.seen.lock().unwrap()[0].1, "billing");
    let started = Instant::now();
    while node.stats().acked < 1 && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(pending(&mut r, &stream, "zato").await, 0, "acknowledged");
    let metrics = node.platform.metrics().render();
    assert!(
        metrics.contains(
            "redis_stream_channel_messages_total{channel=\"invoices\",outcome=\"acked\"} 1"
        ),
        "{metrics}"
    );
    node.platform.shutdown().await;
    cleanup(&mut r, &[&stream]).await;
}

#[tokio::test]
#[ignore = "needs Redis (ZATO_TEST_REDIS_URL)"]
async fn a_failure_is_redelivered_and_a_poison_entry_is_dead_lettered_with_its_error() {
    let url = url();
    let mut r = direct(&url).await;
    let stream = unique("poison");
    let dead = format!("{stream}.dead");
    let recorder = Recorder::default();
    recorder.poison.lock().unwrap().insert("666".to_owned());
    recorder.flaky.lock().unwrap().insert("7".to_owned());
    let node = node(
        &url,
        &recorder,
        &stream,
        json!({"max_deliveries": 3, "timeout": 0.5, "claim_idle": 0.8}),
    )
    .await;
    xadd(&mut r, &stream, &[("body", &invoice("7"))]).await;
    xadd(
        &mut r,
        &stream,
        &[("body", &invoice("666")), ("source", "crm")],
    )
    .await;
    xadd(&mut r, &stream, &[("body", "{not json")]).await;
    xadd(&mut r, &stream, &[("source", "no body")]).await;

    let started = Instant::now();
    while (recorder.times("666") < 3
        || recorder.times("7") < 2
        || entries(&mut r, &dead).await.len() < 3)
        && started.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The flaky one: failed once, delivered again, acknowledged.
    assert_eq!(recorder.times("7"), 2);
    // The poison one: delivered max_deliveries times, then dead-lettered with its error.
    assert_eq!(recorder.times("666"), 3);
    let letters = entries(&mut r, &dead).await;
    assert_eq!(letters.len(), 3, "{letters:?}");
    let poison = letters
        .iter()
        .find(|l| l.get("source").map(String::as_str) == Some("crm"))
        .unwrap();
    assert!(
        poison["zato_error"].contains("the ledger is down"),
        "{poison:?}"
    );
    assert_eq!(poison["zato_status"], "500");
    assert_eq!(poison["zato_deliveries"], "3");
    assert_eq!(poison["body"], invoice("666"));
    // Malformed input and an entry without a body: dead-lettered at once, as the sender's fault.
    let malformed = letters
        .iter()
        .find(|l| l.get("body").map(String::as_str) == Some("{not json"))
        .unwrap();
    assert_eq!(malformed["zato_status"], "400");
    assert_eq!(malformed["zato_deliveries"], "1");
    let no_body = letters
        .iter()
        .find(|l| l.get("source").map(String::as_str) == Some("no body"))
        .unwrap();
    assert!(
        no_body["zato_error"].contains("no field `body`"),
        "{no_body:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        pending(&mut r, &stream, "zato").await,
        0,
        "everything settled"
    );
    let stats = node.stats();
    assert_eq!(stats.dead_lettered, 3);
    assert!(stats.claimed >= 3, "{stats:?}");
    node.platform.shutdown().await;
    cleanup(&mut r, &[&stream, &dead]).await;
}

#[tokio::test]
#[ignore = "needs Redis (ZATO_TEST_REDIS_URL)"]
async fn entries_of_a_dead_consumer_are_claimed_after_the_idle_time() {
    let url = url();
    let mut r = direct(&url).await;
    let stream = unique("claim");
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg("zato")
        .arg("0")
        .arg("MKSTREAM")
        .query_async(&mut r)
        .await
        .unwrap();
    for i in 0..5 {
        xadd(&mut r, &stream, &[("body", &invoice(&format!("d{i}")))]).await;
    }
    // Another node's consumer reads them and dies before acknowledging.
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("zato")
        .arg("crashed-node")
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query_async(&mut r)
        .await
        .unwrap();
    assert_eq!(pending(&mut r, &stream, "zato").await, 5);
    let recorder = Recorder::default();
    let node = node(
        &url,
        &recorder,
        &stream,
        json!({"timeout": 0.5, "claim_idle": 1}),
    )
    .await;
    let ids = recorder.wait_for(5, Duration::from_secs(30)).await;
    assert_eq!(ids.len(), 5, "{ids:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pending(&mut r, &stream, "zato").await, 0);
    assert_eq!(node.stats().claimed, 5);
    node.platform.shutdown().await;
    cleanup(&mut r, &[&stream]).await;
}

/// Adds `total` invoices `{prefix}{i}` to `stream`, a little apart, from a task of its own.
fn produce(url: &str, stream: &str, prefix: &str, total: usize) -> tokio::task::JoinHandle<()> {
    let (url, stream, prefix) = (url.to_owned(), stream.to_owned(), prefix.to_owned());
    tokio::spawn(async move {
        let mut r = direct(&url).await;
        for i in 0..total {
            xadd(
                &mut r,
                &stream,
                &[("body", &invoice(&format!("{prefix}{i}")))],
            )
            .await;
            if i % 10 == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    })
}

#[tokio::test]
#[ignore = "needs Redis (ZATO_TEST_REDIS_URL)"]
async fn a_node_restarted_under_traffic_loses_nothing() {
    let url = url();
    let mut r = direct(&url).await;
    let stream = unique("restart");
    let recorder = Recorder {
        delay: Duration::from_millis(5),
        ..Recorder::default()
    };
    let first = node(&url, &recorder, &stream, json!({})).await;
    let producer = produce(&url, &stream, "r", 400);
    recorder.wait_for(50, Duration::from_secs(30)).await;
    first.platform.shutdown().await;
    let before = recorder.wait_for(0, Duration::ZERO).await.len();
    // Entries keep arriving while the node is away.
    producer.await.unwrap();
    assert!(
        before < 400,
        "the node was stopped mid-stream ({before} handled)"
    );
    let second = node(&url, &recorder, &stream, json!({})).await;
    let ids = recorder.wait_for(400, Duration::from_secs(60)).await;
    assert_eq!(ids.len(), 400, "every entry handled across the restart");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pending(&mut r, &stream, "zato").await, 0);
    second.platform.shutdown().await;
    cleanup(&mut r, &[&stream]).await;
}

/// The id of the client named `name` on the server.
async fn client_id(r: &mut redis::aio::MultiplexedConnection, name: &str) -> Option<String> {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(r)
        .await
        .unwrap();
    list.lines()
        .find(|l| l.split(' ').any(|f| f == format!("name={name}")))
        .and_then(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .map(str::to_owned)
}

#[tokio::test]
#[ignore = "needs Redis (ZATO_TEST_REDIS_URL)"]
async fn the_channels_connection_killed_mid_stream_loses_nothing() {
    let url = url();
    let mut r = direct(&url).await;
    let stream = unique("kill");
    let recorder = Recorder::default();
    let consumer = unique("killed");
    let node = node(&url, &recorder, &stream, json!({"consumer": consumer})).await;
    let producer = produce(&url, &stream, "k", 500);
    let name = format!("zato.redis_stream.invoices.{consumer}");
    recorder.wait_for(50, Duration::from_secs(30)).await;
    let id = client_id(&mut r, &name)
        .await
        .expect("the channel's connection is named");
    let _: redis::Value = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(&id)
        .query_async(&mut r)
        .await
        .unwrap();
    producer.await.unwrap();
    let ids = recorder.wait_for(500, Duration::from_secs(60)).await;
    assert_eq!(ids.len(), 500, "every entry handled across the kill");
    assert!(node.stats().reconnects >= 1, "{:?}", node.stats());
    let again = client_id(&mut r, &name).await.expect("connected again");
    assert_ne!(again, id);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pending(&mut r, &stream, "zato").await, 0);
    node.platform.shutdown().await;
    cleanup(&mut r, &[&stream]).await;
}

#[tokio::test]
#[ignore = "needs Redis (ZATO_TEST_REDIS_URL)"]
async fn live_edits_of_the_channel_and_its_connection_under_traffic_lose_nothing() {
    let url = url();
    let mut r = direct(&url).await;
    let stream = unique("edit");
    let recorder = Recorder::default();
    let node = node(&url, &recorder, &stream, json!({})).await;
    let producer = produce(&url, &stream, "e", 600);
    recorder.wait_for(50, Duration::from_secs(30)).await;
    patch(
        &node.runtime,
        Section::Channels,
        "redis_stream",
        "invoices",
        json!({"batch": 3}),
    )
    .await;
    recorder.wait_for(200, Duration::from_secs(30)).await;
    patch(
        &node.runtime,
        Section::Outgoing,
        "redis",
        "cache",
        json!({"response_timeout": 7}),
    )
    .await;
    recorder.wait_for(300, Duration::from_secs(30)).await;
    patch(
        &node.runtime,
        Section::Channels,
        "redis_stream",
        "invoices",
        json!({"is_active": false}),
    )
    .await;
    let paused = recorder.ids().len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        recorder.ids().len(),
        paused,
        "an inactive channel reads nothing"
    );
    patch(
        &node.runtime,
        Section::Channels,
        "redis_stream",
        "invoices",
        json!({"is_active": true}),
    )
    .await;
    producer.await.unwrap();
    let ids = recorder.wait_for(600, Duration::from_secs(60)).await;
    assert_eq!(ids.len(), 600, "every entry handled across the edits");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pending(&mut r, &stream, "zato").await, 0);
    node.runtime
        .delete(
            &ObjectKey::new(Section::Channels, "redis_stream", "invoices"),
            None,
            "test",
        )
        .await
        .unwrap();
    assert!(node.adapter.stats("invoices").is_none(), "deleted live");
    node.platform.shutdown().await;
    cleanup(&mut r, &[&stream]).await;
}

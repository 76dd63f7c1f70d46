//! `outgoing.mqtt` and `channels.mqtt` against a real broker (Mosquitto) at
//! `ZATO_TEST_MQTT_URL` (`mqtt://127.0.0.1:1883`), applied through the config runtime as the
//! admin API and the CLI apply them. A plain `cargo test` reports them as ignored;
//! `--include-ignored` runs them, and then they need the broker. Every test uses topics and
//! client ids of its own, and ends the sessions it made.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step fails the test"
)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use zato_core::config::{ConfigRuntime, MemoryStore, ObjectKey, PutMode, Section};
use zato_core::kind;
use zato_core::{Context, Platform, Request, Response, Service, ServiceError};
use zato_macros::SimpleIo;
use zato_mqtt::{MqttAdapter, MqttChannelKind, MqttKind, MqttMessage, MqttOutgoing};

/// The broker: the tests are ignored unless asked for, and then need it.
fn url() -> String {
    std::env::var("ZATO_TEST_MQTT_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("ZATO_TEST_MQTT_URL names the MQTT broker this test needs (mqtt://127.0.0.1:1883)")
}

fn host_port(url: &str) -> (String, u16) {
    let rest = url.split("://").nth(1).unwrap().trim_end_matches('/');
    let rest = rest.rsplit('@').next().unwrap();
    match rest.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), p.parse().unwrap()),
        None => (rest.to_owned(), 1883),
    }
}

fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("zato-test/{what}/{}/{nanos}", std::process::id())
}

/// A client of the test's own (rumqttc, not the crate's code): what it receives on `filter`.
struct Watcher {
    client: AsyncClient,
    got: mpsc::Receiver<rumqttc::Publish>,
}

impl Watcher {
    async fn new(url: &str, filter: &str) -> Watcher {
        let (host, port) = host_port(url);
        let id = format!("watcher-{}", rand_id());
        let (client, mut eventloop) = AsyncClient::new(MqttOptions::new(id, host, port), 100);
        let (tx, got) = mpsc::channel(10_000);
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        client.subscribe(filter, QoS::ExactlyOnce).await.unwrap();
        tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            while let Ok(event) = eventloop.poll().await {
                match event {
                    Event::Incoming(Incoming::SubAck(_)) => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(());
                        }
                    }
                    Event::Incoming(Incoming::Publish(p)) if tx.send(p.clone()).await.is_err() => {
                        return;
                    }
                    _ => {}
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), ready_rx)
            .await
            .unwrap()
            .unwrap();
        Watcher { client, got }
    }

    async fn next(&mut self, limit: Duration) -> Option<rumqttc::Publish> {
        tokio::time::timeout(limit, self.got.recv())
            .await
            .ok()
            .flatten()
    }
}

fn rand_id() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        ^ u64::from(std::process::id())
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

/// Records each invoice's id with its topic; fails for ids in `poison`, the first time for ids
/// in `flaky`, and always while `failing` is set.
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
        let topic = req
            .channel_params
            .iter()
            .find(|(k, _)| k == "topic")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let id = req.input.id;
        self.seen.lock().unwrap().push((id.clone(), topic));
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

/// A node: `recorder` deployed, the MQTT kinds on a config runtime holding the connection
/// `broker` and, when `channel` is given, the channel `invoices`.
struct Node {
    platform: Platform,
    runtime: ConfigRuntime,
    adapter: MqttAdapter,
}

impl Node {
    fn stats(&self) -> zato_mqtt::MqttChannelStats {
        self.adapter.stats("invoices").unwrap()
    }
}

async fn node(url: &str, recorder: &Recorder, channel: Option<Value>) -> Node {
    let platform = Platform::new();
    platform.services().deploy(recorder.clone()).unwrap();
    let runtime = ConfigRuntime::new(platform.clone(), Arc::new(MemoryStore::new()));
    // What `MqttPlugin::attach` does, keeping the adapter for its counters.
    let adapter = MqttAdapter::attach(&platform).unwrap();
    runtime.register(kind::live(MqttKind::new(&platform)));
    runtime.register(kind::live(MqttChannelKind::new(adapter.clone())));
    put(
        &runtime,
        Section::Outgoing,
        "mqtt",
        json!({"name": "broker", "url": url}),
    )
    .await;
    if let Some(mut channel) = channel {
        let defaults = json!({"name": "invoices", "connection": "broker", "service": Recorder::NAME,
            "retry_delay": 0.2, "timeout": 5});
        for (k, v) in defaults.as_object().unwrap() {
            channel
                .as_object_mut()
                .unwrap()
                .entry(k.clone())
                .or_insert(v.clone());
        }
        put(&runtime, Section::Channels, "mqtt", channel).await;
    }
    platform.start().await.unwrap();
    Node {
        platform,
        runtime,
        adapter,
    }
}

async fn put(runtime: &ConfigRuntime, section: Section, kind: &str, object: Value) {
    let name = object["name"].as_str().unwrap().to_owned();
    runtime
        .put(
            &ObjectKey::new(section, kind, name.as_str()),
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

/// Removes the channel (ending its session at the broker) and stops the node.
async fn finish(node: Node) {
    node.runtime
        .delete(
            &ObjectKey::new(Section::Channels, "mqtt", "invoices"),
            None,
            "test",
        )
        .await
        .unwrap();
    node.platform.shutdown().await;
}

fn invoice(id: &str) -> String {
    format!(r#"{{"id":"{id}"}}"#)
}

/// Publishes `total` invoices `{prefix}{i}` to `topic` at QoS 1 through `node`'s connection.
fn produce(node: &Node, topic: &str, prefix: &str, total: usize) -> tokio::task::JoinHandle<()> {
    let conn = node.platform.outgoing().mqtt("broker").unwrap();
    let (topic, prefix) = (topic.to_owned(), prefix.to_owned());
    tokio::spawn(async move {
        for i in 0..total {
            let message = MqttMessage::new(topic.as_str(), invoice(&format!("{prefix}{i}")));
            conn.publish(&message).await.unwrap();
            if i % 10 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    })
}

#[tokio::test]
#[ignore = "needs an MQTT broker (ZATO_TEST_MQTT_URL)"]
async fn the_outgoing_connection_publishes_at_every_qos_retains_and_leaves_a_will() {
    let url = url();
    let topic = unique("out");
    let mut watcher = Watcher::new(&url, &format!("{topic}/#")).await;
    let recorder = Recorder::default();
    let node = node(&url, &recorder, None).await;
    let key = ObjectKey::new(Section::Outgoing, "mqtt", "broker");
    let client_id = format!("zato-test-will-{}", rand_id());
    put(&node.runtime, Section::Outgoing, "mqtt", json!({
        "name": "broker", "url": url.replacen("mqtt://", "mqtt://user:hunter2@", 1), "client_id": client_id,
        "will": {"topic": format!("{topic}/will"), "payload": "node gone", "qos": 1}
    }))
    .await;
    let (shown, _) = node.runtime.get(&key).await.unwrap().unwrap();
    assert!(!shown.to_string().contains("hunter2"), "{shown}");
    let pong = node.runtime.ping(&key).await.unwrap().unwrap();
    assert!(pong.starts_with("connected to"), "{pong}");

    let conn = node.platform.outgoing().mqtt("broker").unwrap();
    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        conn.publish(&MqttMessage::new(format!("{topic}/q{i}"), format!("m{i}")).with_qos(qos))
            .await
            .unwrap();
        let got = watcher
            .next(Duration::from_secs(10))
            .await
            .expect("delivered");
        assert_eq!(got.topic, format!("{topic}/q{i}"));
        assert_eq!(&got.payload[..], format!("m{i}").as_bytes());
    }
    // Retained: a subscriber arriving later gets it.
    conn.publish(&MqttMessage::new(format!("{topic}/retained"), "last state").retained())
        .await
        .unwrap();
    let mut late = Watcher::new(&url, &format!("{topic}/retained")).await;
    let got = late
        .next(Duration::from_secs(10))
        .await
        .expect("the retained message");
    assert!(got.retain);
    assert_eq!(&got.payload[..], b"last state");
    // A bad topic is refused before anything is sent.
    let err = conn
        .publish(&MqttMessage::new("a/+/b", "x"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), zato_mqtt::MqttErrorKind::Topic);
    // So is one above max_packet_size (1 MiB by default), and the connection goes on.
    let err = conn
        .publish(&MqttMessage::new(
            format!("{topic}/big"),
            vec![b'x'; 1024 * 1024],
        ))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), zato_mqtt::MqttErrorKind::TooLarge);
    assert!(err.to_string().contains("max_packet_size"), "{err}");

    // Its client id taken over, as when its node dies: the broker publishes its will.
    while watcher.next(Duration::from_millis(200)).await.is_some() {}
    // Publications in flight while the broker drops the connection: rumqttc discards what it
    // holds when the new connection starts a new session; each must still reach the broker.
    let during: Vec<_> = (0..200)
        .map(|i| {
            let conn = conn.clone();
            let topic = format!("{topic}/during/{i}");
            tokio::spawn(async move { conn.publish(&MqttMessage::new(topic, "kept")).await })
        })
        .collect();
    let (host, port) = host_port(&url);
    let (intruder, mut eventloop) =
        AsyncClient::new(MqttOptions::new(client_id.as_str(), host, port), 10);
    tokio::time::timeout(Duration::from_secs(10), async {
        while !matches!(
            eventloop.poll().await,
            Ok(Event::Incoming(Incoming::ConnAck(_)))
        ) {}
    })
    .await
    .unwrap();
    let mut seen = HashSet::new();
    let will = loop {
        let m = watcher
            .next(Duration::from_secs(10))
            .await
            .expect("the will");
        if m.topic.contains("/during/") {
            seen.insert(m.topic.clone());
        } else {
            break m;
        }
    };
    assert_eq!(will.topic, format!("{topic}/will"));
    assert_eq!(&will.payload[..], b"node gone");
    let _ = intruder.try_disconnect();
    let _ = tokio::time::timeout(Duration::from_secs(1), eventloop.poll()).await;
    // And the connection comes back by itself, with what was published meanwhile.
    for publication in during {
        publication.await.unwrap().unwrap();
    }
    conn.publish(&MqttMessage::new(format!("{topic}/after"), "back"))
        .await
        .unwrap();
    while let Some(m) = watcher.next(Duration::from_secs(5)).await {
        if m.topic.ends_with("/after") {
            break;
        }
        seen.insert(m.topic.clone());
    }
    assert_eq!(
        seen.len(),
        200,
        "every publication made during the takeover arrived"
    );

    // Deactivated live: a 503.
    patch(
        &node.runtime,
        Section::Outgoing,
        "mqtt",
        "broker",
        json!({"is_active": false}),
    )
    .await;
    let err = ServiceError::from(
        conn.publish(&MqttMessage::new(format!("{topic}/x"), "x"))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.status().as_u16(), 503);
    // Clean up the retained message.
    patch(
        &node.runtime,
        Section::Outgoing,
        "mqtt",
        "broker",
        json!({"is_active": true}),
    )
    .await;
    conn.publish(&MqttMessage::new(format!("{topic}/retained"), "").retained())
        .await
        .unwrap();
    node.platform.shutdown().await;
    let _ = watcher.client.try_disconnect();
}

#[tokio::test]
#[ignore = "needs an MQTT broker (ZATO_TEST_MQTT_URL)"]
async fn a_message_is_handed_to_the_service_and_acked_once_at_qos_1_and_2() {
    let url = url();
    let topic = unique("ack");
    let client_id = format!("zato-test-ack-{}", rand_id());
    let recorder = Recorder::default();
    let channel = json!({"topics": [format!("{topic}/#")], "client_id": client_id, "qos": 2});
    let node = node(&url, &recorder, Some(channel.clone())).await;
    let conn = node.platform.outgoing().mqtt("broker").unwrap();
    conn.publish(&MqttMessage::new(format!("{topic}/a"), invoice("1")).with_qos(QoS::AtLeastOnce))
        .await
        .unwrap();
    conn.publish(&MqttMessage::new(format!("{topic}/b"), invoice("2")).with_qos(QoS::ExactlyOnce))
        .await
        .unwrap();
    let ids = recorder.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(ids, HashSet::from(["1".to_owned(), "2".to_owned()]));
    assert!(
        recorder
            .seen
            .lock()
            .unwrap()
            .iter()
            .any(|(id, t)| id == "2" && *t == format!("{topic}/b"))
    );
    let started = Instant::now();
    while node.stats().acked < 2 && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(node.stats().acked, 2);
    // Acknowledged: the same session, connected again, gets nothing again.
    node.platform.shutdown().await;
    let again = node_with_channel(&url, &recorder, channel).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(recorder.ids().len(), 2, "nothing delivered twice");
    let metrics = again.platform.metrics().render();
    assert!(
        metrics.contains("mqtt_channel_consuming{channel=\"invoices\"} 1"),
        "{metrics}"
    );
    finish(again).await;
}

async fn node_with_channel(url: &str, recorder: &Recorder, channel: Value) -> Node {
    node(url, recorder, Some(channel)).await
}

#[tokio::test]
#[ignore = "needs an MQTT broker (ZATO_TEST_MQTT_URL)"]
async fn a_failure_is_tried_again_and_a_poison_message_is_dead_lettered_with_its_error() {
    let url = url();
    let topic = unique("poison");
    let dead = format!("{topic}-dead");
    let mut letters = Watcher::new(&url, &dead).await;
    let recorder = Recorder::default();
    recorder.poison.lock().unwrap().insert("666".to_owned());
    recorder.flaky.lock().unwrap().insert("7".to_owned());
    let node = node(
        &url,
        &recorder,
        Some(
            json!({"topics": [topic], "client_id": format!("zato-test-poison-{}", rand_id()),
        "max_deliveries": 3, "dead_letter_topic": dead}),
        ),
    )
    .await;
    let conn = node.platform.outgoing().mqtt("broker").unwrap();
    conn.publish(&MqttMessage::new(topic.as_str(), invoice("7")))
        .await
        .unwrap();
    conn.publish(&MqttMessage::new(topic.as_str(), invoice("666")))
        .await
        .unwrap();
    conn.publish(&MqttMessage::new(topic.as_str(), "{not json"))
        .await
        .unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        let letter = letters
            .next(Duration::from_secs(30))
            .await
            .expect("a dead letter");
        got.push(serde_json::from_slice::<Value>(&letter.payload).unwrap());
    }
    let poison = got
        .iter()
        .find(|l| l["payload"] == invoice("666"))
        .expect("the poison message");
    assert!(
        poison["error"]
            .as_str()
            .unwrap()
            .contains("the ledger is down"),
        "{poison}"
    );
    assert_eq!(poison["status"], 500);
    assert_eq!(poison["deliveries"], 3);
    assert_eq!(poison["topic"], topic.as_str());
    assert_eq!(recorder.times("666"), 3);
    let malformed = got
        .iter()
        .find(|l| l["payload"] == "{not json")
        .expect("the malformed message");
    assert_eq!(malformed["status"], 400);
    assert_eq!(malformed["deliveries"], 1);
    recorder.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(recorder.times("7"), 2, "tried again after its failure");
    let stats = node.stats();
    assert_eq!((stats.acked, stats.dead_lettered), (1, 2), "{stats:?}");
    finish(node).await;
}

#[tokio::test]
#[ignore = "needs an MQTT broker (ZATO_TEST_MQTT_URL)"]
async fn messages_published_while_the_node_is_away_are_delivered_when_it_is_back() {
    let url = url();
    let topic = unique("restart");
    let channel =
        json!({"topics": [topic], "client_id": format!("zato-test-restart-{}", rand_id())});
    let recorder = Recorder {
        delay: Duration::from_millis(2),
        ..Recorder::default()
    };
    let first = node(&url, &recorder, Some(channel.clone())).await;
    // Published by another node, so the publisher outlives the first.
    let publisher = node(&url, &Recorder::default(), None).await;
    let producer = produce(&publisher, &topic, "r", 600);
    recorder.wait_for(50, Duration::from_secs(30)).await;
    first.platform.shutdown().await;
    let before = recorder.wait_for(0, Duration::ZERO).await.len();
    producer.await.unwrap();
    assert!(
        before < 600,
        "the node was stopped mid-stream ({before} handled)"
    );
    let second = node(&url, &recorder, Some(channel)).await;
    let ids = recorder.wait_for(600, Duration::from_secs(60)).await;
    assert_eq!(ids.len(), 600, "every message handled across the restart");
    finish(second).await;
    publisher.platform.shutdown().await;
}

#[tokio::test]
#[ignore = "needs an MQTT broker (ZATO_TEST_MQTT_URL)"]
async fn the_channels_connection_taken_over_mid_stream_loses_nothing() {
    // Mosquitto cannot drop one client on request; a second client connecting with the same
    // client id makes it close the first one's connection, which is what this test does. The
    // intruder resumes the persistent session and leaves without acknowledging anything.
    let url = url();
    let topic = unique("kill");
    let client_id = format!("zato-test-kill-{}", rand_id());
    let recorder = Recorder::default();
    let node = node(
        &url,
        &recorder,
        Some(json!({"topics": [topic], "client_id": client_id})),
    )
    .await;
    let producer = produce(&node, &topic, "k", 600);
    recorder.wait_for(50, Duration::from_secs(30)).await;
    let (host, port) = host_port(&url);
    let mut options = MqttOptions::new(client_id.as_str(), host, port);
    options.set_clean_session(false).set_manual_acks(true);
    let (intruder, mut eventloop) = AsyncClient::new(options, 10);
    tokio::time::timeout(Duration::from_secs(10), async {
        while !matches!(
            eventloop.poll().await,
            Ok(Event::Incoming(Incoming::ConnAck(_)))
        ) {}
    })
    .await
    .unwrap();
    drop(intruder);
    drop(eventloop);
    producer.await.unwrap();
    let ids = recorder.wait_for(600, Duration::from_secs(60)).await;
    assert_eq!(ids.len(), 600, "every message handled across the takeover");
    assert!(node.stats().reconnects >= 1, "{:?}", node.stats());
    finish(node).await;
}

#[tokio::test]
#[ignore = "needs an MQTT broker (ZATO_TEST_MQTT_URL)"]
async fn live_edits_of_the_channel_and_its_connection_under_traffic_lose_nothing() {
    let url = url();
    let topic = unique("edit");
    let recorder = Recorder::default();
    let node = node(&url, &recorder, Some(json!({"topics": [format!("{topic}/a")], "client_id": format!("zato-test-edit-{}", rand_id())}))).await;
    let publisher = node_with_channel_none(&url).await;
    let producer = produce(&publisher, &format!("{topic}/a"), "e", 600);
    recorder.wait_for(50, Duration::from_secs(30)).await;
    patch(
        &node.runtime,
        Section::Channels,
        "mqtt",
        "invoices",
        json!({"max_in_flight": 3}),
    )
    .await;
    recorder.wait_for(200, Duration::from_secs(30)).await;
    patch(
        &node.runtime,
        Section::Outgoing,
        "mqtt",
        "broker",
        json!({"keep_alive": 20}),
    )
    .await;
    recorder.wait_for(300, Duration::from_secs(30)).await;
    // A new filter besides the old one.
    patch(
        &node.runtime,
        Section::Channels,
        "mqtt",
        "invoices",
        json!({"topics": [format!("{topic}/a"), format!("{topic}/b")]}),
    )
    .await;
    producer.await.unwrap();
    let conn = publisher.platform.outgoing().mqtt("broker").unwrap();
    conn.publish(&MqttMessage::new(format!("{topic}/b"), invoice("on-b")))
        .await
        .unwrap();
    let ids = recorder.wait_for(601, Duration::from_secs(60)).await;
    assert_eq!(ids.len(), 601, "every message handled across the edits");
    assert!(ids.contains("on-b"));
    finish(node).await;
    publisher.platform.shutdown().await;
}

async fn node_with_channel_none(url: &str) -> Node {
    node(url, &Recorder::default(), None).await
}

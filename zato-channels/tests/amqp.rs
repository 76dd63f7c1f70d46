//! AMQP channels and outgoing connections against a real RabbitMQ, at `ZATO_TEST_AMQP_URL`
//! (`amqp://guest:guest@127.0.0.1:5672/%2f`): a plain `cargo test` reports them as ignored, and
//! `--include-ignored` runs them. Two also drive the broker with `rabbitmqctl`. Every test uses
//! queues of its own and deletes them.
#![cfg(feature = "amqp")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step fails the test"
)]

use std::collections::HashSet;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use zato_channels::amqp::{
    AmqpAdapter, AmqpChannelConfig, AmqpConnection, AmqpConnectionConfig, AmqpMessage,
    AmqpOutgoing, ERROR_HEADER, OnError, REDELIVERIES_HEADER, STATUS_HEADER,
};
use zato_core::{ChannelAdapter, Context, Platform, Request, Response, Service, ServiceError};
use zato_macros::SimpleIo;

/// The broker: the tests are ignored unless asked for, and then need it.
fn url() -> String {
    std::env::var("ZATO_TEST_AMQP_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("ZATO_TEST_AMQP_URL names the RabbitMQ this test needs")
}

fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("zato-test.{what}.{}.{nanos}", std::process::id())
}

/// The test's own view of the broker: publishes and inspects queues.
struct Broker {
    conn: Connection,
    channel: Channel,
    queues: Vec<String>,
}

impl Broker {
    async fn new(url: &str) -> Broker {
        let conn = Connection::connect(url, ConnectionProperties::default())
            .await
            .unwrap();
        let channel = conn.create_channel().await.unwrap();
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        Broker {
            conn,
            channel,
            queues: Vec::new(),
        }
    }

    /// Declares a durable queue (to be deleted at the end).
    async fn queue(&mut self, name: &str) {
        let options = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        self.channel
            .queue_declare(name.into(), options, FieldTable::default())
            .await
            .unwrap();
        self.queues.push(name.to_owned());
    }

    async fn publish(&self, queue: &str, body: &[u8], props: BasicProperties) {
        self.channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                body,
                props,
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }

    /// Messages ready in `queue` (not counting those delivered and unacknowledged).
    async fn ready(&self, queue: &str) -> u32 {
        let ch = self.conn.create_channel().await.unwrap();
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
            .unwrap();
        let _ = ch.close(200, "ok".into()).await;
        q.message_count()
    }

    /// Takes one message from `queue`, waiting up to `limit` for one.
    async fn get(&self, queue: &str, limit: Duration) -> Option<lapin::message::Delivery> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(m) = self
                .channel
                .basic_get(queue.into(), BasicGetOptions::default())
                .await
                .unwrap()
            {
                m.delivery.ack(BasicAckOptions::default()).await.unwrap();
                return Some(m.delivery);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    async fn cleanup(self) {
        for q in &self.queues {
            let _ = self
                .channel
                .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        let _ = self.conn.close(200, "done".into()).await;
    }
}

/// A broker view with a queue of the test's own and its dead-letter queue.
async fn with_dead_letters(url: &str, what: &str) -> (Broker, String, String) {
    let mut broker = Broker::new(url).await;
    let queue = unique(what);
    let dead = format!("{queue}.dead");
    broker.queue(&queue).await;
    broker.queue(&dead).await;
    (broker, queue, dead)
}

fn header(props: &BasicProperties, name: &str) -> Option<String> {
    let v = props.headers().as_ref()?.inner().get(name)?.clone();
    Some(match v {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::LongUInt(n) => n.to_string(),
        AMQPValue::ShortUInt(n) => n.to_string(),
        AMQPValue::LongLongInt(n) => n.to_string(),
        other => format!("{other:?}"),
    })
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
    source: String,
}

/// Records each invoice's id and its `source` header; fails while `failing` is set.
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<(String, String)>>>,
    failing: Arc<std::sync::atomic::AtomicBool>,
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
        self.seen
            .lock()
            .unwrap()
            .push((req.input.id.clone(), source.clone()));
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(ServiceError::internal("the ledger is down"));
        }
        Ok(Response::new(Receipt {
            id: req.input.id,
            source,
        }))
    }
}

/// A platform with `recorder` deployed, a broker connection `broker` and the AMQP adapter.
fn node(url: &str, recorder: &Recorder) -> (Platform, AmqpAdapter, Arc<AmqpConnection>) {
    let platform = Platform::new();
    platform.services().deploy(recorder.clone()).unwrap();
    let config = AmqpConnectionConfig::from_url("broker", url).unwrap();
    let conn = platform
        .outgoing()
        .add_amqp(AmqpConnection::new(config).unwrap());
    let adapter = AmqpAdapter::attach(&platform).unwrap();
    (platform, adapter, conn)
}

async fn add_channel(adapter: &AmqpAdapter, config: AmqpChannelConfig) {
    adapter
        .upsert_channel(serde_json::to_value(config).unwrap())
        .await
        .unwrap();
}

fn json_props() -> BasicProperties {
    BasicProperties::default().with_content_type("application/json".into())
}

#[tokio::test]
#[ignore = "needs RabbitMQ at ZATO_TEST_AMQP_URL"]
async fn a_message_invokes_the_service_with_its_headers_and_is_acked_after() {
    let url = url();
    let mut broker = Broker::new(&url).await;
    let queue = unique("ack");
    broker.queue(&queue).await;
    let recorder = Recorder::default();
    let (platform, adapter, _) = node(&url, &recorder);
    add_channel(
        &adapter,
        AmqpChannelConfig::new("ack", "broker", queue.as_str(), Recorder::NAME),
    )
    .await;
    platform.start().await.unwrap();
    assert!(adapter.is_consuming("ack"));

    let mut headers = FieldTable::default();
    headers.insert("source".into(), AMQPValue::LongString("billing".into()));
    broker
        .publish(
            &queue,
            br#"{"id":"300"}"#,
            json_props().with_headers(headers),
        )
        .await;
    let ids = recorder.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(ids, HashSet::from(["300".to_owned()]));
    assert_eq!(recorder.seen.lock().unwrap()[0].1, "billing");

    // Stopping closes the connection: an unacknowledged message would go back to the queue.
    platform.shutdown().await;
    assert_eq!(
        broker.ready(&queue).await,
        0,
        "the message was acknowledged"
    );
    assert_eq!(recorder.ids().len(), 1, "handled once");
    broker.cleanup().await;
}

#[tokio::test]
#[ignore = "needs RabbitMQ at ZATO_TEST_AMQP_URL"]
async fn a_failing_service_requeues_then_dead_letters_at_the_limit() {
    let url = url();
    let (broker, queue, dead) = with_dead_letters(&url, "fail").await;
    let recorder = Recorder::default();
    recorder
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let (platform, adapter, _) = node(&url, &recorder);
    add_channel(
        &adapter,
        AmqpChannelConfig::new("fail", "broker", queue.as_str(), Recorder::NAME)
            .with_max_redeliveries(2),
    )
    .await;
    platform.start().await.unwrap();

    broker.publish(&queue, br#"{"id":"7"}"#, json_props()).await;
    let letter = broker
        .get(&dead, Duration::from_secs(30))
        .await
        .expect("a dead letter");
    assert_eq!(&letter.data[..], br#"{"id":"7"}"#, "the message as sent");
    assert_eq!(
        header(&letter.properties, REDELIVERIES_HEADER).as_deref(),
        Some("2")
    );
    assert_eq!(
        header(&letter.properties, STATUS_HEADER).as_deref(),
        Some("500")
    );
    let why = header(&letter.properties, ERROR_HEADER).unwrap();
    assert!(why.contains("the ledger is down"), "{why}");
    // The first delivery and two redeliveries.
    assert_eq!(recorder.ids(), vec!["7", "7", "7"]);
    platform.shutdown().await;
    assert_eq!(broker.ready(&queue).await, 0);
    assert_eq!(broker.ready(&dead).await, 0, "exactly one dead letter");
    broker.cleanup().await;
}

#[tokio::test]
#[ignore = "needs RabbitMQ at ZATO_TEST_AMQP_URL"]
async fn malformed_input_goes_straight_to_the_dead_letters_and_dead_letter_policy_skips_requeue() {
    let url = url();
    let (broker, queue, dead) = with_dead_letters(&url, "malformed").await;
    let recorder = Recorder::default();
    let (platform, adapter, _) = node(&url, &recorder);
    add_channel(
        &adapter,
        AmqpChannelConfig::new("malformed", "broker", queue.as_str(), Recorder::NAME)
            .with_max_redeliveries(5),
    )
    .await;
    platform.start().await.unwrap();

    broker
        .publish(&queue, br#"{"no_id":1}"#, json_props())
        .await;
    let letter = broker
        .get(&dead, Duration::from_secs(20))
        .await
        .expect("a dead letter");
    assert_eq!(
        header(&letter.properties, STATUS_HEADER).as_deref(),
        Some("400")
    );
    assert!(
        header(&letter.properties, ERROR_HEADER)
            .unwrap()
            .contains("id")
    );
    assert_eq!(header(&letter.properties, REDELIVERIES_HEADER), None);
    assert!(recorder.ids().is_empty(), "the service never ran");

    // With `dead_letter`, a failing service's message is not requeued.
    recorder
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    add_channel(
        &adapter,
        AmqpChannelConfig::new("malformed", "broker", queue.as_str(), Recorder::NAME)
            .with_on_error(OnError::DeadLetter),
    )
    .await;
    broker.publish(&queue, br#"{"id":"8"}"#, json_props()).await;
    let letter = broker
        .get(&dead, Duration::from_secs(20))
        .await
        .expect("a dead letter");
    assert_eq!(
        header(&letter.properties, STATUS_HEADER).as_deref(),
        Some("500")
    );
    assert_eq!(recorder.ids(), vec!["8"]);
    platform.shutdown().await;
    broker.cleanup().await;
}

#[tokio::test]
#[ignore = "needs RabbitMQ at ZATO_TEST_AMQP_URL"]
async fn an_rpc_request_gets_its_reply_at_reply_to() {
    let url = url();
    let mut broker = Broker::new(&url).await;
    let queue = unique("rpc");
    let replies = unique("rpc-replies");
    broker.queue(&queue).await;
    broker.queue(&replies).await;
    let recorder = Recorder::default();
    let (platform, adapter, _) = node(&url, &recorder);
    add_channel(
        &adapter,
        AmqpChannelConfig::new("rpc", "broker", queue.as_str(), Recorder::NAME),
    )
    .await;
    platform.start().await.unwrap();

    let props = json_props()
        .with_reply_to(replies.as_str().into())
        .with_correlation_id("req-42".into());
    broker.publish(&queue, br#"{"id":"42"}"#, props).await;
    let reply = broker
        .get(&replies, Duration::from_secs(20))
        .await
        .expect("a reply");
    assert_eq!(
        reply
            .properties
            .correlation_id()
            .as_ref()
            .map(ShortString::as_str),
        Some("req-42")
    );
    let body: serde_json::Value = serde_json::from_slice(&reply.data).unwrap();
    assert_eq!(body["id"], "42");
    assert_eq!(
        header(&reply.properties, STATUS_HEADER).as_deref(),
        Some("200")
    );
    platform.shutdown().await;
    broker.cleanup().await;
}

/// The pids of the broker's connections whose client properties mention `needle`.
fn connections_named(needle: &str) -> Option<Vec<String>> {
    let out = Command::new("rabbitmqctl")
        .args(["-q", "list_connections", "pid", "client_properties"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(needle))
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect(),
    )
}

fn rabbitmqctl(args: &[&str]) -> bool {
    Command::new("rabbitmqctl")
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test]
#[ignore = "needs RabbitMQ at ZATO_TEST_AMQP_URL"]
async fn the_broker_closing_our_connection_mid_stream_loses_nothing_of_1000_messages() {
    let url = url();
    assert!(
        connections_named("zato").is_some(),
        "this test needs rabbitmqctl, on the broker's machine"
    );
    let mut broker = Broker::new(&url).await;
    let queue = unique("reconnect");
    broker.queue(&queue).await;
    let recorder = Recorder {
        delay: Duration::from_millis(2),
        ..Recorder::default()
    };
    let (platform, adapter, _) = node(&url, &recorder);
    let name = unique("reconnect-channel");
    add_channel(
        &adapter,
        AmqpChannelConfig::new(name.as_str(), "broker", queue.as_str(), Recorder::NAME)
            .with_prefetch(20),
    )
    .await;
    platform.start().await.unwrap();

    for i in 0..1000 {
        let body = format!(r#"{{"id":"{i}"}}"#);
        broker.publish(&queue, body.as_bytes(), json_props()).await;
    }
    // Cut the channel's connection once it is busy.
    recorder.wait_for(100, Duration::from_secs(30)).await;
    let pids = connections_named(&name).unwrap();
    assert_eq!(pids.len(), 1, "one connection for the channel: {pids:?}");
    assert!(rabbitmqctl(&[
        "close_connection",
        &pids[0],
        "test: closed mid-stream"
    ]));

    let ids = recorder.wait_for(1000, Duration::from_secs(120)).await;
    assert_eq!(ids.len(), 1000, "every message processed at least once");
    // Messages handled on the lost connection but not acknowledged come back: wait until the
    // queue is empty and the handling stops.
    let started = Instant::now();
    let mut last = 0;
    while started.elapsed() < Duration::from_secs(60) {
        let now = recorder.ids().len();
        if now == last && broker.ready(&queue).await == 0 {
            break;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(adapter.reconnects(&name) >= 1, "the reconnect is counted");
    let handled = recorder.ids().len();
    eprintln!(
        "1000 messages: {} distinct, {handled} handlings, {} reconnects",
        ids.len(),
        adapter.reconnects(&name)
    );
    let metrics = platform.metrics().render();
    eprintln!(
        "{}",
        metrics
            .lines()
            // The registry prefixes every name with `zato_`.
            .filter(|l| l.starts_with("zato_amqp_"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        metrics.contains("zato_amqp_channel_reconnects_total{channel=\""),
        "{metrics}"
    );
    platform.shutdown().await;
    assert_eq!(broker.ready(&queue).await, 0);
    broker.cleanup().await;
}

#[tokio::test]
#[ignore = "needs RabbitMQ at ZATO_TEST_AMQP_URL"]
async fn a_password_edit_under_traffic_loses_no_message() {
    let url = url();
    let user = unique("user");
    assert!(
        rabbitmqctl(&["add_user", &user, "first-password"]),
        "this test needs rabbitmqctl, on the broker's machine"
    );
    assert!(rabbitmqctl(&[
        "set_permissions",
        "-p",
        "/",
        &user,
        ".*",
        ".*",
        ".*"
    ]));
    let mut broker = Broker::new(&url).await;
    let queue = unique("password");
    broker.queue(&queue).await;
    let recorder = Recorder::default();
    let platform = Platform::new();
    platform.services().deploy(recorder.clone()).unwrap();
    let base = AmqpConnectionConfig::from_url("broker", &url).unwrap();
    let config = |password: &str| {
        let mut c = base.clone();
        c.username = user.clone();
        c.password = Some(password.to_owned().into());
        c
    };
    let conn = platform
        .outgoing()
        .add_amqp(AmqpConnection::new(config("first-password")).unwrap());
    let adapter = AmqpAdapter::attach(&platform).unwrap();
    add_channel(
        &adapter,
        AmqpChannelConfig::new("password", "broker", queue.as_str(), Recorder::NAME),
    )
    .await;
    platform.start().await.unwrap();

    // Traffic through our own outgoing connection, while the password changes.
    let total = 300;
    let publisher = {
        let conn = conn.clone();
        let queue = queue.clone();
        tokio::spawn(async move {
            let mut failures = 0;
            for i in 0..total {
                let body = format!(r#"{{"id":"{i}"}}"#);
                let message = AmqpMessage::new("", queue.as_str(), body)
                    .with_content_type("application/json");
                // A publication refused during the change is retried: the test counts losses
                // of the channel, not of the caller.
                loop {
                    match conn.publish(&message).await {
                        Ok(()) => break,
                        Err(_) => {
                            failures += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            failures
        })
    };
    recorder.wait_for(50, Duration::from_secs(30)).await;
    assert!(rabbitmqctl(&["change_password", &user, "second-password"]));
    conn.reconfigure(config("second-password")).unwrap();
    let failures = publisher.await.unwrap();
    let ids = recorder.wait_for(total, Duration::from_secs(60)).await;
    assert_eq!(ids.len(), total, "every message processed");
    assert!(adapter.is_consuming("password"));
    assert_eq!(conn.stats().generation, 2);
    eprintln!("{total} messages across a password change; {failures} publications retried");
    platform.shutdown().await;
    assert_eq!(broker.ready(&queue).await, 0);
    broker.cleanup().await;
    assert!(rabbitmqctl(&["delete_user", &user]));
}

#[tokio::test]
#[ignore = "needs RabbitMQ at ZATO_TEST_AMQP_URL"]
async fn outgoing_errors_name_the_connection() {
    let url = url();
    let platform = Platform::new();
    let mut config = AmqpConnectionConfig::from_url("broker", &url).unwrap();
    config.password = Some("wrong-password".to_owned().into());
    config.timeout = 5.0;
    platform
        .outgoing()
        .add_amqp(AmqpConnection::new(config).unwrap());
    let conn = platform.outgoing().amqp("broker").unwrap();
    let err = conn
        .publish(&AmqpMessage::new("", "nowhere", "x"))
        .await
        .unwrap_err();
    let err: ServiceError = err.into();
    assert_eq!(err.status().as_u16(), 502);
    let text = err.to_string();
    assert!(text.contains("broker"), "{text}");
    assert!(!text.contains("wrong-password"), "{text}");

    // Right credentials, but no queue takes the message: a mandatory publication fails.
    let good = AmqpConnectionConfig::from_url("broker", &url).unwrap();
    conn.reconfigure(good).unwrap();
    let err: ServiceError = conn
        .publish(&AmqpMessage::new("", unique("no-such-queue"), "x"))
        .await
        .unwrap_err()
        .into();
    assert_eq!(err.status().as_u16(), 502);
    assert!(err.to_string().contains("no queue"), "{err}");
    assert_eq!(conn.stats().failed, 2);
    assert_eq!(conn.stats().published, 0);
}

#[tokio::test]
#[ignore = "needs RabbitMQ at ZATO_TEST_AMQP_URL"]
async fn a_reply_to_a_missing_queue_is_counted_and_the_request_is_not_handled_again() {
    let url = url();
    let mut broker = Broker::new(&url).await;
    let queue = unique("lost-reply");
    broker.queue(&queue).await;
    let recorder = Recorder::default();
    let (platform, adapter, _) = node(&url, &recorder);
    add_channel(
        &adapter,
        AmqpChannelConfig::new("lost-reply", "broker", queue.as_str(), Recorder::NAME),
    )
    .await;
    platform.start().await.unwrap();

    let props = json_props()
        .with_reply_to(unique("no-such-replies").as_str().into())
        .with_correlation_id("req-43".into());
    broker.publish(&queue, br#"{"id":"43"}"#, props).await;
    recorder.wait_for(1, Duration::from_secs(20)).await;
    let started = Instant::now();
    while adapter.stats("lost-reply").unwrap().acked == 0 && started.elapsed().as_secs() < 20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = adapter.stats("lost-reply").unwrap();
    assert_eq!((stats.acked, stats.replies_lost), (1, 1), "{stats:?}");
    let metrics = platform.metrics().render();
    assert!(
        metrics.contains(r#"amqp_channel_replies_total{channel="lost-reply",outcome="lost"} 1"#),
        "{metrics}"
    );
    platform.shutdown().await;
    assert_eq!(broker.ready(&queue).await, 0, "acknowledged");
    assert_eq!(recorder.ids(), vec!["43"], "handled once");
    broker.cleanup().await;
}

#[tokio::test]
#[ignore = "needs RabbitMQ at ZATO_TEST_AMQP_URL"]
async fn a_message_over_max_bytes_is_dead_lettered_and_never_reaches_the_service() {
    let url = url();
    let (broker, queue, dead) = with_dead_letters(&url, "big").await;
    let recorder = Recorder::default();
    let (platform, adapter, _) = node(&url, &recorder);
    let mut config = AmqpChannelConfig::new("big", "broker", queue.as_str(), Recorder::NAME);
    config.max_bytes = 1024;
    add_channel(&adapter, config).await;
    platform.start().await.unwrap();

    let big = format!(r#"{{"id":"big","pad":"{}"}}"#, "x".repeat(2000));
    broker.publish(&queue, big.as_bytes(), json_props()).await;
    broker
        .publish(&queue, br#"{"id":"small"}"#, json_props())
        .await;
    let letter = broker
        .get(&dead, Duration::from_secs(20))
        .await
        .expect("a dead letter");
    assert_eq!(letter.data.len(), big.len(), "the message as sent");
    assert_eq!(
        header(&letter.properties, STATUS_HEADER).as_deref(),
        Some("413")
    );
    let why = header(&letter.properties, ERROR_HEADER).unwrap();
    assert!(why.contains("max_bytes"), "{why}");
    recorder.wait_for(1, Duration::from_secs(20)).await;
    let started = Instant::now();
    while adapter.stats("big").unwrap().acked == 0 && started.elapsed().as_secs() < 20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(recorder.ids(), vec!["small"], "the big one never ran");
    let stats = adapter.stats("big").unwrap();
    assert_eq!(
        (stats.too_large, stats.dead_lettered, stats.acked),
        (1, 1, 1),
        "{stats:?}"
    );
    let metrics = platform.metrics().render();
    assert!(
        metrics.contains(r#"amqp_channel_messages_total{channel="big",outcome="too_large"} 1"#),
        "{metrics}"
    );
    platform.shutdown().await;
    assert_eq!(broker.ready(&queue).await, 0);
    broker.cleanup().await;
}

#[tokio::test]
#[ignore = "needs RabbitMQ at ZATO_TEST_AMQP_URL"]
async fn a_senders_own_redelivery_count_is_not_trusted() {
    let url = url();
    let (broker, queue, dead) = with_dead_letters(&url, "forged").await;
    let recorder = Recorder::default();
    recorder
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let (platform, adapter, _) = node(&url, &recorder);
    add_channel(
        &adapter,
        AmqpChannelConfig::new("forged", "broker", queue.as_str(), Recorder::NAME)
            .with_max_redeliveries(2),
    )
    .await;
    platform.start().await.unwrap();

    // A sender claims the message was put back 999 times already.
    let mut headers = FieldTable::default();
    headers.insert(REDELIVERIES_HEADER.into(), AMQPValue::LongUInt(999));
    broker
        .publish(&queue, br#"{"id":"9"}"#, json_props().with_headers(headers))
        .await;
    let letter = broker
        .get(&dead, Duration::from_secs(30))
        .await
        .expect("a dead letter");
    // Every retry ran: the first delivery and two redeliveries, counted by the channel.
    assert_eq!(recorder.ids(), vec!["9", "9", "9"]);
    assert_eq!(
        header(&letter.properties, REDELIVERIES_HEADER).as_deref(),
        Some("2")
    );
    platform.shutdown().await;
    assert_eq!(broker.ready(&queue).await, 0);
    broker.cleanup().await;
}

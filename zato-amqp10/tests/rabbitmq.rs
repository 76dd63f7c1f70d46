//! AMQP 1.0 channels and outgoing connections against RabbitMQ's AMQP 1.0 plugin, at
//! `ZATO_TEST_AMQP10_URL` (`amqp://guest:guest@127.0.0.1:5672`): a plain `cargo test` reports
//! them as ignored, and `--include-ignored` runs them. Objects are applied through the config
//! runtime, as the admin API, the CLI and enmasse apply them. Every test declares queues of its
//! own (over AMQP 0-9-1, as RabbitMQ 3 wants) and deletes them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step fails the test"
)]

mod support;

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;
use support::{
    Broker, PATIENCE, Proxy, Recorder, TestNode, address, connection_object, eventually, existing,
    unique, url,
};
use zato_amqp10::{Amqp10Message, Amqp10Outgoing};
use zato_core::config::{ObjectKey, Section};

/// The first `x-death` entry of a dead letter, its text fields.
fn x_death(m: &lapin::message::Delivery) -> std::collections::HashMap<String, String> {
    use lapin::types::AMQPValue;
    let mut out = std::collections::HashMap::new();
    let Some(AMQPValue::FieldArray(deaths)) = m
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get("x-death").cloned())
    else {
        return out;
    };
    if let Some(AMQPValue::FieldTable(first)) = deaths.as_slice().first() {
        for (k, v) in first.inner() {
            if let AMQPValue::LongString(s) = v {
                out.insert(
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(s.as_bytes()).into_owned(),
                );
            }
        }
    }
    out
}

fn invoice(id: &str) -> Amqp10Message {
    Amqp10Message::text(json!({ "id": id }).to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ with rabbitmq_amqp1_0 (ZATO_TEST_AMQP10_URL)"]
async fn a_message_is_processed_with_its_properties_and_accepted_after() {
    let url = url();
    let mut broker = Broker::new().await;
    let queue = unique("in");
    broker.queue(&queue, None).await;
    let recorder = Recorder::default();
    let node = TestNode::new(&recorder).await;
    node.connection(&url).await;
    node.channel("in", &queue, json!({})).await;
    node.platform.start().await.unwrap();
    let ping = node
        .runtime
        .ping(&ObjectKey::new(Section::Outgoing, "amqp10", "broker"))
        .await
        .unwrap();
    assert!(
        ping.as_ref().is_ok_and(|m| m.contains("round trip")),
        "{ping:?}"
    );

    let conn = node.platform.outgoing().amqp10("broker").unwrap();
    conn.send(
        &address(&queue),
        invoice("1")
            .with_property("source", "CRM")
            .with_correlation_id("order-1")
            .with_subject("Invoice"),
    )
    .await
    .unwrap();
    conn.send(&address(&queue), Amqp10Message::bytes(r#"{"id":"2"}"#))
        .await
        .unwrap();
    let ids = recorder.wait_for(2, PATIENCE).await;
    assert_eq!(ids, HashSet::from(["1".to_owned(), "2".to_owned()]));
    let first = recorder.seen.lock().unwrap()[0].clone();
    assert_eq!((first.0.as_str(), first.1.as_str()), ("1", "CRM"));
    for param in [
        ("correlation_id", "order-1"),
        ("subject", "Invoice"),
        ("delivery_count", "1"),
    ] {
        assert!(
            first.2.contains(&(param.0.to_owned(), param.1.to_owned())),
            "{param:?} in {:?}",
            first.2
        );
    }
    assert!(
        eventually(PATIENCE, || node.stats("in").acked == 2).await,
        "{:?}",
        node.stats("in")
    );
    node.platform.shutdown().await;
    // Accepted: nothing left in the queue once the channel is gone.
    assert_eq!(broker.ready(&queue).await, 0);
    assert_eq!(recorder.ids().len(), 2, "each handled once");
    assert_eq!(conn.counts(), (2, 0));
    let metrics = node.platform.metrics().render();
    assert!(
        metrics.contains(r#"amqp10_channel_messages_total{channel="in",outcome="acked"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"amqp10_outgoing_messages_total{connection="broker",outcome="sent"} 2"#),
        "{metrics}"
    );
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ with rabbitmq_amqp1_0 (ZATO_TEST_AMQP10_URL)"]
async fn a_failure_is_delivered_again() {
    let url = url();
    let mut broker = Broker::new().await;
    let queue = unique("retry");
    broker.queue(&queue, None).await;
    let recorder = Recorder::default();
    recorder.fail_first.store(2, Ordering::SeqCst);
    let node = TestNode::new(&recorder).await;
    node.connection(&url).await;
    node.channel("in", &queue, json!({"max_deliveries": 5}))
        .await;
    node.platform.start().await.unwrap();
    let conn = node.platform.outgoing().amqp10("broker").unwrap();
    conn.send(&address(&queue), invoice("7")).await.unwrap();

    assert!(
        eventually(PATIENCE, || node.stats("in").acked == 1).await,
        "{:?}",
        node.stats("in")
    );
    let stats = node.stats("in");
    assert_eq!(
        (stats.failed, stats.redelivered, stats.dead_lettered),
        (2, 2, 0)
    );
    assert_eq!(recorder.ids(), ["7", "7", "7"]);
    let counts: Vec<String> = (0..3)
        .map(|n| {
            recorder
                .params(n)
                .into_iter()
                .find(|(k, _)| k == "delivery_count")
                .map(|(_, v)| v)
                .unwrap()
        })
        .collect();
    assert_eq!(counts, ["1", "2", "3"]);
    node.platform.shutdown().await;
    assert_eq!(broker.ready(&queue).await, 0);
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ with rabbitmq_amqp1_0 (ZATO_TEST_AMQP10_URL)"]
async fn a_poison_message_is_dead_lettered_with_its_error() {
    let url = url();
    let mut broker = Broker::new().await;
    let (queue, dead) = (unique("poison"), unique("poison_dead"));
    let (queue2, dead2) = (unique("poison2"), unique("poison2_dead"));
    broker.queue(&dead, None).await;
    // The broker's dead-lettering takes what the channel rejects.
    broker.queue(&queue, Some(&dead)).await;
    broker.queue(&queue2, None).await;
    broker.queue(&dead2, None).await;
    let recorder = Recorder::default();
    recorder.failing.store(true, Ordering::SeqCst);
    let node = TestNode::new(&recorder).await;
    node.connection(&url).await;
    let mut rejecting = json!({"max_deliveries": 3});
    rejecting["address"] = json!(existing(&queue));
    node.channel("rejecting", &queue, rejecting).await;
    // And a channel that sends its dead letters on, with the error, itself.
    node.channel(
        "forwarding",
        &queue2,
        json!({"max_deliveries": 2, "dead_letter_address": address(&dead2)}),
    )
    .await;
    node.platform.start().await.unwrap();
    let conn = node.platform.outgoing().amqp10("broker").unwrap();
    conn.send(&existing(&queue), invoice("p1")).await.unwrap();
    conn.send(
        &address(&queue2),
        invoice("p2").with_property("source", "Billing"),
    )
    .await
    .unwrap();

    let dl = broker.get(&dead, PATIENCE).await.expect("a dead letter");
    let death = x_death(&dl);
    assert_eq!(
        death.get("reason").map(String::as_str),
        Some("rejected"),
        "{death:?}"
    );
    assert_eq!(death.get("queue"), Some(&queue), "{death:?}");
    let stats = node.stats("rejecting");
    assert_eq!((stats.failed, stats.dead_lettered, stats.acked), (3, 1, 0));

    // The forwarded dead letter, read over AMQP 1.0: the original with the error.
    let copy = conn
        .receive(&address(&dead2), Duration::from_secs(30))
        .await
        .expect("the forwarded dead letter");
    assert!(String::from_utf8_lossy(&copy.body).contains("p2"));
    assert_eq!(copy.property("source"), Some("Billing"));
    assert!(
        copy.property("zato_error")
            .is_some_and(|e| e.contains("the ledger is down")),
        "{:?}",
        copy.properties
    );
    assert_eq!(copy.property("zato_status"), Some("500"));
    assert_eq!(copy.property("zato_delivery_count"), Some("2"));
    assert!(
        eventually(PATIENCE, || node.stats("forwarding").dead_lettered == 1).await,
        "{:?}",
        node.stats("forwarding")
    );
    node.platform.shutdown().await;
    assert_eq!(broker.ready(&queue).await, 0);
    assert_eq!(broker.ready(&queue2).await, 0);
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ with rabbitmq_amqp1_0 (ZATO_TEST_AMQP10_URL)"]
async fn a_lost_connection_loses_nothing() {
    // The shared broker is not restarted (other tests use it): the channel's connection goes
    // through a proxy that cuts it mid-flow, as a broker restart would.
    let url = url();
    let mut broker = Broker::new().await;
    let queue = unique("cut");
    broker.queue(&queue, None).await;
    let direct = connection_object("direct", &url);
    let proxy = Proxy::start(direct["url"].as_str().unwrap()).await;
    let recorder = Recorder {
        delay: Duration::from_millis(20),
        ..Recorder::default()
    };
    let node = TestNode::new(&recorder).await;
    let mut through_proxy = connection_object("broker", &url);
    through_proxy["url"] = json!(proxy.url);
    node.put(Section::Outgoing, "broker", through_proxy).await;
    node.put(Section::Outgoing, "direct", direct).await;
    node.channel("in", &queue, json!({"credit": 5})).await;
    node.platform.start().await.unwrap();
    let conn = node.platform.outgoing().amqp10("direct").unwrap();
    let total = 40;
    for n in 0..total {
        let t = std::time::Instant::now();
        if let Err(e) = conn.send(&address(&queue), invoice(&n.to_string())).await {
            panic!("send {n} failed after {:?}: {e}", t.elapsed());
        }
    }
    assert!(
        eventually(PATIENCE, || node.stats("in").acked >= 5).await,
        "{:?}",
        node.stats("in")
    );
    proxy.cut();
    let ids = recorder.wait_for(total, PATIENCE).await;
    assert_eq!(ids.len(), total, "every message handled after the cut");
    let stats = node.stats("in");
    assert!(stats.disconnects >= 1, "{stats:?}");
    assert!(
        eventually(PATIENCE, || node.stats("in").consuming).await,
        "consuming again"
    );
    node.platform.shutdown().await;
    assert_eq!(broker.ready(&queue).await, 0, "nothing left behind");
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ with rabbitmq_amqp1_0 (ZATO_TEST_AMQP10_URL)"]
async fn a_live_edit_while_messages_flow_loses_nothing() {
    let url = url();
    let mut broker = Broker::new().await;
    let queue = unique("edit");
    broker.queue(&queue, None).await;
    let recorder = Recorder::default();
    let node = TestNode::new(&recorder).await;
    node.connection(&url).await;
    node.channel("in", &queue, json!({})).await;
    node.platform.start().await.unwrap();
    let conn = node.platform.outgoing().amqp10("broker").unwrap();
    let total = 150;
    // Three services sending at once, 50 messages each.
    let senders: Vec<_> = (0..3)
        .map(|t| {
            let conn = conn.clone();
            let target = address(&queue);
            tokio::spawn(async move {
                let mut failed = Vec::new();
                for n in (t * 50)..(t * 50 + 50) {
                    if let Err(e) = conn.send(&target, invoice(&n.to_string())).await {
                        failed.push(e.to_string());
                    }
                }
                failed
            })
        })
        .collect();
    // Two edits of the connection (the channel's too) while messages go out and come in.
    for (i, idle) in [(1, 30.0), (2, 45.0)] {
        assert!(
            eventually(PATIENCE, || recorder.ids().len() >= i * 30).await,
            "{:?}",
            node.stats("in")
        );
        let mut object = connection_object("broker", &url);
        object["idle_timeout"] = json!(idle);
        node.put(Section::Outgoing, "broker", object).await;
    }
    let mut failed = Vec::new();
    for sender in senders {
        failed.extend(
            tokio::time::timeout(PATIENCE, sender)
                .await
                .expect("the sends end")
                .unwrap(),
        );
    }
    assert!(failed.is_empty(), "sends failed: {failed:?}");
    let ids = recorder.wait_for(total, PATIENCE).await;
    assert_eq!(ids.len(), total, "every message handled");
    node.platform.shutdown().await;
    assert_eq!(broker.ready(&queue).await, 0);
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ with rabbitmq_amqp1_0 (ZATO_TEST_AMQP10_URL)"]
async fn a_request_gets_its_reply() {
    let url = url();
    let mut broker = Broker::new().await;
    let (queue, replies) = (unique("req"), unique("replies"));
    broker.queue(&queue, None).await;
    broker.queue(&replies, None).await;
    let recorder = Recorder::default();
    let node = TestNode::new(&recorder).await;
    node.connection(&url).await;
    node.channel("in", &queue, json!({})).await;
    node.platform.start().await.unwrap();
    let conn = node.platform.outgoing().amqp10("broker").unwrap();
    let reply = conn
        .request(
            &address(&queue),
            invoice("42").with_property("source", "ERP"),
            &address(&replies),
        )
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(body["id"], "42", "{body}");
    assert_eq!(body["source"], "ERP", "{body}");
    assert_eq!(reply.property("zato_status"), Some("200"));
    assert!(reply.property("zato_cid").is_some());
    assert!(eventually(PATIENCE, || node.stats("in").replies_sent == 1).await);
    node.platform.shutdown().await;
    assert_eq!(broker.ready(&replies).await, 0);
    broker.cleanup().await;
}

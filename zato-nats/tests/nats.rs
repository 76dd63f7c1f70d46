//! NATS channels and outgoing connections against a real NATS server with JetStream, at
//! `ZATO_TEST_NATS_URL` (`nats://127.0.0.1:4222`): a plain `cargo test` reports them as
//! ignored, and `--include-ignored` runs them. Objects are applied through the config runtime,
//! as the admin API, the CLI and enmasse apply them. Every test uses streams and subjects of
//! its own and deletes them.
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
use support::{Bus, PATIENCE, Proxy, Recorder, TestNode, eventually, unique, url};
use zato_core::ChannelAdapter;
use zato_core::config::{ObjectKey, Section};
use zato_nats::{ERROR_HEADER, NatsConnection, NatsOutgoing, STATUS_HEADER};

fn header(m: &async_nats::jetstream::Message, name: &str) -> Option<String> {
    m.headers.as_ref()?.get(name).map(|v| v.as_str().to_owned())
}

/// A JetStream channel `name` on `stream`/`subject`, with `extra` fields.
fn channel(name: &str, stream: &str, subject: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut object = json!({
        "name": name,
        "connection": "bus",
        "stream": stream,
        "subject": subject,
        "service": "test.recorder",
        "timeout": 10.0,
    });
    if let (Some(map), Some(more)) = (object.as_object_mut(), extra.as_object()) {
        map.extend(more.clone());
    }
    object
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a NATS server with JetStream (ZATO_TEST_NATS_URL)"]
async fn a_message_is_processed_with_its_headers_and_acked_after() {
    let url = url();
    let bus = Bus::new(&url).await;
    let (stream, subject) = (unique("S"), unique("invoices"));
    bus.stream(&stream, &[&subject, &format!("{subject}.dead")])
        .await;
    let recorder = Recorder::default();
    let node = TestNode::new(&recorder).await;
    node.connection(&url).await;
    node.put(
        Section::Channels,
        "in",
        channel("in", &stream, &subject, json!({})),
    )
    .await;
    node.platform.start().await.unwrap();
    let ping = node
        .runtime
        .ping(&ObjectKey::new(Section::Outgoing, "nats", "bus"))
        .await
        .unwrap();
    assert!(
        ping.as_ref().is_ok_and(|m| m.contains("round trip")),
        "{ping:?}"
    );

    let mut headers = async_nats::HeaderMap::new();
    headers.insert("source", "CRM");
    bus.js
        .publish_with_headers(subject.clone(), headers, r#"{"id":"1"}"#.into())
        .await
        .unwrap()
        .await
        .unwrap();
    bus.publish(&subject, json!({"id": "2"})).await;
    let ids = recorder.wait_for(2, PATIENCE).await;
    assert_eq!(ids, HashSet::from(["1".to_owned(), "2".to_owned()]));
    let first = recorder.seen.lock().unwrap()[0].clone();
    assert_eq!((first.0.as_str(), first.1.as_str()), ("1", "CRM"));
    assert!(first.2.contains(&("subject".to_owned(), subject.clone())));
    assert!(first.2.contains(&("delivered".to_owned(), "1".to_owned())));

    // Acknowledged: nothing pending nor waiting for an ack on the durable consumer.
    assert!(
        eventually(PATIENCE, || node.stats("in").acked == 2).await,
        "{:?}",
        node.stats("in")
    );
    let durable = "zato-in";
    let mut settled = false;
    for _ in 0..100 {
        if bus.backlog(&stream, durable).await == (0, 0) {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(settled, "backlog {:?}", bus.backlog(&stream, durable).await);
    assert_eq!(recorder.ids().len(), 2, "each handled once");
    let metrics = node.platform.metrics().render();
    assert!(
        metrics.contains(r#"nats_channel_messages_total{channel="in",outcome="acked"} 2"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"nats_channel_consuming{channel="in"} 1"#));
    node.platform.shutdown().await;
    bus.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a NATS server with JetStream (ZATO_TEST_NATS_URL)"]
async fn a_failure_is_delivered_again_after_the_nak_delay() {
    let url = url();
    let bus = Bus::new(&url).await;
    let (stream, subject) = (unique("S"), unique("invoices"));
    bus.stream(&stream, &[&subject, &format!("{subject}.dead")])
        .await;
    let recorder = Recorder::default();
    recorder.fail_first.store(2, Ordering::SeqCst);
    let node = TestNode::new(&recorder).await;
    node.connection(&url).await;
    let extra = json!({"nak_delay": 0.2, "max_deliver": 5});
    node.put(
        Section::Channels,
        "in",
        channel("in", &stream, &subject, extra),
    )
    .await;
    node.platform.start().await.unwrap();
    bus.publish(&subject, json!({"id": "7"})).await;

    assert!(
        eventually(PATIENCE, || node.stats("in").acked == 1).await,
        "{:?}",
        node.stats("in")
    );
    let stats = node.stats("in");
    assert_eq!((stats.failed, stats.naked, stats.dead_lettered), (2, 2, 0));
    assert_eq!(recorder.ids(), ["7", "7", "7"]);
    let delivered: Vec<String> = (0..3)
        .map(|n| {
            recorder
                .params(n)
                .into_iter()
                .find(|(k, _)| k == "delivered")
                .unwrap()
                .1
        })
        .collect();
    assert_eq!(delivered, ["1", "2", "3"]);
    let dead = bus
        .read(
            &stream,
            &format!("{subject}.dead"),
            1,
            Duration::from_secs(2),
        )
        .await;
    assert!(dead.is_empty(), "nothing dead-lettered");
    node.platform.shutdown().await;
    bus.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a NATS server with JetStream (ZATO_TEST_NATS_URL)"]
async fn a_poison_message_is_dead_lettered_with_its_error_after_max_deliver() {
    let url = url();
    let bus = Bus::new(&url).await;
    let (stream, subject) = (unique("S"), unique("invoices"));
    let dead_subject = format!("{subject}.dead");
    bus.stream(&stream, &[&subject, &dead_subject]).await;
    let recorder = Recorder::default();
    recorder.failing.store(true, Ordering::SeqCst);
    let node = TestNode::new(&recorder).await;
    node.connection(&url).await;
    let extra = json!({"nak_delay": 0.1, "max_deliver": 3});
    node.put(
        Section::Channels,
        "in",
        channel("in", &stream, &subject, extra),
    )
    .await;
    node.platform.start().await.unwrap();
    bus.publish(&subject, json!({"id": "poison"})).await;
    // Malformed input is the sender's fault: dead-lettered at once, the service never sees it.
    bus.publish_raw(&subject, b"{not json".to_vec()).await;

    let dead = bus.read(&stream, &dead_subject, 2, PATIENCE).await;
    assert_eq!(dead.len(), 2, "{:?}", node.stats("in"));
    let poison = dead
        .iter()
        .find(|m| m.payload.as_ref() == br#"{"id":"poison"}"#)
        .expect("the poison message, as sent");
    let error = header(poison, ERROR_HEADER).unwrap();
    assert!(error.contains("the ledger is down"), "{error}");
    assert_eq!(header(poison, STATUS_HEADER).as_deref(), Some("500"));
    assert_eq!(header(poison, "Zato-Delivered").as_deref(), Some("3"));
    assert_eq!(recorder.ids(), ["poison", "poison", "poison"]);
    let malformed = dead
        .iter()
        .find(|m| m.payload.as_ref() == b"{not json")
        .expect("the malformed message");
    assert_eq!(header(malformed, STATUS_HEADER).as_deref(), Some("400"));
    assert_eq!(header(malformed, "Zato-Delivered").as_deref(), Some("1"));
    assert!(
        eventually(PATIENCE, || node.stats("in").dead_lettered == 2).await,
        "{:?}",
        node.stats("in")
    );
    // Settled: it does not come again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(recorder.ids().len(), 3);
    node.platform.shutdown().await;
    bus.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a NATS server with JetStream (ZATO_TEST_NATS_URL)"]
async fn a_node_restarted_loses_nothing_published_while_it_was_down() {
    let url = url();
    let bus = Bus::new(&url).await;
    let (stream, subject) = (unique("S"), unique("invoices"));
    // The channel declares its stream; the test deletes it.
    bus.forget_later(&stream);
    let object = channel(
        "in",
        &stream,
        &subject,
        json!({"declare": true, "concurrency": 4}),
    );

    let first = Recorder {
        delay: Duration::from_millis(20),
        ..Recorder::default()
    };
    let node = TestNode::new(&first).await;
    node.connection(&url).await;
    node.put(Section::Channels, "in", object.clone()).await;
    node.platform.start().await.unwrap();
    for i in 0..20 {
        bus.publish(&subject, json!({"id": format!("a{i}")})).await;
    }
    assert_eq!(first.wait_for(20, PATIENCE).await.len(), 20);
    node.platform.shutdown().await;
    drop(node);

    for i in 0..30 {
        bus.publish(&subject, json!({"id": format!("b{i}")})).await;
    }
    let second = Recorder::default();
    let node = TestNode::new(&second).await;
    node.connection(&url).await;
    node.put(Section::Channels, "in", object).await;
    node.platform.start().await.unwrap();
    let ids = second.wait_for(30, PATIENCE).await;
    let expected: HashSet<String> = (0..30).map(|i| format!("b{i}")).collect();
    assert!(
        expected.is_subset(&ids),
        "missing {:?}",
        expected.difference(&ids)
    );
    node.platform.shutdown().await;
    bus.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a NATS server with JetStream (ZATO_TEST_NATS_URL)"]
async fn live_edits_while_messages_flow_lose_nothing() {
    let url = url();
    let bus = Bus::new(&url).await;
    let (stream, subject) = (unique("S"), unique("invoices"));
    bus.stream(&stream, &[&subject, &format!("{subject}.dead")])
        .await;
    let recorder = Recorder {
        delay: Duration::from_millis(5),
        ..Recorder::default()
    };
    let node = TestNode::new(&recorder).await;
    node.connection(&url).await;
    node.put(
        Section::Channels,
        "in",
        channel("in", &stream, &subject, json!({"concurrency": 2})),
    )
    .await;
    node.platform.start().await.unwrap();

    const N: usize = 400;
    let publisher = {
        let (url, subject) = (url.clone(), subject.clone());
        tokio::spawn(async move {
            let bus = Bus::new(&url).await;
            for i in 0..N {
                bus.publish(&subject, json!({"id": i.to_string()})).await;
                if i % 50 == 0 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        })
    };
    // The channel edited twice and its connection once, while the publisher goes on.
    assert!(eventually(PATIENCE, || recorder.ids().len() > 20).await);
    node.put(
        Section::Channels,
        "in",
        channel("in", &stream, &subject, json!({"concurrency": 8})),
    )
    .await;
    assert!(eventually(PATIENCE, || recorder.ids().len() > 150).await);
    node.put(
        Section::Outgoing,
        "bus",
        json!({"name": "bus", "url": url, "timeout": 20.0}),
    )
    .await;
    node.put(
        Section::Channels,
        "in",
        channel(
            "in",
            &stream,
            &subject,
            json!({"concurrency": 3, "nak_delay": 1.0}),
        ),
    )
    .await;
    publisher.await.unwrap();
    let ids = recorder.wait_for(N, PATIENCE).await;
    assert_eq!(
        ids.len(),
        N,
        "lost {:?}",
        (0..N)
            .map(|i| i.to_string())
            .filter(|i| !ids.contains(i))
            .collect::<Vec<_>>()
    );
    assert!(node.stats("in").consuming);
    node.platform.shutdown().await;
    bus.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a NATS server with JetStream (ZATO_TEST_NATS_URL)"]
async fn a_cut_connection_is_recovered_and_nothing_is_lost() {
    let url = url();
    let bus = Bus::new(&url).await;
    let (stream, subject) = (unique("S"), unique("invoices"));
    bus.stream(&stream, &[&subject, &format!("{subject}.dead")])
        .await;
    // The node reaches the server through a proxy that the test cuts, as a server restart
    // would, without touching the server other tests use.
    let proxy = Proxy::start(&url).await;
    let recorder = Recorder {
        delay: Duration::from_millis(10),
        ..Recorder::default()
    };
    let node = TestNode::new(&recorder).await;
    node.connection(&proxy.url).await;
    node.put(
        Section::Channels,
        "in",
        channel("in", &stream, &subject, json!({"timeout": 3.0})),
    )
    .await;
    node.platform.start().await.unwrap();

    const N: usize = 200;
    for i in 0..N / 2 {
        bus.publish(&subject, json!({"id": i.to_string()})).await;
    }
    assert!(eventually(PATIENCE, || recorder.ids().len() > 10).await);
    proxy.cut();
    for i in N / 2..N {
        bus.publish(&subject, json!({"id": i.to_string()})).await;
    }
    let ids = recorder.wait_for(N, PATIENCE).await;
    assert_eq!(ids.len(), N, "{:?}", node.stats("in"));
    let stats = node.stats("in");
    assert!(stats.disconnects >= 1, "{stats:?}");
    // The outgoing connection, through the same proxy, recovered as well.
    let conn = node.platform.outgoing().nats("bus").unwrap();
    let mut published = None;
    for _ in 0..100 {
        if let Ok(p) = conn.publish(&subject, r#"{"id":"after"}"#).await {
            published = Some(p);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(published.unwrap().stream, stream);
    assert!(recorder.wait_for(N + 1, PATIENCE).await.contains("after"));
    node.platform.shutdown().await;
    bus.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a NATS server with JetStream (ZATO_TEST_NATS_URL)"]
async fn a_core_request_is_answered_with_the_services_output() {
    let url = url();
    let subject = unique("rpc");
    let recorder = Recorder::default();
    let node = TestNode::new(&recorder).await;
    node.connection(&url).await;
    node.put(
        Section::Channels,
        "rpc",
        json!({"name": "rpc", "connection": "bus", "mode": "core", "subject": subject,
               "queue_group": "workers", "service": "test.recorder"}),
    )
    .await;
    node.platform.start().await.unwrap();
    assert!(node.adapter.is_consuming("rpc"));

    let conn = node.platform.outgoing().nats("bus").unwrap();
    let reply = conn.request(&subject, r#"{"id":"42"}"#).await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(body["id"], "42");
    assert_eq!(reply.header(STATUS_HEADER), Some("200"));

    recorder.failing.store(true, Ordering::SeqCst);
    let reply = conn.request(&subject, r#"{"id":"43"}"#).await.unwrap();
    assert_eq!(reply.header(STATUS_HEADER), Some("500"));
    let bad = conn.request(&subject, "{oops").await.unwrap();
    assert_eq!(bad.header(STATUS_HEADER), Some("400"));

    // A core publication reaches the channel too, with no reply to send.
    conn.publish_core(&subject, r#"{"id":"44"}"#).await.unwrap();
    assert!(recorder.wait_for(3, PATIENCE).await.contains("44"));
    let stats = node.stats("rpc");
    assert_eq!(stats.replies_sent, 3, "{stats:?}");

    // Nobody on a subject: a 503 naming the connection, at once.
    let err = conn.request(&unique("nobody"), "{}").await.unwrap_err();
    assert_eq!(err.connection(), "bus");
    assert_eq!(zato_core::ServiceError::from(err).status().as_u16(), 503);
    node.platform.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a NATS server with JetStream (ZATO_TEST_NATS_URL)"]
async fn outgoing_publishes_wait_for_jetstream_and_errors_name_the_connection() {
    let url = url();
    let bus = Bus::new(&url).await;
    let (stream, subject) = (unique("S"), unique("out"));
    bus.stream(&stream, &[&subject]).await;
    let recorder = Recorder::default();
    let node = TestNode::new(&recorder).await;
    node.connection(&url).await;
    let conn = node.platform.outgoing().nats("bus").unwrap();
    let first = conn
        .publish_with_headers(&subject, &[("Nats-Msg-Id", "inv-1")], "one")
        .await
        .unwrap();
    assert_eq!(
        (first.stream.as_str(), first.sequence, first.duplicate),
        (stream.as_str(), 1, false)
    );
    let again = conn
        .publish_with_headers(&subject, &[("Nats-Msg-Id", "inv-1")], "one")
        .await
        .unwrap();
    assert!(again.duplicate);
    let stored = bus.read(&stream, &subject, 1, PATIENCE).await;
    assert_eq!(stored[0].payload.as_ref(), b"one");

    // No stream takes the subject: refused, not silently dropped.
    let err = conn.publish(&unique("nowhere"), "x").await.unwrap_err();
    assert_eq!(err.connection(), "bus");
    assert!(zato_core::ServiceError::from(err).status().as_u16() >= 500);

    // Inactive: a 503 without touching the server.
    node.put(
        Section::Outgoing,
        "bus",
        json!({"name": "bus", "url": url, "is_active": false}),
    )
    .await;
    let err = conn.publish(&subject, "x").await.unwrap_err();
    assert_eq!(zato_core::ServiceError::from(err).status().as_u16(), 503);
    // A server nobody listens at: ping says so, within its timeout.
    let down = NatsConnection::new(
        serde_json::from_value(
            json!({"name": "down", "url": "nats://127.0.0.1:1", "timeout": 0.5}),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    assert!(down.ping().await.is_err());
    bus.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a NATS server with JetStream (ZATO_TEST_NATS_URL)"]
async fn deactivating_then_removing_a_channel_stops_it_and_leaves_its_messages_for_later() {
    let url = url();
    let bus = Bus::new(&url).await;
    let (stream, subject) = (unique("S"), unique("invoices"));
    bus.stream(&stream, &[&subject, &format!("{subject}.dead")])
        .await;
    let recorder = Recorder::default();
    let node = TestNode::new(&recorder).await;
    node.connection(&url).await;
    node.put(
        Section::Channels,
        "in",
        channel("in", &stream, &subject, json!({})),
    )
    .await;
    node.platform.start().await.unwrap();
    assert!(node.adapter.is_consuming("in"));
    node.put(
        Section::Channels,
        "in",
        channel("in", &stream, &subject, json!({"is_active": false})),
    )
    .await;
    assert!(!node.adapter.is_consuming("in"));
    assert_eq!(node.adapter.channels().len(), 1);
    node.runtime
        .delete(
            &ObjectKey::new(Section::Channels, "nats", "in"),
            None,
            "test",
        )
        .await
        .unwrap();
    assert!(node.adapter.channels().is_empty());
    bus.publish(&subject, json!({"id": "later"})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(recorder.ids().is_empty());
    assert_eq!(
        bus.backlog(&stream, "zato-in").await.0,
        1,
        "kept for the durable consumer"
    );
    node.platform.shutdown().await;
    bus.cleanup().await;
}

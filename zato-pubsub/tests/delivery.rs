//! Delivery on the embedded store and on PostgreSQL: order, patterns, retries and the
//! dead-letter topic, retention, a full topic, pull with ack and lease, push to a partner, a
//! restart, two nodes sharing one subscription, and a node killed mid-delivery.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use support::{Backend, Behaviour, Place, Recorder, node, with_place};
use zato_pubsub::{Delivery, NewMessage, PubSubError, StoreError, SubscriptionConfig, TopicConfig};

const WAIT: Duration = Duration::from_secs(10);

fn to_service(name: &str, topic: &str) -> SubscriptionConfig {
    let mut s = SubscriptionConfig::new(name, topic, Delivery::Service);
    s.service = Some("test.recorder".into());
    s.backoff = 20;
    s.max_backoff = 100;
    s
}

fn pull(name: &str, topic: &str) -> SubscriptionConfig {
    SubscriptionConfig::new(name, topic, Delivery::Pull)
}

fn text(messages: &[zato_pubsub::Message]) -> Vec<String> {
    messages
        .iter()
        .map(|m| String::from_utf8_lossy(&m.data).into_owned())
        .collect()
}

macro_rules! on_both {
    ($test:ident, $sqlite:ident, $pg:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() {
            with_place(Backend::Sqlite, $test).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[ignore = "needs PostgreSQL: ZATO_TEST_PG_URL"]
        async fn $pg() {
            with_place(Backend::Postgres, $test).await;
        }
    };
}

async fn order_per_subscription(place: Place) {
    let recorder = Recorder::new(Behaviour::Take);
    let (_platform, pubsub) = node(&place, &recorder).await;
    pubsub.put_topic(TopicConfig::new("invoices.stored"));
    let mut sub = to_service("audit", "invoices.stored");
    sub.batch_size = 7;
    pubsub.put_subscription(sub).await.unwrap();
    let sent: Vec<String> = (0..200).map(|i| format!("{{\"n\":{i}}}")).collect();
    for data in &sent {
        pubsub
            .publish("invoices.stored", data.clone(), "test")
            .await
            .unwrap();
    }
    assert_eq!(recorder.wait_for(200, WAIT).await, sent);
    pubsub.shutdown();
}
on_both!(order_per_subscription, order_sqlite, order_pg);

async fn patterns(place: Place) {
    let recorder = Recorder::new(Behaviour::Take);
    let (_platform, pubsub) = node(&place, &recorder).await;
    for topic in [
        "invoices",
        "invoices.stored",
        "invoices.stored.crm",
        "orders.stored",
    ] {
        pubsub.put_topic(TopicConfig::new(topic));
    }
    for (name, pattern) in [
        ("one", "invoices.*"),
        ("many", "invoices.**"),
        ("exact", "invoices.stored"),
        ("stored", "*.stored"),
    ] {
        pubsub.put_subscription(pull(name, pattern)).await.unwrap();
    }
    for topic in [
        "invoices",
        "invoices.stored",
        "invoices.stored.crm",
        "orders.stored",
    ] {
        pubsub
            .publish(topic, topic.to_owned(), "test")
            .await
            .unwrap();
    }
    let got = |name: &'static str| {
        let pubsub = pubsub.clone();
        async move { text(&pubsub.pull(name, 100).await.unwrap()) }
    };
    assert_eq!(got("one").await, ["invoices.stored"]);
    assert_eq!(
        got("many").await,
        ["invoices.stored", "invoices.stored.crm"]
    );
    assert_eq!(got("exact").await, ["invoices.stored"]);
    assert_eq!(got("stored").await, ["invoices.stored", "orders.stored"]);
    // No subscription takes `invoices`: nothing was kept.
    let ids = pubsub.publish("invoices", "again", "test").await.unwrap();
    assert_eq!(ids, None);
}
on_both!(patterns, patterns_sqlite, patterns_pg);

async fn retries_then_dead_letter(place: Place) {
    let recorder = Recorder::new(Behaviour::Fail);
    let (_platform, pubsub) = node(&place, &recorder).await;
    pubsub.put_topic(TopicConfig::new("invoices.stored"));
    pubsub.put_topic(TopicConfig::new("invoices.dead"));
    let mut sub = to_service("audit", "invoices.stored");
    sub.max_attempts = 3;
    sub.dead_letter_topic = Some("invoices.dead".into());
    pubsub.put_subscription(sub).await.unwrap();
    pubsub
        .put_subscription(pull("dead", "invoices.dead"))
        .await
        .unwrap();
    pubsub
        .publish("invoices.stored", "{\"id\":\"1\"}", "test")
        .await
        .unwrap();
    pubsub
        .publish("invoices.stored", "{\"id\":\"2\"}", "test")
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut dead = Vec::new();
    while dead.len() < 2 && tokio::time::Instant::now() < deadline {
        let got = pubsub.pull("dead", 10).await.unwrap();
        let ids: Vec<i64> = got.iter().map(|m| m.id).collect();
        pubsub.ack("dead", &ids).await.unwrap();
        dead.extend(got);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(text(&dead), ["{\"id\":\"1\"}", "{\"id\":\"2\"}"]);
    assert!(
        dead[0].headers["last_error"].contains("the audit log is down"),
        "{:?}",
        dead[0].headers
    );
    assert_eq!(dead[0].headers["dead_letter_topic"], "invoices.stored");
    assert_eq!(dead[0].headers["dead_letter_subscription"], "audit");
    // Three attempts each, in order: the second only after the first was dead.
    assert_eq!(recorder.calls.load(std::sync::atomic::Ordering::SeqCst), 6);
    let stats = pubsub.subscription_stats().await.unwrap();
    let audit = stats.iter().find(|s| s.name == "audit").unwrap();
    assert_eq!((audit.queue.depth, audit.dead, audit.failed), (0, 2, 6));
    pubsub.shutdown();
}
on_both!(retries_then_dead_letter, dead_letter_sqlite, dead_letter_pg);

async fn dead_without_a_topic_stays(place: Place) {
    let recorder = Recorder::new(Behaviour::Fail);
    let (_platform, pubsub) = node(&place, &recorder).await;
    pubsub.put_topic(TopicConfig::new("t"));
    let mut sub = to_service("s", "t");
    sub.max_attempts = 2;
    pubsub.put_subscription(sub).await.unwrap();
    pubsub.publish("t", "1", "test").await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let stats = pubsub.store().subscription_stats("s").await.unwrap();
        if stats.dead == 1 {
            assert_eq!(stats.depth, 1, "kept, marked dead");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never dead: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pubsub.shutdown();
}
on_both!(dead_without_a_topic_stays, dead_kept_sqlite, dead_kept_pg);

async fn retention(place: Place) {
    let recorder = Recorder::new(Behaviour::Take);
    let (_platform, pubsub) = node(&place, &recorder).await;
    let mut topic = TopicConfig::new("short");
    topic.max_age = 1;
    pubsub.put_topic(topic);
    pubsub.put_topic(TopicConfig::new("long"));
    pubsub.put_subscription(pull("s", "*")).await.unwrap();
    pubsub.publish("short", "old", "test").await.unwrap();
    pubsub.publish("long", "kept", "test").await.unwrap();
    let expiring = NewMessage {
        data: "expires".into(),
        expires_at: Some(zato_now() + 200),
        ..NewMessage::default()
    };
    pubsub.publish_many("long", vec![expiring]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(pubsub.enforce_retention().await, 2);
    assert_eq!(text(&pubsub.pull("s", 10).await.unwrap()), ["kept"]);
}
on_both!(retention, retention_sqlite, retention_pg);

fn zato_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn full_topic(place: Place) {
    let recorder = Recorder::new(Behaviour::Take);
    let (_platform, pubsub) = node(&place, &recorder).await;
    let mut topic = TopicConfig::new("t");
    topic.max_depth = 3;
    topic.max_message_size = 10;
    pubsub.put_topic(topic);
    // Paused: keeps what is published.
    let mut sub = to_service("s", "t");
    sub.is_active = false;
    pubsub.put_subscription(sub.clone()).await.unwrap();
    for i in 0..3 {
        pubsub.publish("t", format!("{i}"), "test").await.unwrap();
    }
    let err = pubsub.publish("t", "3", "test").await.unwrap_err();
    assert!(
        matches!(
            err,
            PubSubError::Store(StoreError::TopicFull {
                depth: 3,
                max_depth: 3,
                ..
            })
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "topic `t` is full: it holds 3 messages, at most 3"
    );
    assert_eq!(zato_core::ServiceError::from(err).status().as_u16(), 409);
    let big = pubsub
        .publish("t", "x".repeat(11), "test")
        .await
        .unwrap_err();
    assert_eq!(zato_core::ServiceError::from(big).status().as_u16(), 400);
    let none = pubsub.publish("nope", "x", "test").await.unwrap_err();
    assert_eq!(zato_core::ServiceError::from(none).status().as_u16(), 404);
    assert!(recorder.seen().is_empty(), "paused");
    sub.is_active = true;
    pubsub.put_subscription(sub).await.unwrap();
    assert_eq!(recorder.wait_for(3, WAIT).await, ["0", "1", "2"]);
    // Delivered, the topic takes publications again.
    let deadline = tokio::time::Instant::now() + WAIT;
    while pubsub.store().topic_stats("t").await.unwrap().depth > 0 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    pubsub.publish("t", "4", "test").await.unwrap();
    pubsub.shutdown();
}
on_both!(full_topic, full_topic_sqlite, full_topic_pg);

async fn pull_ack_and_lease(place: Place) {
    let recorder = Recorder::new(Behaviour::Take);
    let (_platform, pubsub) = node(&place, &recorder).await;
    pubsub.put_topic(TopicConfig::new("t"));
    let mut sub = pull("p", "t");
    sub.lease = 300;
    pubsub.put_subscription(sub).await.unwrap();
    for i in 0..3 {
        pubsub.publish("t", format!("{i}"), "test").await.unwrap();
    }
    let first = pubsub.pull("p", 2).await.unwrap();
    assert_eq!(text(&first), ["0", "1"]);
    // A batch is out: nothing more until it is acknowledged or its lease ends.
    assert!(pubsub.pull("p", 2).await.unwrap().is_empty());
    assert_eq!(pubsub.ack("p", &[first[0].id]).await.unwrap(), 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let again = pubsub.pull("p", 5).await.unwrap();
    assert_eq!(text(&again), ["1", "2"]);
    assert_eq!(again[0].deliveries, 2, "handed out a second time");
    assert_eq!(again[1].deliveries, 1);
    let ids: Vec<i64> = again.iter().map(|m| m.id).collect();
    assert_eq!(pubsub.ack("p", &ids).await.unwrap(), 2);
    assert!(pubsub.pull("p", 5).await.unwrap().is_empty());
    assert_eq!(pubsub.store().topic_stats("t").await.unwrap().depth, 0);
    let err = pubsub.pull("nope", 1).await.unwrap_err();
    assert!(matches!(err, PubSubError::NoSuchSubscription(_)));
}
on_both!(pull_ack_and_lease, pull_sqlite, pull_pg);

async fn restart_loses_nothing(place: Place) {
    let recorder = Recorder::new(Behaviour::Take);
    {
        let (_platform, pubsub) = node(&place, &recorder).await;
        pubsub.put_topic(TopicConfig::new("t"));
        let mut sub = to_service("s", "t");
        sub.is_active = false;
        pubsub.put_subscription(sub).await.unwrap();
        for i in 0..5 {
            pubsub.publish("t", format!("{i}"), "test").await.unwrap();
        }
        pubsub.shutdown();
    }
    let (_platform, pubsub) = node(&place, &recorder).await;
    pubsub.put_topic(TopicConfig::new("t"));
    pubsub.put_subscription(to_service("s", "t")).await.unwrap();
    assert_eq!(recorder.wait_for(5, WAIT).await, ["0", "1", "2", "3", "4"]);
    pubsub.shutdown();
}
on_both!(restart_loses_nothing, restart_sqlite, restart_pg);

async fn push_to_a_partner(place: Place) {
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let partner = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/invoices"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&partner)
        .await;
    Mock::given(method("POST"))
        .and(path("/hooks/invoices"))
        .and(header("X-Zato-PubSub-topic", "invoices.stored"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&partner)
        .await;
    let recorder = Recorder::new(Behaviour::Take);
    let (platform, pubsub) = node(&place, &recorder).await;
    let mut rest = zato_rest::RestConfig::new("partner", partner.uri());
    rest.retries = 0;
    let conn = zato_rest::HttpConnection::standalone(rest).unwrap();
    platform.outgoing().insert("partner", Arc::new(conn));
    pubsub.put_topic(TopicConfig::new("invoices.stored"));
    let mut sub = SubscriptionConfig::new("partner", "invoices.*", Delivery::Push);
    sub.outgoing = Some("partner".into());
    sub.push_path = "/hooks/invoices".into();
    sub.backoff = 20;
    pubsub.put_subscription(sub).await.unwrap();
    pubsub
        .publish("invoices.stored", "{\"id\":\"123\"}", "test")
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while pubsub
        .store()
        .subscription_stats("partner")
        .await
        .unwrap()
        .depth
        > 0
    {
        assert!(tokio::time::Instant::now() < deadline, "never delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let received = partner.received_requests().await.unwrap();
    assert_eq!(received.len(), 3, "two failures, then the delivery");
    assert!(received.iter().all(|r| r.body == b"{\"id\":\"123\"}"));
    let stats = pubsub.subscription_stats().await.unwrap();
    assert_eq!(
        (stats[0].delivered, stats[0].redelivered, stats[0].failed),
        (1, 1, 2)
    );
    pubsub.shutdown();
}
on_both!(push_to_a_partner, push_sqlite, push_pg);

/// Two nodes on one PostgreSQL schema, one subscription: 10,000 messages, each delivered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: ZATO_TEST_PG_URL"]
async fn two_nodes_share_a_subscription_pg() {
    with_place(Backend::Postgres, |place| async move {
        let a = Recorder::new(Behaviour::Take);
        let b = Recorder::new(Behaviour::Take);
        let (_pa, node_a) = node(&place, &a).await;
        let (_pb, node_b) = node(&place, &b).await;
        for pubsub in [&node_a, &node_b] {
            let mut topic = TopicConfig::new("load");
            topic.max_depth = 20_000;
            pubsub.put_topic(topic);
            let mut sub = to_service("load", "load");
            sub.batch_size = 250;
            pubsub.put_subscription(sub).await.unwrap();
        }
        for chunk in 0..20 {
            let batch = (0..500)
                .map(|i| NewMessage {
                    data: format!("{}", chunk * 500 + i).into(),
                    publisher: "test".into(),
                    ..NewMessage::default()
                })
                .collect();
            let publisher = if chunk % 2 == 0 { &node_a } else { &node_b };
            publisher.publish_many("load", batch).await.unwrap();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while a.seen().len() + b.seen().len() < 10_000 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // A moment more, for a duplicate to show up if there were one.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let all: Vec<String> = a.seen().into_iter().chain(b.seen()).collect();
        let unique: HashSet<&String> = all.iter().collect();
        assert_eq!(all.len(), 10_000, "delivered");
        assert_eq!(unique.len(), 10_000, "none twice");
        assert_eq!(node_a.store().topic_stats("load").await.unwrap().depth, 0);
        node_a.shutdown();
        node_b.shutdown();
    })
    .await;
}

/// A node dies holding a batch: the other delivers it after the lease, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: ZATO_TEST_PG_URL"]
async fn a_killed_node_s_messages_go_to_the_other_pg() {
    with_place(Backend::Postgres, |place| async move {
        let hanging = Recorder::new(Behaviour::Hang);
        let (_pa, node_a) = node(&place, &hanging).await;
        let mut sub = to_service("s", "t");
        sub.lease = 500;
        node_a.put_topic(TopicConfig::new("t"));
        node_a.put_subscription(sub.clone()).await.unwrap();
        for i in 0..3 {
            node_a.publish("t", format!("{i}"), "test").await.unwrap();
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        while hanging.calls.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            assert!(tokio::time::Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        node_a.shutdown();
        let taking = Recorder::new(Behaviour::Take);
        let (_pb, node_b) = node(&place, &taking).await;
        node_b.put_topic(TopicConfig::new("t"));
        node_b.put_subscription(sub).await.unwrap();
        assert_eq!(taking.wait_for(3, WAIT).await, ["0", "1", "2"]);
        node_b.shutdown();
    })
    .await;
}

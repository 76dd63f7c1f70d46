//! Retries and `Retry-After`, no retry of a POST by default, the circuit breaker, timeouts,
//! pool exhaustion, typed errors, ping, and the connection's metrics.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use support::Node;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};
use zato_core::ServiceError;
use zato_core::config::Section;
use zato_rest::{BreakerState, RestErrorKind};

/// Answers 503 with `Retry-After: 1` first, then 200; records when each request came.
#[derive(Clone, Default)]
struct BusyOnce(Arc<Mutex<Vec<Instant>>>);

impl Respond for BusyOnce {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        let mut seen = self.0.lock().unwrap();
        seen.push(Instant::now());
        if seen.len() == 1 {
            ResponseTemplate::new(503).insert_header("Retry-After", "1")
        } else {
            ResponseTemplate::new(200).set_body_json(json!({"ok": true}))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_with_retry_after_is_retried_after_the_time_it_asks() {
    let server = MockServer::start().await;
    let busy = BusyOnce::default();
    Mock::given(method("GET"))
        .respond_with(busy.clone())
        .mount(&server)
        .await;
    let node = Node::new().await;
    let conn = node
        .http(json!({"name": "CRM", "address": server.uri(), "retries": 2, "retry_backoff": 0.01}))
        .await;
    let reply: serde_json::Value = conn.get("/x").await.unwrap().json().unwrap();
    assert_eq!(reply["ok"], true);
    let seen = busy.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(conn.stats().retries, 1);
    // The retry waited as asked.
    assert!(seen[1].duration_since(seen[0]) >= Duration::from_millis(950));

    // A Retry-After beyond the bound on waiting is not waited for: the 503 comes back.
    server.reset().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "120"))
        .mount(&server)
        .await;
    let reply = conn.get("/x").await.unwrap();
    assert_eq!(reply.status(), 503);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    let err = reply.error_for_status().unwrap_err();
    assert_eq!(ServiceError::from(err).status(), 502);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_is_not_retried_unless_the_connection_says_so() {
    let server = MockServer::start().await;
    Mock::given(path("/invoices"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    let node = Node::new().await;
    let conn = node
        .http(json!({"name": "CRM", "address": server.uri(), "retries": 3, "retry_backoff": 0.01}))
        .await;
    let reply = conn.post("/invoices", &json!({"id": 1})).await.unwrap();
    assert_eq!(reply.status(), 502);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    // A GET is retried.
    conn.get("/invoices").await.unwrap();
    assert_eq!(server.received_requests().await.unwrap().len(), 1 + 4);

    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    node.patch(
        Section::Outgoing,
        "http",
        "CRM",
        json!({"retry_non_idempotent": true}),
    )
    .await
    .unwrap();
    conn.post("/invoices", &json!({"id": 1})).await.unwrap();
    assert_eq!(server.received_requests().await.unwrap().len(), 4);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_opens_answers_at_once_and_a_probe_closes_it() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let node = Node::new().await;
    let conn = node
        .http(json!({"name": "CRM", "address": server.uri(), "retries": 0,
                     "breaker_failures": 3, "breaker_cooldown": 1.0}))
        .await;
    for _ in 0..3 {
        assert_eq!(conn.get("/x").await.unwrap().status(), 500);
    }
    assert_eq!(conn.stats().breaker, BreakerState::Open);
    let err = conn.get("/x").await.unwrap_err();
    assert!(
        matches!(err.kind(), RestErrorKind::BreakerOpen { failures: 3, .. }),
        "{err}"
    );
    let service = ServiceError::from(err);
    assert_eq!(service.status(), 503);
    assert!(service.to_string().contains("`CRM`"), "{service}");
    // Answered without reaching the remote system.
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
    let metrics = node.platform.metrics().render();
    assert!(
        metrics.contains(r#"zato_outgoing_http_breaker_state{kind="http",connection="CRM"} 1"#),
        "{metrics}"
    );

    server.reset().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(conn.get("/x").await.unwrap().status(), 200, "the probe");
    assert_eq!(conn.stats().breaker, BreakerState::Closed);
    assert_eq!(conn.get("/x").await.unwrap().status(), 200);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_is_a_504_naming_the_connection() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let node = Node::new().await;
    let conn = node
        .http(json!({"name": "Slow", "address": server.uri(), "timeout": 0.3, "retries": 0}))
        .await;
    let err = conn.get("/x").await.unwrap_err();
    assert!(matches!(err.kind(), RestErrorKind::Timeout(_)), "{err}");
    let service = ServiceError::from(err);
    assert_eq!(service.status(), 504);
    assert!(service.to_string().contains("`Slow`"), "{service}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_pool_answers_503_after_the_bounded_wait() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let node = Node::new().await;
    let conn = node
        .http(json!({"name": "Small", "address": server.uri(), "pool_size": 1, "pool_wait": 0.2}))
        .await;
    let busy = {
        let conn = conn.clone();
        tokio::spawn(async move { conn.get("/x").await.map(|r| r.status().as_u16()) })
    };
    // Wait until the one slot is taken.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.received_requests().await.unwrap().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let err = conn.get("/x").await.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            RestErrorKind::PoolExhausted { pool_size: 1, .. }
        ),
        "{err}"
    );
    assert_eq!(ServiceError::from(err).status(), 503);
    assert_eq!(busy.await.unwrap().unwrap(), 200);
    let stats = conn.stats();
    assert_eq!((stats.pool_waits, stats.pool_timeouts), (1, 1));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_address_is_a_502_and_an_inactive_connection_a_503() {
    let node = Node::new().await;
    // A port nothing listens on: bound and dropped.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conn = node
        .http(json!({"name": "Gone", "address": format!("http://127.0.0.1:{port}"), "retries": 0}))
        .await;
    let err = conn.get("/x").await.unwrap_err();
    assert!(matches!(err.kind(), RestErrorKind::Connect(_)), "{err}");
    assert_eq!(err.status(), 502);
    let ping = node
        .runtime
        .ping(&support::key(Section::Outgoing, "http", "Gone"))
        .await
        .unwrap();
    assert!(ping.is_err(), "{ping:?}");

    node.patch(
        Section::Outgoing,
        "http",
        "Gone",
        json!({"is_active": false}),
    )
    .await
    .unwrap();
    let err = conn.get("/x").await.unwrap_err();
    assert_eq!(err.status(), 503);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_sends_the_ping_method_and_metrics_count_by_class() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/health"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/missing"))
        .respond_with(ResponseTemplate::new(404).set_body_string("no such invoice"))
        .mount(&server)
        .await;
    let node = Node::new().await;
    let conn = node
        .http(json!({"name": "CRM", "address": server.uri(), "ping_method": "GET", "ping_path": "/health"}))
        .await;
    let said = node
        .runtime
        .ping(&support::key(Section::Outgoing, "http", "CRM"))
        .await
        .unwrap()
        .unwrap();
    assert!(said.contains("GET /health answered 204"), "{said}");
    conn.get("/health").await.unwrap();
    let reply = conn.get("/missing").await.unwrap();
    let err = reply.error_for_status().unwrap_err();
    assert!(
        err.to_string().contains("404") && err.to_string().contains("no such invoice"),
        "{err}"
    );
    let stats = conn.stats();
    assert_eq!(stats.answered[1], 1);
    assert_eq!(stats.answered[3], 1);
    let metrics = node.platform.metrics().render();
    assert!(
        metrics.contains(
            r#"zato_outgoing_http_requests_total{kind="http",connection="CRM",class="4xx"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("zato_outgoing_http_latency_seconds_bucket"),
        "{metrics}"
    );
    node.shutdown().await;
}

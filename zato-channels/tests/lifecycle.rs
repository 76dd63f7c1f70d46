//! Concurrency, live reconfiguration and graceful shutdown.
#![cfg(feature = "http")]
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] functions; a test fails loudly on what it did not expect"
)]

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use support::*;
use zato_channels::{ChannelAdapter, ChannelError, HttpChannelConfig, HttpServer};

async fn server(gate: &Gate) -> TestServer {
    let platform = platform();
    platform.services().deploy(gate.clone()).unwrap();
    let channels = vec![
        HttpChannelConfig::new("gate", "/gate", "demo.gate"),
        HttpChannelConfig::new("empty", "/empty", "demo.empty"),
        HttpChannelConfig::new("json", "/invoice.dispatcher", "invoice.dispatcher"),
    ];
    TestServer::start(platform, channels, vec![]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_requests() {
    let gate = Gate::new();
    let s = Arc::new(server(&gate).await);
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move { s.get("/gate").await }));
    }
    // All hundred are inside the service at once before any is let out.
    gate.wait_entered(100).await;
    gate.open(100);
    let mut cids = HashSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "{r:?}");
        cids.insert(r.cid().to_owned());
    }
    assert_eq!(cids.len(), 100, "every request has its own cid");

    let mut tasks = Vec::new();
    for i in 0..100 {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            let r = s.get(&format!("/invoice.dispatcher?target=T{i}")).await;
            (i, r)
        }));
    }
    for t in tasks {
        let (i, r) = t.await.unwrap();
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.json()["stored"][0], format!("T{i}"));
    }
    Arc::into_inner(s).unwrap().stop().await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_requests_in_flight() {
    let gate = Gate::new();
    let s = server(&gate).await;
    let addr = s.server.local_addr();

    let mut kept_alive = RawConn::connect(addr).await.unwrap();
    assert_eq!(kept_alive.get("/empty").await.unwrap().0, 204);

    let client = s.client.clone();
    let url = s.url("/gate");
    let in_flight = tokio::spawn(async move { client.get(url).send().await.unwrap().status() });
    gate.wait_entered(1).await;

    let done = tokio::spawn(s.server.shutdown());

    // A kept-alive connection is told the server is going away, and to close.
    let (status, headers, body) = kept_alive.get("/empty").await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(
        headers.iter().any(|h| h == "connection: close"),
        "{headers:?}"
    );
    assert!(
        headers.iter().any(|h| h.starts_with("x-zato-cid:")),
        "{headers:?}"
    );
    assert!(body.contains("shutting down"), "{body}");

    // A new connection is refused, or if it raced the listener's closing, answered 503 or closed.
    if let Ok(mut late) = RawConn::connect(addr).await
        && let Some((status, ..)) = late.get("/empty").await
    {
        assert_eq!(status, 503);
    }

    assert!(
        !done.is_finished(),
        "shutdown returned with a request in flight"
    );
    gate.open(1);
    assert_eq!(in_flight.await.unwrap(), 200);
    done.await.unwrap();
    assert!(
        RawConn::connect(addr).await.is_err(),
        "still listening after shutdown"
    );

    // Stopping again is harmless; starting again is refused, naming the server.
    s.server.stop().await;
    let err = s.server.start().await.unwrap_err();
    assert!(
        matches!(&err, ChannelError::Stopped(name) if *name == s.server.name()),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_added_changed_and_removed_while_requests_flow() {
    let gate = Gate::new();
    let s = Arc::new(server(&gate).await);

    // Steady traffic on a channel nobody touches.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (s, stop, served) = (Arc::clone(&s), Arc::clone(&stop), Arc::clone(&served));
        load.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let r = s.get("/invoice.dispatcher?target=CRM").await;
                if r.status != 200 {
                    failures.push(r);
                }
                served.fetch_add(1, Ordering::Relaxed);
            }
            failures
        }));
    }

    // A request in flight on a channel that is then removed still finishes.
    let pending = {
        let s = Arc::clone(&s);
        tokio::spawn(async move { s.get("/gate").await })
    };
    gate.wait_entered(1).await;

    for round in 0..20 {
        let path = format!("/new/{round}/{{id}}");
        s.server
            .add_channel(HttpChannelConfig::new("new", path, "demo.lookup"))
            .unwrap();
        let r = s.get(&format!("/new/{round}/x")).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.json()["channel"], "new");

        let mut off = s.server.channel("new").unwrap();
        off.is_active = false;
        s.server.update_channel(off).unwrap();
        assert_eq!(s.get(&format!("/new/{round}/x")).await.status, 503);

        s.server.remove_channel("new").unwrap();
        assert_eq!(s.get(&format!("/new/{round}/x")).await.status, 404);
    }

    s.server.remove_channel("gate").unwrap();
    assert_eq!(s.get("/gate").await.status, 404);
    gate.open(1);
    assert_eq!(pending.await.unwrap().status, 200);

    // Let the steady traffic see at least a few more requests after the last change.
    let seen = served.load(Ordering::Relaxed);
    while served.load(Ordering::Relaxed) < seen + 8 {
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        let failures = task.await.unwrap();
        assert!(failures.is_empty(), "steady traffic failed: {failures:?}");
    }
    assert!(served.load(Ordering::Relaxed) > 0);
    Arc::into_inner(s).unwrap().stop().await;
}

#[tokio::test]
async fn a_refused_change_leaves_the_running_configuration_alone() {
    let gate = Gate::new();
    let s = server(&gate).await;
    let before = s.server.config();
    let err = s
        .server
        .add_channel(HttpChannelConfig::new("dup", "/empty", "demo.empty"))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("already served by channel `empty`"),
        "{err}"
    );
    let err = s.server.remove_channel("nope").unwrap_err();
    assert!(err.to_string().contains("no such channel"), "{err}");
    assert_eq!(s.server.config(), before);
    assert_eq!(s.get("/empty").await.status, 204);
    s.stop().await;
}

#[tokio::test]
async fn binding_a_taken_address_names_it_and_says_why() {
    let gate = Gate::new();
    let s = server(&gate).await;
    let addr = s.server.local_addr();
    let err = HttpServer::bind(addr, platform()).await.unwrap_err();
    let ChannelError::Bind { source, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
    // The error says where, its source why: each once along the chain.
    assert_eq!(err.to_string(), format!("could not listen on {addr}"));
    let shown = chain(&err);
    assert!(shown.to_lowercase().contains("in use"), "{shown}");
    s.stop().await;
}

#[tokio::test]
async fn an_address_that_is_not_one_is_called_invalid() {
    let err = HttpServer::bind("11223", platform()).await.unwrap_err();
    assert!(matches!(err, ChannelError::Bind { .. }), "{err:?}");
    let shown = chain(&err);
    assert!(
        shown.starts_with("could not listen on 11223: invalid address, expected host:port"),
        "{shown}"
    );
    // The resolver's own error is still there, at the end of the chain.
    assert!(shown.matches(": ").count() >= 2, "{shown}");
}

#[tokio::test]
async fn a_client_too_slow_with_its_headers_is_disconnected() {
    let gate = Gate::new();
    let s = server(&gate).await;
    s.server
        .set_header_read_timeout(Some(std::time::Duration::from_millis(100)));
    let mut slow = RawConn::connect(s.server.local_addr()).await.unwrap();
    slow.send(b"GET /empty HTTP/1.1\r\nhost: te").await;
    // The rest of the headers never come: the server closes the connection, at most with an
    // error status, never by serving the request.
    // The outer limit only keeps a broken build from hanging the suite.
    let answer = tokio::time::timeout(std::time::Duration::from_secs(30), slow.read_response())
        .await
        .expect("the server kept a connection whose headers never came");
    if let Some((status, ..)) = answer {
        assert!(status >= 400, "{status}");
    }
    s.stop().await;
}

/// The outer limit of the tests below: far beyond what they need, short of hanging the suite.
const GENEROUS: std::time::Duration = std::time::Duration::from_secs(20);

#[tokio::test]
async fn shutdown_returns_despite_a_client_stuck_in_its_headers() {
    let gate = Gate::new();
    let s = server(&gate).await;
    s.server
        .set_drain_timeout(Some(std::time::Duration::from_millis(300)));
    let mut stuck = RawConn::connect(s.server.local_addr()).await.unwrap();
    // The headers never end.
    stuck.send(b"GET /empty HTTP/1.1\r\nHost: x\r\n").await;
    // Let the server accept the connection and read what was sent.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    tokio::time::timeout(GENEROUS, s.server.shutdown())
        .await
        .expect("shutdown waited forever for a client that never finished its headers");
    // The stuck connection was closed, not answered with a served request.
    let answer = tokio::time::timeout(GENEROUS, stuck.read_response())
        .await
        .expect("the stuck connection stayed open after shutdown");
    if let Some((status, ..)) = answer {
        assert!(status >= 400, "{status}");
    }
}

#[tokio::test]
async fn shutdown_returns_despite_a_body_that_never_comes() {
    let gate = Gate::new();
    // No channel timeout: only the drain deadline ends this request.
    let s = server(&gate).await;
    s.server
        .set_drain_timeout(Some(std::time::Duration::from_millis(300)));
    let mut slow = RawConn::connect(s.server.local_addr()).await.unwrap();
    slow.send(b"POST /empty HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    tokio::time::timeout(GENEROUS, s.server.shutdown())
        .await
        .expect("shutdown waited forever for a body that never came");
}

#[tokio::test]
async fn a_body_slower_than_the_channel_timeout_is_answered_and_does_not_block_shutdown() {
    let platform = platform();
    let channels = vec![
        HttpChannelConfig::new("slow", "/slow", "demo.empty")
            .with_timeout(std::time::Duration::from_secs(1)),
    ];
    let s = TestServer::start(platform, channels, vec![]).await;
    // The drain deadline must not be what rescues this request.
    s.server.set_drain_timeout(None);
    let mut slow = RawConn::connect(s.server.local_addr()).await.unwrap();
    slow.send(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        .await;
    let (status, headers, body) = tokio::time::timeout(GENEROUS, slow.read_response())
        .await
        .expect("the channel timeout did not cover reading the body")
        .expect("the connection closed without an answer");
    assert_eq!(status, 408, "{body}");
    assert!(
        headers.iter().any(|h| h == "connection: close"),
        "{headers:?}"
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["code"], "request_timeout", "{body}");
    tokio::time::timeout(GENEROUS, s.server.shutdown())
        .await
        .expect("shutdown waited forever");
}

#[tokio::test]
async fn headers_and_shutdown_are_bounded_by_default() {
    let gate = Gate::new();
    let s = server(&gate).await;
    assert_eq!(
        s.server.header_read_timeout(),
        Some(std::time::Duration::from_secs(30))
    );
    assert_eq!(
        s.server.drain_timeout(),
        Some(std::time::Duration::from_secs(30))
    );
    s.server.set_header_read_timeout(None);
    assert_eq!(s.server.header_read_timeout(), None);
    s.stop().await;
}

#[tokio::test]
async fn connections_over_the_limit_wait_until_one_closes() {
    let server = HttpServer::bind("127.0.0.1:0", platform()).await.unwrap();
    assert_eq!(
        server.max_connections(),
        zato_channels::DEFAULT_MAX_CONNECTIONS
    );
    server.set_max_connections(1);
    server
        .add_channel(HttpChannelConfig::new("empty", "/empty", "demo.empty"))
        .unwrap();
    server.start().await.unwrap();
    let addr = server.local_addr();

    let mut first = RawConn::connect(addr).await.unwrap();
    assert_eq!(first.get("/empty").await.unwrap().0, 204);
    // The operating system takes the second connection into its backlog and its whole request
    // into the socket's buffer; the server does not accept it while the first is open.
    let mut second = RawConn::connect(addr).await.unwrap();
    second
        .send(b"GET /empty HTTP/1.1\r\nhost: test\r\n\r\n")
        .await;
    // A broken limit answers within milliseconds; a working one never answers here, so a slow
    // machine cannot make this fail. Nothing arrives, so cancelling the read loses nothing.
    let early = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        second.read_response(),
    )
    .await;
    assert!(
        early.is_err(),
        "a connection over the limit was served: {early:?}"
    );
    // The first connection is still open and served.
    assert_eq!(first.get("/empty").await.unwrap().0, 204);
    drop(first);
    let (status, ..) = tokio::time::timeout(GENEROUS, second.read_response())
        .await
        .expect("the waiting connection was never served after the first closed")
        .expect("the waiting connection was closed unanswered");
    assert_eq!(status, 204);
    server.shutdown().await;
}

/// An error and its sources, as a report shows them: `a: b: c`.
fn chain(err: &dyn std::error::Error) -> String {
    let mut shown = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        shown.push_str(": ");
        shown.push_str(&c.to_string());
        cause = c.source();
    }
    shown
}

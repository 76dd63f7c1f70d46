//! ZeroMQ channels and outgoing connections, over real sockets on 127.0.0.1: PULL and SUB
//! channels fed by our own PUSH and PUB connections, live changes through the config runtime,
//! bad input, full queues, bounded concurrency, and interoperability with pyzmq (an independent
//! implementation: libzmq through Python), ignored unless run with `--include-ignored`.

#![allow(
    clippy::unwrap_used,
    reason = "tests fail loudly on what they did not expect"
)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zato_channels::{
    SocketMethod, ZmqAdapter, ZmqChannelConfig, ZmqChannelKind, ZmqChannelType, ZmqConnection,
    ZmqConnectionConfig, ZmqOutgoing, ZmqOutgoingKind, ZmqOutgoingType,
};
use zato_core::config::{ConfigRuntime, MemoryStore, ObjectKey, PutMode, Section};
use zato_core::{ChannelAdapter, OutgoingErrorKind, Platform, Request, ServiceError};
use zato_macros::{SimpleIo, service};

/// What a recording service saw of one message.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    service: &'static str,
    channel: String,
    id: String,
    frame0: Option<String>,
    frame1: Option<String>,
    params: Vec<(String, String)>,
    body: Vec<u8>,
}

static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Message {
    id: String,
    /// The first frame before the body, read as a channel parameter.
    frame0: Option<String>,
    frame1: Option<String>,
}

fn record(service: &'static str, req: &Request<Message>) {
    SEEN.lock().unwrap().push(Seen {
        service,
        channel: req.channel.name.to_string(),
        id: req.input.id.clone(),
        frame0: req.input.frame0.clone(),
        frame1: req.input.frame1.clone(),
        params: req.channel_params.clone(),
        body: req.raw_request.to_vec(),
    });
}

#[service(name = "zmq.record", crate = "zato_core")]
async fn record_one(req: Request<Message>) -> Result<(), ServiceError> {
    record("zmq.record", &req);
    Ok(())
}

#[service(name = "zmq.record.other", crate = "zato_core")]
async fn record_other(req: Request<Message>) -> Result<(), ServiceError> {
    record("zmq.record.other", &req);
    Ok(())
}

static RUNNING: AtomicUsize = AtomicUsize::new(0);
static MOST_RUNNING: AtomicUsize = AtomicUsize::new(0);

#[service(name = "zmq.slow", crate = "zato_core")]
async fn slow(req: Request<Message>) -> Result<(), ServiceError> {
    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    MOST_RUNNING.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    record("zmq.slow", &req);
    Ok(())
}

/// The messages seen with `id`.
fn seen(id: &str) -> Vec<Seen> {
    SEEN.lock()
        .unwrap()
        .iter()
        .filter(|s| s.id == id)
        .cloned()
        .collect()
}

/// Waits up to 10 s for `count` messages with `id`.
async fn wait_for(id: &str, count: usize) -> Vec<Seen> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = seen(id);
        if found.len() >= count || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sends `body` until the message `id` is seen, at most 5 times, 2 s apart: after a channel
/// closed its socket and bound again, a PUSH may still hand a message to the old connection,
/// which ZeroMQ drops with it. Returns what was seen.
/// Returns what the channel saw and how many sends it took.
async fn deliver(push: &ZmqConnection, id: &str, body: &str) -> (Vec<Seen>, u64) {
    let mut sends = 0;
    for _ in 0..5 {
        push.send(body.to_owned()).await.unwrap();
        sends += 1;
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            let found = seen(id);
            if !found.is_empty() {
                return (found, sends);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    (seen(id), sends)
}

fn platform() -> Platform {
    let platform = Platform::new();
    platform.services().deploy(record_one).unwrap();
    platform.services().deploy(record_other).unwrap();
    platform.services().deploy(slow).unwrap();
    platform
}

/// A serving adapter with one PULL channel bound to a free port; returns it and the endpoint.
async fn pull_channel(platform: &Platform, name: &str, service: &str) -> (ZmqAdapter, String) {
    let adapter = ZmqAdapter::new(platform).unwrap();
    let channel = ZmqChannelConfig::new(name, ZmqChannelType::Pull, "tcp://127.0.0.1:*", service);
    adapter.put_channel(channel).await.unwrap();
    adapter.start().await.unwrap();
    let endpoint = adapter.endpoint(name).unwrap();
    (adapter, endpoint)
}

async fn push_to(endpoint: &str, name: &str) -> ZmqConnection {
    let config = ZmqConnectionConfig::new(name, ZmqOutgoingType::Push, endpoint)
        .with_send_timeout(Duration::from_secs(5));
    ZmqConnection::open(config).await.unwrap()
}

/// A port free now on 127.0.0.1.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_reaches_pull_and_leading_frames_are_channel_params() {
    let platform = platform();
    let (adapter, endpoint) = pull_channel(&platform, "frames", "zmq.record").await;
    assert!(endpoint.starts_with("tcp://127.0.0.1:"), "{endpoint}");
    let push = push_to(&endpoint, "frames.push").await;

    push.send(r#"{"id":"single"}"#).await.unwrap();
    push.send_multipart(["invoices", "v2", r#"{"id":"multi"}"#])
        .await
        .unwrap();

    let single = wait_for("single", 1).await;
    assert_eq!(single.len(), 1);
    assert_eq!(single[0].channel, "frames");
    assert!(single[0].params.is_empty());
    assert_eq!(single[0].frame0, None);

    let multi = wait_for("multi", 1).await;
    assert_eq!(multi.len(), 1);
    let m = &multi[0];
    assert_eq!(m.frame0.as_deref(), Some("invoices"));
    assert_eq!(m.frame1.as_deref(), Some("v2"));
    assert_eq!(
        m.params,
        [
            ("frame0".to_owned(), "invoices".to_owned()),
            ("frame1".to_owned(), "v2".to_owned())
        ]
    );
    assert_eq!(m.body, br#"{"id":"multi"}"#);

    let listed = platform.channels().list();
    let summary = listed.iter().find(|c| c.name == "frames").unwrap();
    assert_eq!(summary.kind, zato_channels::ZMQ_KIND);
    assert_eq!(summary.endpoint, format!("pull bind {endpoint}"));
    adapter.stop().await;
    assert!(!adapter.is_serving());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_receives_only_its_prefixes() {
    let platform = platform();
    let adapter = ZmqAdapter::new(&platform).unwrap();
    let channel = ZmqChannelConfig::new(
        "prices",
        ZmqChannelType::Sub,
        "tcp://127.0.0.1:*",
        "zmq.record",
    )
    .with_sub_prefixes(["EUR", "USD"]);
    adapter.put_channel(channel).await.unwrap();
    adapter.start().await.unwrap();
    let endpoint = adapter.endpoint("prices").unwrap();
    let publisher = ZmqConnection::open(ZmqConnectionConfig::new(
        "prices.pub",
        ZmqOutgoingType::Pub,
        endpoint.as_str(),
    ))
    .await
    .unwrap();

    // A subscription reaches the publisher some time after the connection (ZeroMQ's slow
    // joiner): publish until the first one arrives.
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen("sub-ready").is_empty() && Instant::now() < deadline {
        publisher
            .send_multipart(["EUR.ready", r#"{"id":"sub-ready"}"#])
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!seen("sub-ready").is_empty(), "no subscription arrived");

    for _ in 0..5 {
        publisher
            .send_multipart(["GBP", r#"{"id":"sub-gbp"}"#])
            .await
            .unwrap();
    }
    publisher
        .send_multipart(["USD", r#"{"id":"sub-usd"}"#])
        .await
        .unwrap();
    // One publisher, one subscriber: messages arrive in order, so once the last one is in,
    // an unsubscribed one would be too.
    let usd = wait_for("sub-usd", 1).await;
    assert_eq!(usd.len(), 1);
    assert_eq!(usd[0].frame0.as_deref(), Some("USD"));
    assert!(seen("sub-gbp").is_empty());
    adapter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_create_edit_deactivate_and_delete_through_the_config_runtime() {
    let platform = platform();
    let adapter = ZmqAdapter::new(&platform).unwrap();
    adapter.start().await.unwrap();
    let runtime = ConfigRuntime::new(platform.clone(), Arc::new(MemoryStore::new()));
    runtime.register(adapter.config_kind());
    runtime.register(zato_core::kind::live(ZmqOutgoingKind::new(&platform)));
    let port = free_port();
    let address = format!("tcp://127.0.0.1:{port}");
    let key = ObjectKey::new(Section::Channels, "zmq", "live");

    // Create.
    let object = serde_json::json!({
        "name": "live", "socket_type": "pull", "address": address, "service": "zmq.record"
    });
    runtime
        .put(&key, object, PutMode::Create, None, "test")
        .await
        .unwrap();
    assert_eq!(adapter.endpoint("live").as_deref(), Some(address.as_str()));
    let out = ObjectKey::new(Section::Outgoing, "zmq", "live.push");
    let conn = serde_json::json!({
        "name": "live.push", "socket_type": "push", "address": address, "send_timeout": 5
    });
    runtime
        .put(&out, conn, PutMode::Create, None, "test")
        .await
        .unwrap();
    let push = platform.outgoing().zmq("live.push").unwrap();
    push.send(r#"{"id":"live-1"}"#).await.unwrap();
    assert_eq!(wait_for("live-1", 1).await[0].service, "zmq.record");
    // Sends after a rebind may be dropped by ZeroMQ and sent again: the count of sends is kept.
    let mut sent = 1;

    // Edit the service: swapped in place, same socket.
    let patch = serde_json::json!({"service": "zmq.record.other"});
    runtime
        .put(&key, patch, PutMode::Patch, None, "test")
        .await
        .unwrap();
    push.send(r#"{"id":"live-2"}"#).await.unwrap();
    sent += 1;
    assert_eq!(wait_for("live-2", 1).await[0].service, "zmq.record.other");

    // Edit the socket on the same address: closed, then bound again; the PUSH reconnects.
    let patch = serde_json::json!({"rcv_hwm": 10});
    runtime
        .put(&key, patch, PutMode::Patch, None, "test")
        .await
        .unwrap();
    assert_eq!(adapter.channel("live").unwrap().rcv_hwm, 10);
    let (found, sends) = deliver(&push, "live-3", r#"{"id":"live-3"}"#).await;
    assert_eq!(found.len(), 1, "live-3 was not received once");
    sent += sends;

    // Rebind elsewhere.
    let moved = format!("tcp://127.0.0.1:{}", free_port());
    let patch = serde_json::json!({"address": moved});
    runtime
        .put(&key, patch, PutMode::Patch, None, "test")
        .await
        .unwrap();
    assert_eq!(adapter.endpoint("live").as_deref(), Some(moved.as_str()));
    let patch = serde_json::json!({"address": moved});
    runtime
        .put(&out, patch, PutMode::Patch, None, "test")
        .await
        .unwrap();
    let (found, sends) = deliver(&push, "live-4", r#"{"id":"live-4"}"#).await;
    assert_eq!(found.len(), 1, "live-4 was not received once");
    sent += sends;

    // A bad edit is refused, naming the field; the channel stays as it was.
    let patch = serde_json::json!({"rcv_hwm": 0, "socket_type": "pull"});
    let err = runtime
        .put(&key, patch, PutMode::Patch, None, "test")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("rcv_hwm"), "{err}");
    assert_eq!(adapter.endpoint("live").as_deref(), Some(moved.as_str()));

    // Deactivate: the socket is closed, its address free.
    let patch = serde_json::json!({"is_active": false});
    runtime
        .put(&key, patch, PutMode::Patch, None, "test")
        .await
        .unwrap();
    assert_eq!(adapter.endpoint("live"), None);
    let listed = platform.channels().list();
    assert!(!listed.iter().find(|c| c.name == "live").unwrap().is_active);

    // Reactivate, then delete.
    let patch = serde_json::json!({"is_active": true});
    runtime
        .put(&key, patch, PutMode::Patch, None, "test")
        .await
        .unwrap();
    let (found, sends) = deliver(&push, "live-5", r#"{"id":"live-5"}"#).await;
    assert_eq!(found.len(), 1, "live-5 was not received once");
    sent += sends;
    runtime.delete(&key, None, "test").await.unwrap();
    assert!(adapter.channel("live").is_none());
    assert!(platform.channels().list().iter().all(|c| c.name != "live"));
    assert!(adapter.remove_channel("live").await.is_err());
    let metrics = platform.metrics().render();
    assert!(
        metrics.contains(&format!(
            r#"outgoing_zmq_sends_total{{kind="zmq",connection="live.push",outcome="sent"}} {sent}"#
        )),
        "{metrics}"
    );
    runtime.delete(&out, None, "test").await.unwrap();
    let gone = platform.outgoing().zmq("live.push").unwrap_err();
    assert_eq!(gone.status().as_u16(), 503);
    adapter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_address_is_refused_and_the_old_channel_stays() {
    let platform = platform();
    let (adapter, endpoint) = pull_channel(&platform, "first", "zmq.record").await;
    let clash = ZmqChannelConfig::new(
        "second",
        ZmqChannelType::Pull,
        endpoint.as_str(),
        "zmq.record",
    );
    let err = adapter.put_channel(clash).await.unwrap_err();
    assert_eq!(err.problems()[0].path, "address");
    assert!(adapter.channel("second").is_none());

    // An edit of `first` onto a taken address keeps `first` where it was.
    let other = ZmqAdapter::named("zmq.other", &platform).unwrap();
    let taken = ZmqChannelConfig::new(
        "elsewhere",
        ZmqChannelType::Pull,
        "tcp://127.0.0.1:*",
        "zmq.record",
    );
    other.put_channel(taken).await.unwrap();
    let taken_at = other.endpoint("elsewhere").unwrap();
    let moved = ZmqChannelConfig::new(
        "first",
        ZmqChannelType::Pull,
        taken_at.as_str(),
        "zmq.record",
    );
    assert!(adapter.put_channel(moved).await.is_err());
    assert_eq!(
        adapter.endpoint("first").as_deref(),
        Some(endpoint.as_str())
    );
    let push = push_to(&endpoint, "first.push").await;
    push.send(r#"{"id":"still-first"}"#).await.unwrap();
    assert_eq!(wait_for("still-first", 1).await.len(), 1);

    // Channel names are unique per kind across adapters.
    let dup = ZmqChannelConfig::new(
        "first",
        ZmqChannelType::Pull,
        "tcp://127.0.0.1:*",
        "zmq.record",
    );
    let err = other.put_channel(dup).await.unwrap_err();
    assert_eq!(err.problems()[0].path, "name");
    adapter.stop().await;
    other.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_does_not_stop_the_channel() {
    let platform = platform();
    let (adapter, endpoint) = pull_channel(&platform, "bad", "zmq.record").await;
    let push = push_to(&endpoint, "bad.push").await;
    push.send("{not json").await.unwrap();
    push.send(r#"{"no_id": 1}"#).await.unwrap();
    push.send_multipart([&[0xff_u8, 0xfe][..], br#"{"id":"bad-frame"}"#])
        .await
        .unwrap();
    push.send(r#"{"id":"after-bad"}"#).await.unwrap();
    assert_eq!(wait_for("after-bad", 1).await.len(), 1);
    assert!(seen("bad-frame").is_empty());
    let metrics = platform.metrics().render();
    assert!(metrics.contains("status=\"400\""), "{metrics}");
    adapter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocations_are_bounded_per_channel_and_stop_waits_for_them() {
    let platform = platform();
    let adapter = ZmqAdapter::new(&platform).unwrap();
    let channel = ZmqChannelConfig::new(
        "bounded",
        ZmqChannelType::Pull,
        "tcp://127.0.0.1:*",
        "zmq.slow",
    )
    .with_max_concurrency(2);
    adapter.put_channel(channel).await.unwrap();
    let endpoint = adapter.endpoint("bounded").unwrap();
    let push = push_to(&endpoint, "bounded.push").await;
    // Queued in ZeroMQ before the adapter starts: nothing is read until then.
    for _ in 0..10 {
        push.send(r#"{"id":"bounded"}"#).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(seen("bounded").is_empty());
    adapter.start().await.unwrap();
    assert_eq!(wait_for("bounded", 10).await.len(), 10);
    assert!(MOST_RUNNING.load(Ordering::SeqCst) <= 2);
    assert!(MOST_RUNNING.load(Ordering::SeqCst) >= 1);
    adapter.stop().await;
    assert_eq!(RUNNING.load(Ordering::SeqCst), 0);
    assert!(adapter.start().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_with_no_room_fails_in_time_naming_the_connection() {
    // Nobody listens there: a PUSH has no peer to queue for, so the send waits, then fails.
    let nowhere = format!("tcp://127.0.0.1:{}", free_port());
    let config = ZmqConnectionConfig::new("nowhere", ZmqOutgoingType::Push, nowhere.as_str())
        .with_send_timeout(Duration::from_millis(200));
    let conn = ZmqConnection::open(config.clone()).await.unwrap();
    let started = Instant::now();
    let err = conn.send("x").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(err.kind(), OutgoingErrorKind::Timeout);
    assert_eq!(err.connection(), "nowhere");
    assert!(err.to_string().contains("`nowhere`"), "{err}");

    conn.reconfigure(config.with_active(false)).await.unwrap();
    let err = conn.send("x").await.unwrap_err();
    assert_eq!(err.kind(), OutgoingErrorKind::Unavailable);

    let stats = conn.stats();
    assert_eq!((stats.sent, stats.timeouts, stats.unavailable), (0, 1, 1));

    let platform = Platform::new();
    let missing = platform.outgoing().zmq("missing").unwrap_err();
    assert_eq!(missing.status().as_u16(), 503);
    assert!(missing.to_string().contains("missing"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kinds_check_documents_offline() {
    let channel = zato_core::kind::schema::<ZmqChannelKind>();
    let err = channel
        .normalize(&serde_json::json!({
            "name": "x", "socket_type": "pull", "address": "tcp://127.0.0.1:1",
            "service": "s", "adress": "typo", "sub_prefixes": ["a"]
        }))
        .unwrap_err();
    assert_eq!(err.problems()[0].path, "adress");
    let normal = channel
        .normalize(&serde_json::json!({
            "name": "x", "socket_type": "SUB", "address": "tcp://127.0.0.1:1", "service": "s"
        }))
        .unwrap();
    assert_eq!(normal["socket_method"], "bind");
    assert_eq!(normal["socket_type"], "sub");
    let outgoing = zato_core::kind::schema::<ZmqOutgoingKind>();
    let err = outgoing
        .normalize(&serde_json::json!({
            "name": "o", "socket_type": "push", "address": "udp://x", "snd_hwm": 0
        }))
        .unwrap_err();
    let paths: Vec<&str> = err.problems().iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["address", "snd_hwm"]);
    let normal = outgoing
        .normalize(&serde_json::json!({
            "name": "o", "socket_type": "pub", "address": "tcp://127.0.0.1:1",
            "socket_method": "bind"
        }))
        .unwrap();
    assert_eq!(normal["socket_method"], SocketMethod::Bind.to_string());
}

/// pyzmq, which the interoperability tests need: they are ignored by a plain `cargo test`,
/// and run with `--include-ignored` they fail here, naming what to install, without it.
fn require_pyzmq() {
    let ok = Command::new("python3")
        .args(["-c", "import zmq"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "this test needs pyzmq: python3 -m pip install pyzmq");
}

const PY_PUSH: &str = r#"
import sys, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.PUSH)
s.setsockopt(zmq.LINGER, 10000)
s.setsockopt(zmq.SNDTIMEO, 10000)
s.connect(sys.argv[1])
s.send_multipart([b"from-python", b'{"id":"py-push","target":["CRM"]}'])
s.close()
ctx.term()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs pyzmq (pip install pyzmq)"]
async fn a_pyzmq_push_reaches_our_pull_and_the_service() {
    require_pyzmq();
    let platform = platform();
    let (adapter, endpoint) = pull_channel(&platform, "from.python", "zmq.record").await;
    let status = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args(["-c", PY_PUSH, &endpoint])
            .status()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(status.success());
    let got = wait_for("py-push", 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].channel, "from.python");
    assert_eq!(got[0].frame0.as_deref(), Some("from-python"));
    assert_eq!(got[0].body, br#"{"id":"py-push","target":["CRM"]}"#);
    adapter.stop().await;
}

const PY_PULL: &str = r#"
import json, sys, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.PULL)
s.setsockopt(zmq.RCVTIMEO, 10000)
s.bind("tcp://127.0.0.1:*")
print(s.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)
frames = s.recv_multipart()
print(json.dumps([f.decode() for f in frames]), flush=True)
s.close(linger=0)
ctx.term()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs pyzmq (pip install pyzmq)"]
async fn our_push_reaches_a_pyzmq_pull() {
    require_pyzmq();
    let mut child = Command::new("python3")
        .args(["-c", PY_PULL])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let within = Duration::from_secs(20);
    let endpoint = tokio::time::timeout(within, lines.recv())
        .await
        .unwrap()
        .unwrap();
    let platform = Platform::new();
    let config = ZmqConnectionConfig::new("to.python", ZmqOutgoingType::Push, endpoint.as_str());
    platform
        .outgoing()
        .add_zmq(ZmqConnection::open(config).await.unwrap());
    platform
        .outgoing()
        .zmq("to.python")
        .unwrap()
        .send_multipart(["invoices", r#"{"id":"to-python"}"#])
        .await
        .unwrap();
    let received = tokio::time::timeout(within, lines.recv())
        .await
        .unwrap()
        .unwrap();
    let frames: Vec<String> = serde_json::from_str(&received).unwrap();
    assert_eq!(frames, ["invoices", r#"{"id":"to-python"}"#]);
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_does_not_read_fills_bounded_queues_then_sends_time_out() {
    let platform = platform();
    // Bound, not started: the channel reads nothing, so its queues fill.
    let adapter = ZmqAdapter::new(&platform).unwrap();
    let channel = ZmqChannelConfig::new(
        "stalled",
        ZmqChannelType::Pull,
        "tcp://127.0.0.1:*",
        "zmq.record",
    )
    .with_rcv_hwm(1);
    adapter.put_channel(channel).await.unwrap();
    let endpoint = adapter.endpoint("stalled").unwrap();
    let config = ZmqConnectionConfig::new("stalled.push", ZmqOutgoingType::Push, endpoint.as_str())
        .with_snd_hwm(1)
        .with_send_timeout(Duration::from_millis(200));
    let push = ZmqConnection::open(config).await.unwrap();
    let frame = vec![b'x'; 64 * 1024];
    let mut sent = 0;
    let failure = loop {
        match push.send(frame.clone()).await {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
        // The high-water marks and the kernel's socket buffers hold a few MiB at most.
        assert!(
            sent < 2_000,
            "{sent} messages of 64 KiB taken by a peer that reads nothing"
        );
    };
    println!("{sent} messages of 64 KiB queued before a send timed out");
    assert_eq!(failure.kind(), OutgoingErrorKind::Timeout);
    assert!(failure.to_string().contains("snd_hwm 1"), "{failure}");
    adapter.stop().await;
}

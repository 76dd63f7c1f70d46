//! Interoperability with an independent client, Python's nats-py: it publishes to JetStream
//! for our channel, makes a request our core channel answers, and reads what our outgoing
//! connection published. Needs the server at `ZATO_TEST_NATS_URL` and `python3 -m pip install
//! nats-py` (`.ci/run` installs a pinned one); a plain `cargo test` reports the test as
//! ignored.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step fails the test"
)]

mod support;

use std::process::Command;

use serde_json::json;
use support::{Bus, PATIENCE, Recorder, TestNode, unique, url};
use zato_core::config::Section;
use zato_nats::NatsOutgoing;

/// Runs `script` with nats-py, the server's URL as `sys.argv[1]` and `args` after it; its
/// standard output.
fn python(script: &str, args: &[&str]) -> String {
    let available = Command::new("python3")
        .args(["-c", "import nats"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        available,
        "this test needs nats-py: python3 -m pip install nats-py==2.15.0"
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(url())
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "nats-py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const PY_PUBLISH: &str = r#"
import asyncio, json, sys
import nats

async def main():
    nc = await nats.connect(sys.argv[1])
    js = nc.jetstream()
    for i in range(5):
        ack = await js.publish(sys.argv[2], json.dumps({"id": f"py{i}"}).encode(), headers={"source": "nats-py"})
        assert ack.stream == sys.argv[3], ack
    await nc.close()

asyncio.run(main())
"#;

const PY_REQUEST: &str = r#"
import asyncio, sys
import nats

async def main():
    nc = await nats.connect(sys.argv[1])
    reply = await nc.request(sys.argv[2], b'{"id": "rpc-1"}', timeout=30)
    print(reply.headers.get("Zato-Status"), reply.data.decode())
    await nc.close()

asyncio.run(main())
"#;

const PY_READ: &str = r#"
import asyncio, sys
import nats

async def main():
    nc = await nats.connect(sys.argv[1])
    js = nc.jetstream()
    sub = await js.pull_subscribe(sys.argv[2], stream=sys.argv[3])
    for msg in await sub.fetch(1, timeout=30):
        print(msg.headers.get("Nats-Msg-Id"), msg.data.decode())
        await msg.ack()
    await nc.close()

asyncio.run(main())
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a NATS server with JetStream (ZATO_TEST_NATS_URL) and nats-py"]
async fn nats_py_publishes_requests_and_reads_alongside_us() {
    let url = url();
    let bus = Bus::new(&url).await;
    let (stream, subject, rpc) = (unique("S"), unique("invoices"), unique("rpc"));
    bus.stream(
        &stream,
        &[
            &subject,
            &format!("{subject}.dead"),
            &format!("{subject}.out"),
        ],
    )
    .await;
    let recorder = Recorder::default();
    let node = TestNode::new(&recorder).await;
    node.connection(&url).await;
    node.put(
        Section::Channels,
        "in",
        json!({"name": "in", "connection": "bus", "stream": stream, "subject": subject,
               "service": "test.recorder"}),
    )
    .await;
    node.put(
        Section::Channels,
        "rpc",
        json!({"name": "rpc", "connection": "bus", "mode": "core", "subject": rpc,
               "service": "test.recorder"}),
    )
    .await;
    node.platform.start().await.unwrap();

    // nats-py publishes to JetStream; our channel handles each, with its header.
    let (script, s, st) = (PY_PUBLISH.to_owned(), subject.clone(), stream.clone());
    tokio::task::spawn_blocking(move || python(&script, &[&s, &st]))
        .await
        .unwrap();
    let ids = recorder.wait_for(5, PATIENCE).await;
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert!(
        recorder
            .seen
            .lock()
            .unwrap()
            .iter()
            .all(|(_, source, _)| source == "nats-py")
    );

    // nats-py makes a request; our core channel answers with the service's output.
    let (script, r) = (PY_REQUEST.to_owned(), rpc.clone());
    let answer = tokio::task::spawn_blocking(move || python(&script, &[&r]))
        .await
        .unwrap();
    let (status, body) = answer.trim().split_once(' ').expect("status and body");
    assert_eq!(status, "200");
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["id"], "rpc-1");

    // Our outgoing connection publishes; nats-py reads it from the stream.
    let out = format!("{subject}.out");
    node.platform
        .outgoing()
        .nats("bus")
        .unwrap()
        .publish_with_headers(&out, &[("Nats-Msg-Id", "inv-9")], r#"{"id":"9"}"#)
        .await
        .unwrap();
    let (script, o, st) = (PY_READ.to_owned(), out.clone(), stream.clone());
    let read = tokio::task::spawn_blocking(move || python(&script, &[&o, &st]))
        .await
        .unwrap();
    assert_eq!(read.trim(), r#"inv-9 {"id":"9"}"#);

    node.platform.shutdown().await;
    bus.cleanup().await;
}

//! Interoperability with an independent AMQP 1.0 implementation: Apache Qpid Proton's Python
//! binding (`python-qpid-proton`), against RabbitMQ's AMQP 1.0 plugin at
//! `ZATO_TEST_AMQP10_URL`. Ignored by a plain `cargo test`; with `--include-ignored` it needs
//! both the broker and `python3` with `proton` importable, and fails (not skips) without them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step fails the test"
)]

mod support;

use std::process::Stdio;

use serde_json::{Value, json};
use support::{Broker, PATIENCE, Recorder, TestNode, address, eventually, unique, url};
use zato_amqp10::{Amqp10Message, Amqp10Outgoing};

/// Proton's side: `send URL ADDRESS` sends a text message and a bytes message, each with
/// properties, a correlation id and a reply-to, as a JMS client would; `recv URL ADDRESS N`
/// prints the next N messages as JSON lines and accepts them.
const PROTON: &str = r#"
import json, sys
from proton import Message, Terminus
from proton.reactor import LinkOption
from proton.utils import BlockingConnection

class Durable(LinkOption):
    # RabbitMQ 3 declares the queue behind /queue/NAME durable only for a durable terminus.
    def apply(self, link):
        link.source.durability = Terminus.CONFIGURATION
        link.target.durability = Terminus.CONFIGURATION

mode, url, address = sys.argv[1], sys.argv[2], sys.argv[3]
conn = BlockingConnection(url, timeout=20, allowed_mechs="PLAIN")
if mode == "send":
    sender = conn.create_sender(address, options=Durable())
    sender.send(Message(body='{"id": "text-1"}', properties={"source": "CRM", "amount": 12},
                        correlation_id="corr-text", reply_to=address + ".replies",
                        subject="Invoice", durable=True))
    m = Message(body=b'{"id": "bytes-2"}', properties={"source": "Billing"},
                correlation_id="corr-bytes", content_type="application/octet-stream", durable=True)
    m.inferred = True  # bytes as a data section: a JMS BytesMessage
    sender.send(m)
else:
    receiver = conn.create_receiver(address, options=Durable())
    for _ in range(int(sys.argv[4])):
        m = receiver.receive(timeout=20)
        body = m.body
        kind = "text" if isinstance(body, str) else "bytes"
        if not isinstance(body, str):
            body = bytes(body).decode()
        print(json.dumps({"kind": kind, "body": body, "properties": m.properties,
                          "correlation_id": m.correlation_id, "subject": m.subject,
                          "reply_to": m.reply_to}), flush=True)
        receiver.accept()
conn.close()
"#;

/// Runs the proton script with `args`; its standard output. Fails the test when python or
/// proton is missing: the interoperability test was asked for.
async fn proton(args: &[&str]) -> String {
    let check = tokio::process::Command::new("python3")
        .args(["-c", "import proton"])
        .output()
        .await
        .expect("python3 runs (the interoperability test needs it)");
    assert!(
        check.status.success(),
        "python3 cannot import proton: `pip install python-qpid-proton` ({})",
        String::from_utf8_lossy(&check.stderr)
    );
    let run = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(PROTON)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(PATIENCE, run)
        .await
        .expect("the proton script ends")
        .expect("the proton script runs");
    assert!(
        out.status.success(),
        "proton {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ with rabbitmq_amqp1_0 (ZATO_TEST_AMQP10_URL) and python-qpid-proton"]
async fn protons_text_and_bytes_messages_reach_the_service_intact() {
    let url = url();
    let mut broker = Broker::new().await;
    let queue = unique("from_proton");
    let replies = format!("{queue}.replies");
    broker.queue(&queue, None).await;
    broker.queue(&replies, None).await;
    let recorder = Recorder::default();
    let node = TestNode::new(&recorder).await;
    node.connection(&url).await;
    node.channel("in", &queue, json!({})).await;
    node.platform.start().await.unwrap();

    proton(&["send", &url, &address(&queue)]).await;
    let ids = recorder.wait_for(2, PATIENCE).await;
    assert_eq!(ids.len(), 2, "{ids:?}");
    let seen = recorder.seen.lock().unwrap().clone();
    let text = seen
        .iter()
        .find(|s| s.0 == "text-1")
        .expect("the text message");
    assert_eq!(text.1, "CRM");
    assert_eq!(param(&text.2, "amount"), Some("12"));
    assert_eq!(param(&text.2, "correlation_id"), Some("corr-text"));
    assert_eq!(param(&text.2, "subject"), Some("Invoice"));
    assert_eq!(param(&text.2, "reply_to"), Some(address(&replies).as_str()));
    let bytes = seen
        .iter()
        .find(|s| s.0 == "bytes-2")
        .expect("the bytes message");
    assert_eq!(bytes.1, "Billing");
    assert_eq!(param(&bytes.2, "correlation_id"), Some("corr-bytes"));
    assert!(eventually(PATIENCE, || node.stats("in").acked == 2).await);

    // The text message named a reply-to: proton reads the service's reply there.
    let out = proton(&["recv", &url, &address(&replies), "1"]).await;
    let reply: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(reply["correlation_id"], "corr-text");
    assert_eq!(reply["properties"]["zato_status"], "200");
    let body: Value = serde_json::from_str(reply["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["id"], "text-1");
    node.platform.shutdown().await;
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ with rabbitmq_amqp1_0 (ZATO_TEST_AMQP10_URL) and python-qpid-proton"]
async fn what_the_outgoing_connection_sends_proton_receives_intact() {
    let url = url();
    let mut broker = Broker::new().await;
    let queue = unique("to_proton");
    broker.queue(&queue, None).await;
    let recorder = Recorder::default();
    let node = TestNode::new(&recorder).await;
    node.connection(&url).await;
    let conn = node.platform.outgoing().amqp10("broker").unwrap();
    conn.send(
        &address(&queue),
        Amqp10Message::text(r#"{"id":"out-1"}"#)
            .with_correlation_id("corr-out")
            .with_subject("Invoice")
            .with_reply_to("/queue/answers")
            .with_property("target", "CRM")
            .with_property("region", "EU"),
    )
    .await
    .unwrap();
    conn.send(
        &address(&queue),
        Amqp10Message::bytes(&b"\x00\x01binary"[..]).with_property("target", "Billing"),
    )
    .await
    .unwrap();

    let out = proton(&["recv", &url, &address(&queue), "2"]).await;
    let got: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), 2, "{out}");
    assert_eq!(got[0]["kind"], "text");
    assert_eq!(got[0]["body"], r#"{"id":"out-1"}"#);
    assert_eq!(got[0]["correlation_id"], "corr-out");
    assert_eq!(got[0]["subject"], "Invoice");
    assert_eq!(got[0]["reply_to"], "/queue/answers");
    assert_eq!(
        got[0]["properties"],
        json!({"target": "CRM", "region": "EU"})
    );
    assert_eq!(got[1]["kind"], "bytes");
    assert_eq!(got[1]["body"], "\u{0}\u{1}binary");
    assert_eq!(got[1]["properties"], json!({"target": "Billing"}));
    assert_eq!(broker.ready(&queue).await, 0);
    node.platform.shutdown().await;
    broker.cleanup().await;
}

//! The real `zato` binary against a real node: the InvoiceDispatcher example with its admin API,
//! doing the article's edits while the node serves, never restarted.
#![allow(
    clippy::expect_used,
    reason = "helpers outside #[test] functions panic on what would fail the test anyway"
)]

mod support;

#[path = "../../examples/invoice_dispatcher/app.rs"]
#[allow(dead_code, reason = "the example's plain start is the root tests' own")]
mod app;

use app::Running;
use support::{Run, TOKEN, temp_file, zato};

struct Node {
    running: Running,
    base: String,
    admin: String,
}

async fn node() -> Node {
    let (running, base, admin) = app::start_local_node(TOKEN)
        .await
        .expect("the example starts");
    Node {
        running,
        base,
        admin,
    }
}

impl Node {
    /// Runs the CLI off the runtime's threads, which serve the node meanwhile.
    async fn zato(&self, args: &[&str]) -> Run {
        let url = self.admin.clone();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            zato(&url, &args)
        })
        .await
        .expect("the zato run")
    }

    /// The seed's request, on the JSON channel.
    async fn dispatch(&self) -> (u16, String) {
        let resp = reqwest::Client::new()
            .post(format!(
                "{}/invoice.dispatcher?target=CRM&target=Billing",
                self.base
            ))
            .body(r#"{"id":"123"}"#)
            .send()
            .await
            .expect("the channel answers");
        (resp.status().as_u16(), resp.text().await.expect("a body"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_articles_edits_from_the_command_line_with_no_restart() {
    let node = node().await;
    assert_eq!(node.dispatch().await.0, 200);

    // A wrong key is applied, and fails on use with a 5xx naming the connection.
    let edited = node
        .zato(&[
            "conn",
            "edit",
            "swift",
            "Invoice Dispatcher",
            "--set",
            "key=wrong",
        ])
        .await
        .ok();
    assert!(edited.stdout.contains("Invoice Dispatcher"), "{edited:?}");
    let (status, body) = node.dispatch().await;
    assert!((500..600).contains(&status), "{status} {body}");
    assert!(body.contains("Invoice Dispatcher"), "{body}");
    let ping = node
        .zato(&["conn", "ping", "swift", "Invoice Dispatcher"])
        .await;
    assert_eq!(ping.code, Some(1), "{ping:?}");
    assert_eq!(ping.stderr.lines().count(), 1, "{ping:?}");

    // The right key heals it.
    let key = node
        .running
        .local
        .as_ref()
        .expect("the local endpoint")
        .key()
        .to_owned();
    node.zato(&[
        "conn",
        "edit",
        "swift",
        "Invoice Dispatcher",
        "--set",
        &format!("key={key}"),
        "--set",
        "pool_size=10",
    ])
    .await
    .ok();
    assert_eq!(node.dispatch().await.0, 200);
    node.zato(&["conn", "ping", "swift", "Invoice Dispatcher"])
        .await
        .ok();
    let shown = node
        .zato(&["--json", "conn", "get", "swift", "Invoice Dispatcher"])
        .await
        .ok();
    let config: serde_json::Value = serde_json::from_str(&shown.stdout).expect("JSON");
    assert_eq!(config["pool_size"], 10);
    assert_eq!(config["key"], "******");
    assert!(!shown.all().contains(&key), "{shown:?}");

    // A channel switched off and on.
    node.zato(&[
        "channel",
        "edit",
        "http",
        "invoice.dispatcher.json",
        "--set",
        "is_active=false",
    ])
    .await
    .ok();
    assert_eq!(node.dispatch().await.0, 503);
    node.zato(&[
        "channel",
        "edit",
        "http",
        "invoice.dispatcher.json",
        "--set",
        "is_active=true",
    ])
    .await
    .ok();
    assert_eq!(node.dispatch().await.0, 200);

    // A refused edit: one line naming the object and the problem, exit 1, nothing changed.
    let refused = node
        .zato(&[
            "conn",
            "edit",
            "swift",
            "Invoice Dispatcher",
            "--set",
            "pool_size=0",
        ])
        .await;
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert_eq!(refused.stderr.lines().count(), 1, "{refused:?}");
    assert!(refused.stderr.contains("pool_size"), "{refused:?}");
    assert!(refused.stderr.contains("Invoice Dispatcher"), "{refused:?}");
    assert_eq!(node.dispatch().await.0, 200);

    // enmasse: an export imported back changes nothing.
    let file = temp_file("node-export.toml");
    let file = file.to_str().expect("a UTF-8 path");
    node.zato(&["enmasse", "export", "--format", "toml", "--output", file])
        .await
        .ok();
    let dry = node
        .zato(&["enmasse", "import", file, "--dry-run", "--replace"])
        .await
        .ok();
    assert!(dry.stdout.lines().any(|l| l.starts_with('=')), "{dry:?}");
    assert!(
        !dry.stdout.lines().any(|l| l.starts_with(['+', '~', '-'])),
        "{dry:?}"
    );
    let _ = std::fs::remove_file(file);

    // The service itself.
    let invoked = node
        .zato(&[
            "service",
            "invoke",
            "invoice.dispatcher",
            "--data",
            r#"{"target": ["CRM"]}"#,
        ])
        .await
        .ok();
    assert!(invoked.stdout.contains("CRM"), "{invoked:?}");
    node.running.shutdown().await;
}

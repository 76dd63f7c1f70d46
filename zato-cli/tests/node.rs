//! The real `zato` binary against a real node: the InvoiceDispatcher example with its admin API,
//! doing the article's edits while the node serves, never restarted.
#![allow(
    clippy::expect_used,
    reason = "helpers outside #[test] functions panic on what would fail the test anyway"
)]

mod support;

use invoice_dispatcher as app;

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

    // A single node is no cluster, and that is no failure.
    let single = node.zato(&["cluster", "status"]).await.ok();
    assert_eq!(
        single.stdout,
        "this node is not in a cluster: it keeps its configuration to itself\n"
    );

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

/// `zato scheduler`: the example's daily job is listed as JSON, run by hand while paused (it
/// dispatches its extra), resumed, paused, edited with a bad cron (refused, naming the field),
/// created and deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_jobs_from_the_command_line() {
    let node = node().await;
    let list = node.zato(&["--json", "scheduler", "list"]).await.ok();
    let jobs: serde_json::Value = serde_json::from_str(&list.stdout).expect("a JSON array");
    let jobs = jobs.as_array().expect("an array");
    let daily = jobs
        .iter()
        .find(|j| j["name"] == "invoices.daily")
        .expect("the example's job");
    assert_eq!(daily["is_active"], false);
    assert_eq!(daily["type"], "cron");

    let run = node
        .zato(&["scheduler", "run-now", "invoices.daily"])
        .await
        .ok();
    assert!(run.stdout.contains("started"), "{run:?}");
    let local = node.running.local.as_ref().expect("the local endpoint");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while local.object("Billing", app::OBJECT).is_none() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        local.object("Billing", app::OBJECT).as_deref(),
        Some(&br#"{"id":"daily","target":["CRM","Billing"]}"#[..])
    );

    node.zato(&["scheduler", "resume", "invoices.daily"])
        .await
        .ok();
    let human = node.zato(&["scheduler", "list"]).await.ok();
    assert!(human.stdout.contains("invoices.daily"), "{human:?}");
    assert!(human.stdout.contains(" yes "), "{human:?}");
    node.zato(&["scheduler", "pause", "invoices.daily"])
        .await
        .ok();
    let bad = node
        .zato(&[
            "scheduler",
            "edit",
            "invoices.daily",
            "--set",
            "cron=61 * * * *",
        ])
        .await;
    assert_ne!(bad.code, Some(0));
    assert!(bad.all().contains("cron"), "{bad:?}");

    node.zato(&[
        "scheduler",
        "create",
        "--set",
        "name=ping",
        "--set",
        "service=invoice.dispatcher",
        "--set",
        "type=interval",
        "--set",
        "minutes=5",
        "--set",
        "is_active=false",
    ])
    .await
    .ok();
    let get = node.zato(&["scheduler", "get", "ping"]).await.ok();
    assert!(get.stdout.contains("minutes"), "{get:?}");
    node.zato(&["scheduler", "delete", "ping"]).await.ok();
    let missing = node.zato(&["scheduler", "run-now", "ping"]).await;
    assert_ne!(missing.code, Some(0));
    node.running.shutdown().await;
}

/// The example's outgoing REST connection: inactive as shipped, turned on and pinged from the
/// command line, then told of each invoice stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invoice_webhook_is_turned_on_and_pinged_from_the_command_line() {
    use wiremock::matchers::path;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let hook = MockServer::start().await;
    Mock::given(path("/stored"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&hook)
        .await;
    let node = node().await;
    // Inactive as shipped: the seed's request behaves as before and notifies nobody.
    assert_eq!(node.dispatch().await.0, 200);
    assert!(hook.received_requests().await.expect("recorded").is_empty());

    let address = format!("address={}/stored", hook.uri());
    let on = [
        "conn",
        "edit",
        "http",
        "Invoice Webhook",
        "--set",
        &address,
        "--set",
        "is_active=true",
    ];
    node.zato(&on).await.ok();
    node.zato(&["conn", "ping", "http", "Invoice Webhook"])
        .await
        .ok();
    let (status, body) = node.dispatch().await;
    assert_eq!(status, 200, "{body}");
    let got = hook.received_requests().await.expect("recorded");
    let posts: Vec<_> = got.iter().filter(|r| r.method.as_str() == "POST").collect();
    assert_eq!(posts.len(), 1, "{got:?}");
    let sent: serde_json::Value = serde_json::from_slice(&posts[0].body).expect("JSON");
    assert_eq!(sent["stored"], serde_json::json!(["CRM", "Billing"]));
    assert!(
        sent["cid"].as_str().is_some_and(|c| !c.is_empty()),
        "{sent}"
    );

    // An address nothing answers at: the ping fails, and the dispatch is a 502 naming the hook.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let gone = format!("address=http://127.0.0.1:{port}/stored");
    node.zato(&["conn", "edit", "http", "Invoice Webhook", "--set", &gone])
        .await
        .ok();
    let ping = node
        .zato(&["conn", "ping", "http", "Invoice Webhook"])
        .await;
    assert_ne!(ping.code, Some(0), "{ping:?}");
    let (status, body) = node.dispatch().await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body.contains("Invoice Webhook") && body.contains("stored for"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_from_the_command_line() {
    let node = node().await;
    let topics = node.zato(&["pubsub", "topic", "list"]).await.ok();
    assert!(
        topics.stdout.contains("invoices.stored"),
        "{}",
        topics.stdout
    );
    node.zato(&[
        "pubsub",
        "subscription",
        "create",
        "--set",
        "name=crm",
        "--set",
        "topic=invoices.*",
        "--set",
        "delivery=pull",
    ])
    .await
    .ok();
    let subs = node.zato(&["pubsub", "subscription", "list"]).await.ok();
    assert!(subs.stdout.contains("crm"), "{}", subs.stdout);
    assert!(subs.stdout.contains("invoice.audit"), "{}", subs.stdout);

    // The dispatch publishes invoices.stored; so does the command line.
    assert_eq!(node.dispatch().await.0, 200);
    node.zato(&["pubsub", "publish", "invoices.stored", r#"{"id":"9"}"#])
        .await
        .ok();
    // The operator's view: what is queued, without taking it, and the depths.
    let browsed = node.zato(&["pubsub", "browse", "crm"]).await.ok();
    assert_eq!(browsed.stdout.lines().count(), 2, "{}", browsed.stdout);
    let stats = node.zato(&["pubsub", "stats"]).await.ok();
    let crm = stats
        .stdout
        .lines()
        .find(|l| l.starts_with("crm "))
        .unwrap_or_default();
    assert_eq!(crm.split_whitespace().nth(1), Some("2"), "{}", stats.stdout);
    let pulled = node
        .zato(&["pubsub", "pull", "crm", "--max", "10"])
        .await
        .ok();
    let lines: Vec<&str> = pulled.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", pulled.stdout);
    assert!(
        lines[0].contains(r#""stored":["CRM","Billing"]"#),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1], r#"{"id":"9"}"#);
    // Acknowledged as printed: nothing comes back.
    let again = node.zato(&["pubsub", "pull", "crm"]).await.ok();
    assert_eq!(again.stdout, "");

    let refused = node
        .zato(&["pubsub", "publish", "invoices.none", "x"])
        .await;
    assert_ne!(refused.code, Some(0), "{refused:?}");
    assert!(
        refused.all().contains("no topic named `invoices.none`"),
        "{refused:?}"
    );

    node.zato(&["pubsub", "subscription", "delete", "crm"])
        .await
        .ok();
    let subs = node.zato(&["pubsub", "subscription", "list"]).await.ok();
    assert!(!subs.stdout.contains("crm"), "{}", subs.stdout);
    node.running.shutdown().await;
}

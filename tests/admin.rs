//! The admin API of the running InvoiceDispatcher, as an operator uses it: changes made while the
//! node serves, each checked with real requests; imports; and secrets that never show.
#![allow(
    clippy::expect_used,
    reason = "helpers outside #[test] functions panic on what would fail the test anyway"
)]

use invoice_dispatcher as app;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use app::Running;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use zato::config::{ConfigRuntime, Format, MemoryStore, SECRET_PLACEHOLDER};

const TOKEN: &str = "admin-token-for-tests";

/// Every log line of this test binary, at every level of ours.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        let filter = tracing_subscriber::EnvFilter::new(
            "trace,hyper=info,hyper_util=info,reqwest=info,h2=info,rustls=info,wiremock=info",
        );
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(move || LogWriter(writer.clone()))
            .try_init();
        buf
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Node {
    running: Running,
    base: String,
    admin: String,
    client: reqwest::Client,
}

impl Node {
    async fn start() -> Node {
        logs();
        let (running, base, admin) = app::start_local_node(TOKEN)
            .await
            .expect("the example starts");
        Node {
            running,
            base,
            admin,
            client: reqwest::Client::new(),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.admin))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("admin API answers");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, json)
    }

    async fn text(&self, path: &str) -> String {
        self.client
            .get(format!("{}{path}", self.admin))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("admin API answers")
            .text()
            .await
            .expect("body")
    }

    async fn dispatch(&self, path: &str, targets: &str) -> (StatusCode, String) {
        let resp = self
            .client
            .post(format!("{}{path}?{targets}", self.base))
            .body(r#"{"id":"123"}"#)
            .send()
            .await
            .expect("the channel answers");
        (resp.status(), resp.text().await.expect("body"))
    }

    fn swift_key(&self) -> String {
        self.running
            .local
            .as_ref()
            .expect("the local endpoint")
            .key()
            .to_owned()
    }
}

const SWIFT: &str = "/api/outgoing/swift/Invoice%20Dispatcher";
const JSON_CHANNEL: &str = "/api/channels/http/invoice.dispatcher.json";

#[tokio::test]
async fn the_admin_api_never_runs_open() {
    let node = Node::start().await;
    let no_token = node
        .client
        .get(format!("{}/api/services", node.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);
    assert_eq!(no_token.headers()["www-authenticate"], "Bearer");
    let wrong = node
        .client
        .get(format!("{}/api/config", node.admin))
        .bearer_auth("admin-token-for-test")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    // The scheme is case-insensitive (RFC 9110); the token is not.
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let resp = node
            .client
            .get(format!("{}/api/services", node.admin))
            .header("authorization", format!("{scheme} {TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{scheme}");
    }
    let other_scheme = node
        .client
        .get(format!("{}/api/services", node.admin))
        .header("authorization", format!("Basic {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(other_scheme.status(), 401);
    for health in ["/health/live", "/health/ready"] {
        let resp = node
            .client
            .get(format!("{}{health}", node.admin))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{health}");
    }
    let runtime = ConfigRuntime::new(zato::Platform::new(), Arc::new(MemoryStore::new()));
    let refused = zato::admin::AdminServer::serve("127.0.0.1:0", runtime, String::new().into())
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("never runs open"), "{refused}");
    node.running.shutdown().await;
}

/// 300 connections that send nothing, and some that trickle a request head, take every slot of
/// the admin listener (256): an operator still gets in at once, since the listener gives up the
/// connections idle the longest to make room.
#[tokio::test]
async fn idle_and_slow_connections_never_lock_an_operator_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let node = Node::start().await;
    let addr = node.admin.trim_start_matches("http://").to_owned();
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    for conn in idle.iter_mut().take(20) {
        // Some were given up already: their write may fail, which is what the test is about.
        let _ = conn
            .write_all(b"GET /api/services HTTP/1.1\r\nhost: x\r\nx-slow: ")
            .await;
    }
    let operator = reqwest::Client::new();
    let started = std::time::Instant::now();
    let resp = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        operator
            .get(format!("{}/api/services", node.admin))
            .bearer_auth(TOKEN)
            .send(),
    )
    .await
    .expect("the operator is answered well before the idle connections time out")
    .unwrap();
    assert_eq!(resp.status(), 200);
    let waited = started.elapsed();
    // The first connections opened were the first given up: the server closed them.
    let mut closed = 0;
    for conn in idle.iter_mut().take(60) {
        let mut buf = [0u8; 64];
        if let Ok(Ok(0)) =
            tokio::time::timeout(std::time::Duration::from_millis(200), conn.read(&mut buf)).await
        {
            closed += 1;
        }
    }
    assert!(closed >= 1, "no idle connection was closed to make room");
    eprintln!("operator answered in {waited:?}; {closed} of the first 60 idle connections closed");
    drop(idle);
    node.running.shutdown().await;
}

#[tokio::test]
async fn the_node_tells_its_kinds_and_refuses_one_it_lacks_by_naming_those_it_has() {
    let node = Node::start().await;
    let (status, _, body) = node.call(Method::GET, "/api/kinds", None).await;
    assert_eq!(status, 200, "{body}");
    let items = body["items"].as_array().expect("a list of kinds");
    let find = |section: &str, kind: &str| {
        items
            .iter()
            .find(|k| k["section"] == section && k["kind"] == kind)
            .unwrap_or_else(|| panic!("{section}.{kind} in {body}"))
    };
    let swift = find("outgoing", "swift");
    assert!(
        !swift["summary"].as_str().unwrap_or("").is_empty(),
        "{swift}"
    );
    assert_eq!(swift["pings"], true);
    let key = swift["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["name"] == "key"))
        .expect("swift's key field");
    assert_eq!(key["secret"], true);
    // A secret never shows, not even the example's.
    assert!(swift["example"].get("key").is_none(), "{swift}");
    find("channels", "http");
    find("security", "basic_auth");
    assert_eq!(find("channels", "scheduler")["runs"], true);
    // Behind the token like the rest.
    let open = node
        .client
        .get(format!("{}/api/kinds", node.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), 401);

    // A kind the node lacks: a 404 that names the kinds it has.
    let (status, _, body) = node.call(Method::GET, "/api/outgoing/ftp", None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["kind"], "unknown_kind");
    let message = body["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("`ftp`") && message.contains("swift"),
        "{message}"
    );
    let (status, _, _) = node
        .call(
            Method::POST,
            "/api/outgoing/ftp",
            Some(json!({"name": "x", "host": "h"})),
        )
        .await;
    assert_eq!(status, 404);

    // A whole document checked on the node, nothing applied: the import's dry run with replace.
    let check = |doc: Value| {
        node.client
            .post(format!(
                "{}/api/config/import?dry_run=true&replace=true",
                node.admin
            ))
            .bearer_auth(TOKEN)
            .json(&doc)
            .send()
    };
    let before = node.call(Method::GET, "/api/config", None).await.1;
    let before = before.get("etag").cloned().expect("an ETag");
    let bad =
        json!({"outgoing": {"swift": [{"name": "s", "pool_size": 0}], "ftp": [{"name": "f"}]}});
    let resp = check(bad).await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    let paths: Vec<&str> = body["error"]["problems"]
        .as_array()
        .map(|p| p.iter().filter_map(|p| p["path"].as_str()).collect())
        .unwrap_or_default();
    assert!(paths.contains(&"outgoing.swift.s.pool_size"), "{body}");
    assert!(paths.contains(&"outgoing.ftp"), "{body}");
    let resp = check(json!({"services": [{"name": "invoice.dispatcher"}]}))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["dry_run"], true, "{body}");
    let after = node.call(Method::GET, "/api/config", None).await.1;
    assert_eq!(after.get("etag"), Some(&before), "a check changes nothing");
    node.running.shutdown().await;
}

/// A channel or a job naming a service this node has not deployed is accepted, since the
/// service may be deployed later, with a warning at its `service` field: on a write, on a dry
/// run (what `zato config check --node` asks) and on an import. A deployed one gets none.
#[tokio::test]
async fn a_channel_naming_no_deployed_service_is_accepted_with_a_warning() {
    let node = Node::start().await;
    let (status, _, body) = node
        .call(
            Method::POST,
            "/api/channels/http",
            Some(json!({"name": "later", "url_path": "/later", "service": "billing.later"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["warnings"],
        json!([{
            "path": "channels.http.later.service",
            "message": "no service `billing.later` is deployed on this node; the channel fails until one is"
        }]),
        "{body}"
    );
    let (status, _, body) = node
        .call(
            Method::POST,
            "/api/channels/http",
            Some(json!({"name": "now", "url_path": "/now", "service": "invoice.dispatcher"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(body.get("warnings").is_none(), "{body}");

    let doc = json!({"channels": {"scheduler": [{
        "name": "nightly", "type": "interval", "seconds": 3600, "is_active": false,
        "service": "reports.nightly"
    }]}});
    for dry_run in [true, false] {
        let resp = node
            .client
            .post(format!(
                "{}/api/config/import?dry_run={dry_run}",
                node.admin
            ))
            .bearer_auth(TOKEN)
            .json(&doc)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "dry_run={dry_run}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            body["warnings"][0]["path"], "channels.scheduler.nightly.service",
            "dry_run={dry_run}: {body}"
        );
    }
    node.running.shutdown().await;
}

#[tokio::test]
async fn channels_change_live_with_versions() {
    let node = Node::start().await;
    let (status, headers, channel) = node.call(Method::GET, JSON_CHANNEL, None).await;
    assert_eq!(status, 200);
    assert_eq!(channel["url_path"], "/invoice.dispatcher");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, "\"1\"");

    // Deactivated: 503 at once; reactivated: served again.
    let (status, _, _) = node
        .call(
            Method::PATCH,
            JSON_CHANNEL,
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = node.dispatch("/invoice.dispatcher", "target=CRM").await;
    assert_eq!(status, 503, "{body}");
    // A write based on the old version is refused, and changes nothing.
    let stale = node
        .client
        .patch(format!("{}{JSON_CHANNEL}", node.admin))
        .bearer_auth(TOKEN)
        .header("if-match", &etag)
        .json(&json!({"is_active": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    assert_eq!(stale.headers()["etag"], "\"2\"");
    assert_eq!(
        node.dispatch("/invoice.dispatcher", "target=CRM").await.0,
        503
    );
    let fresh = node
        .client
        .patch(format!("{}{JSON_CHANNEL}", node.admin))
        .bearer_auth(TOKEN)
        .header("if-match", "\"2\"")
        .json(&json!({"is_active": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200);
    assert_eq!(
        node.dispatch("/invoice.dispatcher", "target=CRM").await.0,
        200
    );

    // A new channel serves at once; a bad one is refused with its paths.
    let (status, _, created) = node
        .call(
            Method::POST,
            "/api/channels/http",
            Some(json!({"name": "dispatch.v2", "url_path": "/v2/dispatch", "service": "invoice.dispatcher"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(node.dispatch("/v2/dispatch", "target=CRM").await.0, 200);
    let (status, _, refused) = node
        .call(
            Method::POST,
            "/api/channels/http",
            Some(json!({"name": "bad", "url_path": "no-slash", "service": "invoice.dispatcher", "secutiry": "x"})),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    let paths: Vec<&str> = refused["error"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    // The unknown field does not hide the channel's own problem.
    assert_eq!(
        paths,
        ["channels.http.bad.secutiry", "channels.http.bad.url_path"],
        "{refused}"
    );
    let (status, _, _) = node
        .call(Method::DELETE, "/api/channels/http/dispatch.v2", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(node.dispatch("/v2/dispatch", "target=CRM").await.0, 404);
    let (status, _, _) = node
        .call(Method::DELETE, "/api/channels/http/dispatch.v2", None)
        .await;
    assert_eq!(status, 404);
    node.running.shutdown().await;
}

#[tokio::test]
async fn a_wrong_key_fails_on_use_naming_the_connection_and_the_right_one_heals_it() {
    let node = Node::start().await;
    let (status, _, _) = node
        .call(Method::PATCH, SWIFT, Some(json!({"key": "wrong"})))
        .await;
    assert_eq!(
        status, 200,
        "a wrong password is configuration like any other"
    );
    let (status, body) = node.dispatch("/invoice.dispatcher", "target=CRM").await;
    assert!(status.is_server_error(), "{status} {body}");
    assert!(body.contains("Invoice Dispatcher"), "{body}");
    let (status, _, ping) = node
        .call(Method::POST, &format!("{SWIFT}/ping"), None)
        .await;
    assert_eq!(status, 502, "{ping}");
    assert_eq!(ping["ok"], false);

    let key = node.swift_key();
    node.call(Method::PATCH, SWIFT, Some(json!({"key": key})))
        .await;
    let (status, body) = node.dispatch("/invoice.dispatcher", "target=CRM").await;
    assert_eq!(status, 200, "{body}");
    let (status, _, ping) = node
        .call(Method::POST, &format!("{SWIFT}/ping"), None)
        .await;
    assert_eq!(
        (status, &ping["ok"]),
        (StatusCode::OK, &json!(true)),
        "{ping}"
    );
    node.running.shutdown().await;
}

#[tokio::test]
async fn imports_are_all_or_nothing_and_an_export_imports_back_unchanged() {
    let node = Node::start().await;
    let import = |query: &'static str, body: String, content_type: &'static str| {
        node.client
            .post(format!("{}/api/config/import{query}", node.admin))
            .bearer_auth(TOKEN)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    // Errors in several places: all reported, none applied.
    let bad = r#"
[[channels.http]]
name = "new.one"
url_path = "/new"
service = "invoice.dispatcher"

[[channels.http]]
name = "broken"
url_path = "broken"
service = "invoice.dispatcher"
methods = ["P OST"]

[[outgoing.swift]]
name = "Invoice Dispatcher"
pool_size = 0
key = "******"

[[security]]
type = "oauth"
name = "x"
"#;
    let resp = import("", bad.to_owned(), "application/toml")
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    let paths: Vec<&str> = body["error"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "channels.http.broken.url_path",
            "channels.http.broken.methods[0]",
            // The document's connection replaces the node's whole: it names no server.
            "outgoing.swift.\"Invoice Dispatcher\".auth_url",
            "outgoing.swift.\"Invoice Dispatcher\".user",
            "outgoing.swift.\"Invoice Dispatcher\".pool_size",
            "security.x",
        ],
        "{body}"
    );
    assert_eq!(
        node.dispatch("/new", "target=CRM").await.0,
        404,
        "nothing applied"
    );

    // An unknown section hides none of the objects' problems.
    let resp = import("", format!("[unknown]\nx = 1\n{bad}"), "application/toml")
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    let problems = body["error"]["problems"].as_array().unwrap();
    assert_eq!(problems[0]["path"], "unknown", "{body}");
    assert_eq!(problems.len(), 7, "{body}");

    // An export, imported back with replace: no change, no new version, the key still works.
    let exported = node.text("/api/config?format=yaml").await;
    assert!(exported.contains(SECRET_PLACEHOLDER), "{exported}");
    let resp = import("?replace=true&format=yaml", exported.clone(), "text/plain")
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let outcome: Value = resp.json().await.unwrap();
    assert_eq!(outcome["version"], 1, "{outcome}");
    // Three HTTP channels, the scheduler's job, the Swift connection, the Invoice Webhook, the
    // Invoice Log, and the pub/sub topic and subscription.
    assert_eq!(outcome["diff"]["unchanged"].as_array().unwrap().len(), 9);
    assert_eq!(
        node.dispatch("/invoice.dispatcher", "target=CRM").await.0,
        200
    );

    // A dry run shows the diff and changes nothing; replace deletes what the document lacks.
    let mut doc: Value = serde_json::from_str(&node.text("/api/config").await).unwrap();
    doc["channels"]["http"]
        .as_array_mut()
        .unwrap()
        .retain(|c| c["name"] != "invoice.dispatcher.soap");
    doc["outgoing"]["swift"][0]["pool_size"] = json!(7);
    let resp = import(
        "?dry_run=true&replace=true",
        doc.to_string(),
        "application/json",
    )
    .await
    .unwrap();
    let dry: Value = resp.json().await.unwrap();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(
        dry["diff"]["updated"],
        json!(["outgoing.swift.\"Invoice Dispatcher\""])
    );
    assert_eq!(
        dry["diff"]["deleted"],
        json!(["channels.http.\"invoice.dispatcher.soap\""])
    );
    // Still there (a JSON body on a SOAP channel is a 400, not a 404).
    assert_ne!(
        node.dispatch("/soap/invoice.dispatcher", "target=CRM")
            .await
            .0,
        404
    );
    let resp = import("?replace=true", doc.to_string(), "application/json")
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        node.dispatch("/soap/invoice.dispatcher", "target=CRM")
            .await
            .0,
        404
    );
    let (_, _, swift) = node.call(Method::GET, SWIFT, None).await;
    assert_eq!(swift["pool_size"], 7);
    node.running.shutdown().await;
}

/// 10,000 channels in one document apply as one change (the route table is built once, not once
/// per channel), and a write queued behind the import gets its answer within the runtime's
/// bounded wait: done, or a 503 saying the configuration is busy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_import_applies_as_one_change_and_a_write_behind_it_waits_a_bounded_time() {
    let node = Node::start().await;
    let channels: Vec<Value> = (0..10_000)
        .map(|i| {
            json!({"name": format!("bulk.{i:05}"), "url_path": format!("/bulk/{i:05}"),
                   "service": "invoice.dispatcher", "methods": ["POST"]})
        })
        .collect();
    let doc = json!({"channels": {"http": channels}}).to_string();
    let started = std::time::Instant::now();
    let import = tokio::spawn({
        let request = node
            .client
            .post(format!("{}/api/config/import", node.admin))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(doc);
        async move {
            let resp = request.send().await.expect("the import answers");
            (resp.status(), resp.text().await.expect("body"))
        }
    });
    // The import is under way (its body is read and checked in milliseconds) when the write
    // arrives.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let bound = zato::config::DEFAULT_WRITE_WAIT + std::time::Duration::from_secs(10);
    let write = node.call(
        Method::POST,
        "/api/channels/http",
        Some(
            json!({"name": "beside.bulk", "url_path": "/beside", "service": "invoice.dispatcher"}),
        ),
    );
    let (status, _, body) = tokio::time::timeout(bound, write)
        .await
        .expect("the write behind the import gets its answer within its bound");
    let write_answered = (started.elapsed(), status);
    assert!(
        status == StatusCode::CREATED
            || (status == StatusCode::SERVICE_UNAVAILABLE && body["error"]["kind"] == "busy"),
        "{status} {body}"
    );
    let (status, body) = tokio::time::timeout(std::time::Duration::from_secs(90), import)
        .await
        .expect("10,000 objects import in well under a minute")
        .expect("the import task");
    let imported = started.elapsed();
    assert_eq!(status, 200, "{body}");
    let outcome: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        outcome["diff"]["created"].as_array().map(Vec::len),
        Some(10_000)
    );
    eprintln!(
        "10,000 channels imported in {imported:?}; the write behind answered {} after {:?}",
        write_answered.1, write_answered.0
    );
    let (status, _) = node.dispatch("/bulk/09999", "target=CRM").await;
    assert_ne!(status, 404, "the last channel of the import is served");

    // All or nothing still: a clash on the last channel leaves the others out. The check finds
    // it, as a dry run would, before anything is applied.
    let clash = json!({"channels": {"http": [
        {"name": "zz.a", "url_path": "/zz/a", "service": "invoice.dispatcher"},
        {"name": "zz.b", "url_path": "/bulk/00007", "service": "invoice.dispatcher", "methods": ["POST"]}
    ]}});
    let (status, _, body) = node
        .call(Method::POST, "/api/config/import", Some(clash))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["kind"], "invalid", "{body}");
    assert!(
        body["error"]["problems"][0]["path"]
            .as_str()
            .is_some_and(|p| p.starts_with("channels.http.\"zz.b\"")),
        "{body}"
    );
    assert_eq!(node.dispatch("/zz/a", "target=CRM").await.0, 404);
    let (status, _, _) = node
        .call(Method::GET, "/api/channels/http/zz.a", None)
        .await;
    assert_eq!(status, 404);
}

/// What the admin plane takes is bounded: a body over the document size is a 413 before it is
/// read whole; a name or a text field over its bound is refused with its path.
#[tokio::test]
async fn documents_names_and_fields_over_their_bounds_are_refused_with_their_path() {
    use zato::config::bounds;
    let node = Node::start().await;
    let big = format!(
        r#"{{"channels": {{"http": [{{"name": "a", "url_path": "/a", "service": "{}"}}]}}}}"#,
        "s".repeat(bounds::MAX_DOCUMENT_BYTES)
    );
    let resp = node
        .client
        .post(format!("{}/api/config/import?dry_run=true", node.admin))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .expect("the admin API answers");
    assert_eq!(resp.status(), 413);
    let (status, _, body) = node
        .call(
            Method::POST,
            "/api/channels/http",
            Some(
                json!({"name": "n".repeat(bounds::MAX_NAME_BYTES + 1), "url_path": "/long",
                        "service": "invoice.dispatcher"}),
            ),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["problems"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("at most")),
        "{body}"
    );
    let (status, _, body) = node
        .call(
            Method::PATCH,
            JSON_CHANNEL,
            Some(json!({"service": "s".repeat(bounds::MAX_TEXT_BYTES + 1)})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"]["problems"][0]["path"], "channels.http.\"invoice.dispatcher.json\".service",
        "{body}"
    );
}

#[tokio::test]
async fn services_are_listed_invoked_and_deactivated() {
    let node = Node::start().await;
    let (status, _, list) = node.call(Method::GET, "/api/services", None).await;
    assert_eq!(status, 200);
    // Among them, the pub/sub plug-in's and the example's audit service.
    let dispatcher = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "invoice.dispatcher")
        .unwrap();
    assert_eq!(dispatcher["is_active"], true);
    let (status, _, invoked) = node
        .call(
            Method::POST,
            "/api/services/invoice.dispatcher/invoke",
            Some(json!({"target": ["CRM"]})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(invoked["status"], 200, "{invoked}");
    assert_eq!(invoked["response"]["stored"], json!(["CRM"]));
    assert_eq!(invoked["cid"].as_str().unwrap().len(), 26);
    // The outer status says what happened, as the body does.
    for (path, body, expected) in [
        ("/api/services/no.such.service/invoke", json!({}), 404),
        (
            "/api/services/invoice.dispatcher/invoke",
            json!({"target": 5}),
            400,
        ),
    ] {
        let (status, _, invoked) = node.call(Method::POST, path, Some(body)).await;
        assert_eq!(status, expected, "{path}: {invoked}");
        assert_eq!(invoked["status"], expected, "{invoked}");
    }

    node.call(
        Method::PUT,
        "/api/services/invoice.dispatcher",
        Some(json!({"is_active": false})),
    )
    .await;
    assert_eq!(
        node.dispatch("/invoice.dispatcher", "target=CRM").await.0,
        503
    );
    node.call(Method::DELETE, "/api/services/invoice.dispatcher", None)
        .await;
    assert_eq!(
        node.dispatch("/invoice.dispatcher", "target=CRM").await.0,
        200
    );
    node.running.shutdown().await;
}

#[tokio::test]
async fn no_secret_shows_in_reads_exports_errors_metrics_or_logs() {
    let node = Node::start().await;
    let swift_secret = "sw1ft-s3cret-never-shown";
    let basic_secret = "b4sic-s3cret-never-shown";
    let apikey_secret = "ap1key-s3cret-never-shown";
    let mut shown = Vec::new();
    // Secrets going in, through every door.
    let (status, _, body) = node
        .call(Method::PATCH, SWIFT, Some(json!({"key": swift_secret})))
        .await;
    assert_eq!(status, 200, "{body}");
    shown.push(body.to_string());
    for def in [
        json!({"type": "basic_auth", "name": "crm", "username": "crm", "password": basic_secret}),
        json!({"type": "apikey", "name": "billing", "key": apikey_secret}),
    ] {
        let (status, _, body) = node.call(Method::POST, "/api/security", Some(def)).await;
        assert_eq!(status, 201, "{body}");
        shown.push(body.to_string());
    }
    // Errors about objects holding secrets: a secret of the wrong type, a refused change.
    for patch in [
        json!({"key": 12345, "pool_size": 0}),
        json!({"password": ["b4sic-s3cret-never-shown"]}),
    ] {
        let path = if patch.get("key").is_some() {
            SWIFT.to_owned()
        } else {
            "/api/security/crm".to_owned()
        };
        let (status, _, body) = node.call(Method::PATCH, &path, Some(patch)).await;
        assert_eq!(status, 400, "{body}");
        shown.push(body.to_string());
    }
    // A failed use of the wrong key.
    shown.push(node.dispatch("/invoice.dispatcher", "target=CRM").await.1);
    // Reads.
    for path in [
        SWIFT,
        "/api/outgoing/swift",
        "/api/security",
        "/api/security/crm",
        "/api/security/billing",
        "/api/config/history",
        "/metrics",
    ] {
        shown.push(node.text(path).await);
    }
    for format in ["json", "toml", "yaml"] {
        shown.push(node.text(&format!("/api/config?format={format}")).await);
    }
    let (_, _, def) = node.call(Method::GET, "/api/security/crm", None).await;
    assert_eq!(def["password"], SECRET_PLACEHOLDER);
    shown.push(format!("{:?}", node.running.runtime));
    shown.push(String::from_utf8_lossy(&logs().lock().unwrap()).into_owned());
    for text in &shown {
        for secret in [swift_secret, basic_secret, apikey_secret] {
            assert!(!text.contains(secret), "{secret} shown in:\n{text}");
        }
    }
    assert!(
        shown.last().unwrap().contains("configuration changed"),
        "the logs were captured"
    );
    node.running.shutdown().await;
}

#[test]
fn the_example_config_and_its_toml_twin_are_the_same_valid_document() {
    let json = zato::config::ConfigDocument::parse(
        include_str!("../examples/invoice_dispatcher/config.json"),
        Format::Json,
    )
    .expect("config.json reads");
    let toml = zato::config::ConfigDocument::parse(
        include_str!("../examples/invoice_dispatcher/config.toml"),
        Format::Toml,
    )
    .expect("config.toml reads");
    assert_eq!(json, toml);
    // As shipped, it checks: the connection names the local endpoint the example serves.
    zato::config::checker()
        .check(&json)
        .expect("the shipped document checks");
}

#[tokio::test]
async fn metrics_count_requests_invocations_and_the_pool() {
    let node = Node::start().await;
    assert_eq!(
        node.dispatch("/invoice.dispatcher", "target=CRM").await.0,
        200
    );
    assert_eq!(
        node.dispatch("/invoice.dispatcher", "target=CRM").await.0,
        200
    );
    assert_eq!(node.dispatch("/invoice.dispatcher", "").await.0, 400);
    let metrics = node.text("/metrics").await;
    for line in [
        r#"zato_channel_requests_total{kind="http",channel="invoice.dispatcher.json",status="200"} 2"#,
        r#"zato_channel_requests_total{kind="http",channel="invoice.dispatcher.json",status="400"} 1"#,
        r#"zato_channel_request_duration_seconds_count{kind="http",channel="invoice.dispatcher.json"} 3"#,
        r#"zato_service_invocations_total{service="invoice.dispatcher"} 3"#,
        r#"zato_service_errors_total{service="invoice.dispatcher"} 1"#,
        r#"zato_outgoing_pool_max_size{kind="swift",connection="Invoice Dispatcher"} 5"#,
        r#"zato_outgoing_pool_in_use{kind="swift",connection="Invoice Dispatcher"} 0"#,
        r#"zato_outgoing_pool_checkout_timeouts_total{kind="swift",connection="Invoice Dispatcher"} 0"#,
    ] {
        assert!(metrics.contains(line), "{line} not in:\n{metrics}");
    }
    node.running.shutdown().await;
}

/// The OpenAPI document of the HTTP channels, generated from the live channel table and the
/// service's SimpleIO description.
#[tokio::test]
async fn the_openapi_document_describes_the_channels_and_follows_live_changes() {
    let node = Node::start().await;
    let (status, _, doc) = node.call(Method::GET, "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let post = &doc["paths"]["/invoice.dispatcher"]["post"];
    let target = post["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == "target")
        .expect("target in the query");
    assert_eq!(target["in"], "query");
    assert_eq!(target["style"], "form");
    assert_eq!(target["explode"], true);
    assert_eq!(target["schema"]["type"], "array");
    let input = &doc["components"]["schemas"]["invoice.dispatcher.Input"];
    assert_eq!(input["required"], json!(["target"]));
    assert_eq!(
        input["properties"]["target"]["description"],
        "The applications to send the invoice to: each is a Swift container."
    );
    // The field's bounds, and each target's rule (a `ContainerName`), in the body and the query.
    let body_target = &input["properties"]["target"];
    for schema in [body_target, &target["schema"]] {
        assert_eq!(schema["minItems"], 1, "{schema}");
        assert_eq!(schema["maxItems"], 100, "{schema}");
        assert_eq!(schema["items"]["minLength"], 1, "{schema}");
        assert_eq!(schema["items"]["maxLength"], 256, "{schema}");
        assert!(schema["items"]["pattern"].is_string(), "{schema}");
    }
    assert_eq!(post["requestBody"]["required"], true);
    assert!(post["responses"]["502"].is_object());
    assert!(doc["paths"]["/xml/invoice.dispatcher"]["post"]["requestBody"]["content"]["application/xml"].is_object());
    assert!(
        doc["paths"]["/soap/invoice.dispatcher"].is_null(),
        "SOAP is the WSDL's"
    );

    // A channel added live shows at once.
    let (status, _, _) = node
        .call(
            Method::POST,
            "/api/channels/http",
            Some(json!({"name": "lookup", "url_path": "/lookup/{id}", "service": "invoice.dispatcher", "methods": ["GET"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, _, doc) = node.call(Method::GET, "/openapi.json", None).await;
    let get = &doc["paths"]["/lookup/{id}"]["get"];
    assert_eq!(get["parameters"][0]["name"], "id");
    assert_eq!(get["parameters"][0]["in"], "path");
    let yaml = node.text("/openapi.yaml").await;
    assert!(
        yaml.lines()
            .any(|l| l.starts_with("openapi:") && l.contains("3.1.0")),
        "{yaml}"
    );

    node.running.shutdown().await;
}

/// A Python module the test needs: it is ignored by a plain `cargo test`, and run with
/// `--include-ignored` it fails here, naming what to install, when the module is missing.
fn require_python(module: &str, install: &str) {
    let found = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "this test needs the Python module {module}: {install}"
    );
}

/// openapi-spec-validator (PyPI), independent of our code, finds the generated OpenAPI document
/// valid, with a channel added live.
#[tokio::test]
#[ignore = "needs openapi-spec-validator (pip install openapi-spec-validator)"]
async fn an_independent_validator_finds_the_openapi_document_valid() {
    require_python(
        "openapi_spec_validator",
        "pip install openapi-spec-validator",
    );
    let node = Node::start().await;
    let (status, _, _) = node
        .call(
            Method::POST,
            "/api/channels/http",
            Some(json!({"name": "lookup", "url_path": "/lookup/{id}", "service": "invoice.dispatcher", "methods": ["GET"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, _, doc) = node.call(Method::GET, "/openapi.json", None).await;
    let path = std::env::temp_dir().join(format!("zato-openapi-{}.json", std::process::id()));
    std::fs::write(&path, doc.to_string()).expect("written");
    let out = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&path)
        .output()
        .expect("the validator runs");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    node.running.shutdown().await;
}

/// Runs the Python SOAP client `script` of `tests/soap/` against `wsdl_url`, and returns what
/// it printed; it must succeed. The toolkit calls the node that runs in this process, so it
/// waits on another thread.
async fn soap_client(script: &str, wsdl_url: String) -> String {
    let script = format!("{}/tests/soap/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(script)
            .arg(&wsdl_url)
            .output()
    })
    .await
    .expect("joined")
    .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// zeep (PyPI), a SOAP toolkit that has never seen our code, calls the service through the WSDL
/// the node generates, over SOAP 1.1 and 1.2, and gets a refused target back as a SOAP Fault.
#[tokio::test]
#[ignore = "needs zeep (pip install zeep)"]
async fn a_soap_toolkit_calls_the_service_through_the_generated_wsdl() {
    require_python("zeep", "pip install zeep");
    let node = Node::start().await;
    // From the admin API, and at the channel's own URL with `?wsdl`, as toolkits fetch it.
    let wsdl = node
        .text("/api/channels/http/invoice.dispatcher.soap/wsdl")
        .await;
    assert!(wsdl.contains("soap12:binding"), "{wsdl}");
    let url = format!("{}/soap/invoice.dispatcher", node.base);
    assert!(wsdl.contains(&format!("location=\"{url}\"")), "{wsdl}");
    let resp = node
        .client
        .get(format!("{url}?wsdl"))
        .send()
        .await
        .expect("the channel answers");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.expect("body"), wsdl, "the same document");
    let stdout = soap_client("zeep_client.py", format!("{url}?wsdl")).await;
    assert_eq!(
        stdout.lines().filter(|l| l.contains(" reply ")).count(),
        2,
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().filter(|l| l.contains(" fault ")).count(),
        2,
        "{stdout}"
    );
    let (status, _, _) = node
        .call(
            Method::GET,
            "/api/channels/http/invoice.dispatcher.json/wsdl",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a JSON channel has no WSDL");
    node.running.shutdown().await;
}

/// suds (suds-community, PyPI), a second SOAP toolkit independent of zeep and stricter: it
/// resolves each element a message part names in the schema's target namespace, and refused the
/// WSDL whose schema had none (`TypeNotFound: (request, urn:zato:invoice.dispatcher)`). It calls
/// the service over SOAP 1.1 (it has no SOAP 1.2) and gets a refused target back as a Fault.
#[tokio::test]
#[ignore = "needs suds (pip install suds-community)"]
async fn a_second_soap_toolkit_calls_the_service_through_the_generated_wsdl() {
    require_python("suds", "pip install suds-community");
    let node = Node::start().await;
    let url = format!("{}/soap/invoice.dispatcher", node.base);
    let stdout = soap_client("suds_client.py", format!("{url}?wsdl")).await;
    assert_eq!(
        stdout.lines().filter(|l| l.contains(" reply ")).count(),
        1,
        "{stdout}"
    );
    // The refused target: a Fault, which suds reads only from a 500 (SOAP 1.1's status for a
    // Fault, WS-I R1126), and the channel answers a caller's fault with a 400. Until that
    // changes, suds reports the status alone; the Fault itself is zeep's to check.
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.contains(" fault ") || l.contains(" refused with HTTP 400"))
            .count(),
        1,
        "{stdout}"
    );
    node.running.shutdown().await;
}

/// How long one schemathesis run may take before it is killed and the test fails: far more than
/// the 100 cases per operation take on loopback (well under a minute), so only a hang reaches it.
const ST_WALL_CLOCK: std::time::Duration = std::time::Duration::from_secs(300);

/// Runs `st run` with `args` in a directory of its own (its example database and caches go
/// there, and are removed with it), killed after [`ST_WALL_CLOCK`]. Returns its stdout; fails the
/// test on a non-zero exit or on the time limit, with what it printed.
fn schemathesis(label: &str, args: &[String]) -> String {
    use std::io::Read;
    use std::process::{Command, Stdio};

    let dir = std::env::temp_dir().join(format!("zato-st-{label}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a working directory");
    let mut child = Command::new("st")
        .arg("run")
        .args(args)
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("schemathesis starts");
    // Read on threads, so a full pipe never stalls the run.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("schemathesis runs") {
            break Some(status);
        }
        if started.elapsed() > ST_WALL_CLOCK {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let out = stdout.join().unwrap_or_default();
    let err = stderr.join().unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    match status {
        None => panic!(
            "schemathesis ({label}) ran longer than {} s and was killed:\n{out}{err}",
            ST_WALL_CLOCK.as_secs()
        ),
        Some(status) => assert!(
            status.success(),
            "schemathesis ({label}): {status}\n{out}{err}"
        ),
    }
    out
}

/// schemathesis (PyPI) fuzzes the example's HTTP channels (JSON and XML) from their generated
/// OpenAPI document, with its default checks: no server error, every response matching its
/// schema, and every request the document calls valid accepted. Bounded three ways: 100 cases
/// per operation, a fixed seed, and a wall clock ([`ST_WALL_CLOCK`]) after which the run is
/// killed and the test fails.
///
/// One default check is left out, `negative_data_rejection` (a request the document calls
/// invalid must be refused), because two rules of the contract make some such requests right:
/// - an element may come from the query string instead of the body (issue 12; the seed's own
///   request sends `target` so). The document lists the body with its required elements and the
///   query parameters as optional, and OpenAPI has no way to say "this parameter or that body
///   property", so a body without `target`, or no body, with `target` in the query string is
///   rightly accepted;
/// - in XML every value is text: the `false` it sends where a string is declared arrives as
///   `<target>false</target>`, the string "false", rightly accepted.
#[tokio::test]
#[ignore = "needs schemathesis (pip install schemathesis)"]
async fn schemathesis_finds_no_server_error_and_no_response_off_its_schema() {
    let st = std::process::Command::new("st")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        st,
        "this test needs schemathesis's `st`: pip install schemathesis"
    );
    let node = Node::start().await;
    let spec = node.text("/openapi.json").await;
    let path = std::env::temp_dir().join(format!("zato-openapi-st-{}.json", std::process::id()));
    std::fs::write(&path, spec).expect("written");
    let args: Vec<String> = vec![
        path.display().to_string(),
        "--url".into(),
        node.base.clone(),
        "--max-examples".into(),
        "100".into(),
        "--seed".into(),
        "1".into(),
        "--exclude-checks".into(),
        "negative_data_rejection".into(),
    ];
    let run = tokio::task::spawn_blocking(move || schemathesis("http", &args)).await;
    let _ = std::fs::remove_file(&path);
    let out = run.expect("schemathesis passed");
    let summary = out
        .lines()
        .find(|l| l.contains("generated,"))
        .unwrap_or_default()
        .trim();
    eprintln!("schemathesis: {summary}");
    assert!(
        out.contains("Tested: 2") && summary.contains("passed"),
        "both operations, every case passed: {out}"
    );
    node.running.shutdown().await;
}

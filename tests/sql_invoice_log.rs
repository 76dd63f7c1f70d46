//! The example's `Invoice Log` (`outgoing.sql`) through the node's faces: each dispatch is
//! recorded (cid, targets, outcome) in `invoice_log`, created when missing; the admin API lists
//! the SQL kinds, edits the connection live with `url`, pings it, and never shows its password.
//! Against SQLite files of their own, and the PostgreSQL at `ZATO_TEST_PG_URL` (ignored unless
//! run with `--include-ignored`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on what they did not expect"
)]

use ::invoice_dispatcher as app;
use reqwest::Method;
use serde_json::{Value, json};
use zato::prelude::SqlOutgoing;

const TOKEN: &str = "sql-test-token";
const LOG: &str = "/api/outgoing/sql/Invoice%20Log";

struct Node {
    running: app::Running,
    base: String,
    admin: String,
    client: reqwest::Client,
}

impl Node {
    async fn start() -> Node {
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

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.admin))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("admin API answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Dispatches an invoice; its cid.
    async fn dispatch(&self, targets: &str) -> String {
        let resp = self
            .client
            .post(format!("{}/invoice.dispatcher?{targets}", self.base))
            .body(r#"{"id":"123"}"#)
            .send()
            .await
            .expect("the channel answers");
        assert_eq!(resp.status(), 200);
        resp.headers()["x-zato-cid"].to_str().unwrap().to_owned()
    }

    /// The row the dispatch `cid` left in the log.
    async fn logged(&self, cid: &str) -> Vec<serde_json::Map<String, Value>> {
        let db = self
            .running
            .platform
            .outgoing()
            .sql(app::INVOICE_LOG)
            .unwrap();
        let sql = match db.engine() {
            zato::sql::Engine::Postgresql => {
                "SELECT cid, targets, outcome FROM invoice_log WHERE cid = $1"
            }
            _ => "SELECT cid, targets, outcome FROM invoice_log WHERE cid = ?",
        };
        db.fetch_json(sql, &[cid.into()]).await.unwrap()
    }
}

fn temp_sqlite(name: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("{name}-{}.sqlite", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path.to_string_lossy().into_owned()
}

#[tokio::test]
async fn each_dispatch_is_recorded_and_the_log_is_edited_live_without_showing_its_password() {
    let node = Node::start().await;
    // The kinds, as every face learns them.
    let (status, kinds) = node.call(Method::GET, "/api/kinds", None).await;
    assert_eq!(status, 200);
    let items = kinds["items"].as_array().unwrap();
    let sql = items
        .iter()
        .find(|k| k["section"] == "outgoing" && k["kind"] == "sql")
        .expect("outgoing.sql");
    assert_eq!(sql["pings"], true);
    assert!(
        items
            .iter()
            .any(|k| k["section"] == "channels" && k["kind"] == "sql_outbox")
    );

    // Pointed at a file of this test's own, with a password set apart (SQLite ignores it).
    let file = temp_sqlite("invoice-log");
    let secret = "l0g-s3cret-never-shown";
    let (status, body) = node
        .call(
            Method::PATCH,
            LOG,
            Some(json!({"url": format!("sqlite://{file}"), "password": secret})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, read) = node.call(Method::GET, LOG, None).await;
    assert_eq!(status, 200);
    assert_eq!(read["database"], file.as_str());
    assert!(!read.to_string().contains(secret), "{read}");
    let (status, ping) = node.call(Method::POST, &format!("{LOG}/ping"), None).await;
    assert_eq!(status, 200, "{ping}");
    assert_eq!(ping["ok"], true, "{ping}");

    let cid = node.dispatch("target=CRM&target=Billing").await;
    let rows = node.logged(&cid).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["targets"], "CRM,Billing");
    assert_eq!(rows[0]["outcome"], "stored");

    // A bad URL is refused naming the field, without quoting the password in it.
    let (status, body) = node
        .call(
            Method::PATCH,
            LOG,
            Some(json!({"url": "postgres://u:pa55-in-url@h:99999/db"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string().contains("url") && !body.to_string().contains("pa55-in-url"),
        "{body}"
    );
    // Metrics: the pool and the statements' time, per connection.
    let (status, metrics) = node.call(Method::GET, "/metrics", None).await;
    let metrics = metrics.as_str().unwrap_or_default().to_owned();
    assert_eq!(status, 200);
    for line in [
        "zato_sql_pool_max_size{connection=\"Invoice Log\"} 4",
        "zato_sql_query_seconds_count{connection=\"Invoice Log\"}",
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }
    assert!(!metrics.contains(secret));
    node.running.shutdown().await;
    let _ = std::fs::remove_file(&file);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (ZATO_TEST_PG_URL)"]
async fn the_log_pointed_at_postgresql_by_url_creates_its_table_and_records() {
    let url = std::env::var("ZATO_TEST_PG_URL")
        .expect("ZATO_TEST_PG_URL is not set: e.g. postgres://postgres@127.0.0.1:5432/postgres");
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    let db = format!(
        "zato_log_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&admin)
        .await
        .unwrap();
    let node = Node::start().await;
    let (base, _) = url.rsplit_once('/').unwrap();
    let (status, body) = node
        .call(
            Method::PATCH,
            LOG,
            Some(json!({"url": format!("{base}/{db}")})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, ping) = node.call(Method::POST, &format!("{LOG}/ping"), None).await;
    assert_eq!((status, &ping["ok"]), (200, &json!(true)), "{ping}");
    let cid = node.dispatch("target=CRM").await;
    let rows = node.logged(&cid).await;
    node.running.shutdown().await;
    sqlx::query(&format!("DROP DATABASE {db} WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["targets"], "CRM");
}

#[tokio::test]
async fn a_log_out_of_reach_fails_no_dispatch() {
    let node = Node::start().await;
    let (status, body) = node
        .call(
            Method::PATCH,
            LOG,
            Some(json!({"url": "postgres://zato:l0g-pa55@127.0.0.1:1/zato", "pool_wait": 0.5})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, ping) = node.call(Method::POST, &format!("{LOG}/ping"), None).await;
    assert_eq!(status, 502, "{ping}");
    assert_eq!(ping["ok"], false, "{ping}");
    assert!(ping.to_string().contains("Invoice Log"), "{ping}");
    assert!(!ping.to_string().contains("l0g-pa55"), "{ping}");
    // The invoice is stored all the same; only its record is missing.
    node.dispatch("target=CRM").await;
    node.running.shutdown().await;
}

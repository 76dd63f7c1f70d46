//! The example as three nodes of a cluster, three processes on loopback sharing one
//! configuration through the PostgreSQL at `ZATO_TEST_PG_URL`; a plain `cargo test` reports it
//! as ignored, `--include-ignored` runs it. The test works in a database of its own, dropped at the end.
//!
//! Each node is this test binary run again (`node_process`, ignored unless asked for), so the
//! nodes are real processes that can be killed and restarted.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed step fails the test"
)]

use invoice_dispatcher as app;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

const TOKEN: &str = "cluster-admin-token";
const SECRET_KEY: &str = "the passphrase of the test cluster, 32+ chars";
const CONNECTION: &str = "/api/outgoing/swift/Invoice%20Dispatcher";

/// One node of the cluster, as the test binary run again. Waits until its stdin closes.
#[tokio::test]
#[ignore = "a node of `three_nodes_share_one_configuration`, which starts it as a process"]
async fn node_process() {
    let (Ok(db), Ok(name)) = (
        std::env::var("ZATO_TEST_NODE_DB"),
        std::env::var("ZATO_TEST_NODE_NAME"),
    ) else {
        return;
    };
    let config = app::AppConfig::parse(
        include_str!("../examples/invoice_dispatcher/config.json"),
        zato::config::Format::Json,
    )
    .unwrap();
    let running = app::start_node(
        config,
        "127.0.0.1:0",
        None,
        Some(app::AdminSettings {
            addr: "127.0.0.1:0".into(),
            token: TOKEN.to_owned().into(),
        }),
        Some(app::ClusterSettings {
            db: db.into(),
            secret_key: SECRET_KEY.to_owned().into(),
            node: name,
            schema: "zato".into(),
        }),
    )
    .await
    .unwrap();
    let admin = running.admin.as_ref().unwrap().local_addr();
    println!("READY {} {admin}", running.http.local_addr());
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    })
    .await;
    running.shutdown().await;
}

struct Node {
    name: String,
    child: Child,
    http: String,
    admin: String,
}

fn start(db: &str, name: &str) -> Node {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["node_process", "--exact", "--ignored", "--nocapture"])
        .env("ZATO_TEST_NODE_DB", db)
        .env("ZATO_TEST_NODE_NAME", name)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let ready = loop {
        let line = lines.next().expect("the node said READY").unwrap();
        if let Some(rest) = line.strip_prefix("READY ") {
            break rest.to_owned();
        }
    };
    let (http, admin) = ready.split_once(' ').unwrap();
    Node {
        name: name.to_owned(),
        child,
        http: format!("http://{http}"),
        admin: format!("http://{admin}"),
    }
}

async fn admin(
    node: &Node,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    admin_with(node, method, path, body, None).await
}

async fn admin_with(
    node: &Node,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    if_match: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", node.admin))
        .bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    if let Some(tag) = if_match {
        req = req.header("if-match", tag);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn statuses(body: &Value) -> Vec<(String, String)> {
    body["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["node"].as_str().unwrap().to_owned(),
                n["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn applied(node: &Node) -> Option<u64> {
    let resp = reqwest::get(format!("{}/health/ready", node.admin))
        .await
        .ok()?;
    let ok = resp.status() == StatusCode::OK;
    let body: Value = resp.json().await.ok()?;
    ok.then(|| body["version"].as_u64()).flatten()
}

async fn dispatch(node: &Node) -> StatusCode {
    reqwest::Client::new()
        .post(format!("{}/invoice.dispatcher?target=CRM", node.http))
        .body(r#"{"id":"1"}"#)
        .send()
        .await
        .map_or(StatusCode::BAD_GATEWAY, |r| r.status())
}

#[tokio::test]
#[ignore = "needs PostgreSQL at ZATO_TEST_PG_URL"]
async fn three_nodes_share_one_configuration() {
    let admin_url =
        std::env::var("ZATO_TEST_PG_URL").expect("ZATO_TEST_PG_URL names the PostgreSQL");
    let name = format!("zato_test_nodes_{}", std::process::id());
    let (pg, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    pg.batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    let base = admin_url.split('?').next().unwrap();
    let db = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);

    // n1 seeds the empty database (and runs the local Swift endpoint all nodes use).
    let n1 = start(&db, "n1");
    let n2 = start(&db, "n2");
    let mut n3 = start(&db, "n3");
    for n in [&n1, &n2, &n3] {
        assert_eq!(dispatch(n).await, StatusCode::OK, "{} serves", n.name);
    }

    // An edit through n1 is applied and acknowledged by all three within a second.
    let mut latencies = Vec::new();
    for i in 0..100u32 {
        let started = Instant::now();
        let (status, body) = admin(
            &n1,
            reqwest::Method::PATCH,
            &format!("{CONNECTION}?wait=1"),
            Some(json!({"pool_size": 5 + i % 3, "retries": i % 4})),
        )
        .await;
        latencies.push(started.elapsed());
        assert_eq!(status, StatusCode::OK, "{body}");
        let all: Vec<(String, String)> = statuses(&body);
        assert_eq!(all.len(), 3, "{body}");
        assert!(all.iter().all(|(_, s)| s == "applied"), "edit {i}: {body}");
    }
    latencies.sort();
    eprintln!(
        "100 edits through n1, edit to last ack: median {:.1} ms, max {:.1} ms",
        latencies[50].as_secs_f64() * 1000.0,
        latencies[99].as_secs_f64() * 1000.0
    );

    // n3 is killed; two edits are made; n3 restarts and is caught up.
    n3.child.kill().unwrap();
    let _ = n3.child.wait();
    for retries in [7, 8] {
        let (status, body) = admin(
            &n2,
            reqwest::Method::PATCH,
            &format!("{CONNECTION}?wait=0"),
            Some(json!({"retries": retries})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let latest = admin(&n1, reqwest::Method::GET, "/api/cluster", None)
        .await
        .1["version"]
        .as_u64()
        .unwrap();
    n3 = start(&db, "n3");
    assert_eq!(applied(&n3).await, Some(latest), "n3 caught up on restart");
    let (_, conn) = admin(&n3, reqwest::Method::GET, CONNECTION, None).await;
    assert_eq!(conn["retries"], 8);

    // Every database connection is killed; an edit made afterwards reaches every node within
    // 5 s of its reconnecting. A node is back when its new listening connection (the session
    // whose last statement is its `LISTEN`) shows in `pg_stat_activity`.
    let killed: Vec<i32> = pg
        .query(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&name],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    pg.execute(
        "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid",
        &[&killed],
    )
    .await
    .unwrap();
    assert!(killed.len() >= 6, "killed {} connections", killed.len());
    let killed_at = Instant::now();
    let (status, body) = admin(
        &n1,
        reqwest::Method::PATCH,
        CONNECTION,
        Some(json!({"retries": 9})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v = body["version"].as_u64().unwrap();
    let mut reconnected_at = None;
    let mut caught_up_at = None;
    while killed_at.elapsed() < Duration::from_secs(30) && caught_up_at.is_none() {
        if reconnected_at.is_none() {
            let listening: i64 = pg
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 \
                     AND query LIKE 'LISTEN %' AND NOT (pid = ANY($2))",
                    &[&name, &killed],
                )
                .await
                .unwrap()
                .get(0);
            if listening >= 3 {
                reconnected_at = Some(Instant::now());
            }
        }
        let mut all = true;
        for n in [&n1, &n2, &n3] {
            all &= applied(n).await == Some(v);
        }
        if all {
            caught_up_at = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let caught_up_at = caught_up_at.expect("every node applied the edit made after the kill");
    // Caught up before the third listening session was seen: it was back already.
    let reconnected_at = reconnected_at.unwrap_or(caught_up_at);
    let after_reconnect = caught_up_at.saturating_duration_since(reconnected_at);
    println!(
        "connections killed: all three nodes listening again after {:.0} ms, every node applied \
         the edit {:.0} ms after that",
        reconnected_at.duration_since(killed_at).as_secs_f64() * 1000.0,
        after_reconnect.as_secs_f64() * 1000.0
    );
    assert!(
        after_reconnect <= Duration::from_secs(5),
        "version {v} applied {after_reconnect:?} after the nodes reconnected"
    );

    // The database goes away (no connection allowed, the existing ones killed): the nodes go
    // on serving with what they applied and say they are not ready; once it is back they are.
    pg.batch_execute(&format!(
        "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"
    ))
    .await
    .unwrap();
    pg.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        &[&name],
    )
    .await
    .unwrap();
    let started = Instant::now();
    let mut not_ready = false;
    while started.elapsed() < Duration::from_secs(15) && !not_ready {
        let r = reqwest::get(format!("{}/health/ready", n2.admin))
            .await
            .unwrap();
        not_ready = r.status() == StatusCode::SERVICE_UNAVAILABLE;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        not_ready,
        "n2 says it is not ready while its database is away"
    );
    for n in [&n1, &n2, &n3] {
        assert_eq!(dispatch(n).await, StatusCode::OK, "{} still serves", n.name);
    }
    pg.batch_execute(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    let started = Instant::now();
    let mut ready = false;
    while started.elapsed() < Duration::from_secs(20) && !ready {
        ready = true;
        for n in [&n1, &n2, &n3] {
            ready &= applied(n).await == Some(v);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "every node is ready again once the database is back");

    // Two writes of the same object with the same If-Match, through two nodes: one wins, the
    // other gets 412.
    let etag = reqwest::Client::new()
        .get(format!("{}{CONNECTION}", n1.admin))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let (a, b) = tokio::join!(
        admin_with(
            &n1,
            reqwest::Method::PATCH,
            CONNECTION,
            Some(json!({"retries": 1})),
            Some(&etag)
        ),
        admin_with(
            &n2,
            reqwest::Method::PATCH,
            CONNECTION,
            Some(json!({"retries": 2})),
            Some(&etag)
        ),
    );
    let mut codes = [a.0.as_u16(), b.0.as_u16()];
    codes.sort_unstable();
    assert_eq!(codes, [200, 412], "{a:?} {b:?}");

    // Under load on all three nodes' HTTP channels, 50 edits of the Swift connection's
    // credentials and pool fail no request.
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut load = Vec::new();
    for n in [&n1, &n2, &n3] {
        for _ in 0..2 {
            let (url, stop, sent, failed) =
                (n.http.clone(), stop.clone(), sent.clone(), failed.clone());
            load.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                while !stop.load(Ordering::Relaxed) {
                    let status = client
                        .post(format!("{url}/invoice.dispatcher?target=CRM"))
                        .body(r#"{"id":"2"}"#)
                        .send()
                        .await
                        .map_or(0, |r| r.status().as_u16());
                    sent.fetch_add(1, Ordering::Relaxed);
                    if status != 200 {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
    }
    for i in 0..50u32 {
        let node = [&n1, &n2, &n3][i as usize % 3];
        // The key is written again (the local endpoint takes only its own), which rebuilds the
        // connection's pool and session on every node.
        let (status, body) = admin(
            node,
            reqwest::Method::PATCH,
            CONNECTION,
            Some(json!({"key": "******", "pool_size": 4 + i % 3})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    let (sent, failed) = (sent.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!("under 50 credential edits: {sent} requests on three nodes, {failed} failed");
    assert!(sent > 50);
    assert_eq!(failed, 0);

    // `zato cluster status`'s source: every node live, none behind.
    let (_, status) = admin(&n2, reqwest::Method::GET, "/api/cluster", None).await;
    let nodes = status["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3, "{status}");
    assert!(
        nodes.iter().all(|n| n["live"] == true && n["lag"] == 0),
        "{status}"
    );

    for mut n in [n1, n2, n3] {
        drop(n.child.stdin.take());
        let _ = n.child.wait();
    }

    // Every secret the test used, the one n1 seeded from its config file included, is
    // encrypted in every row of every table: pg_dump's eyes see none of them.
    let dump = Command::new("pg_dump")
        .args(["--data-only", &db])
        .output()
        .expect("pg_dump (PostgreSQL's client) runs");
    assert!(dump.status.success(), "{dump:?}");
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(
        dump.contains("zato:aes256gcm:"),
        "the dump holds the objects"
    );
    for secret in ["\"testing\"", SECRET_KEY, TOKEN] {
        assert!(
            !dump.contains(secret),
            "{secret} is in the database: {dump}"
        );
    }
    let _ = pg
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await;
}

//! Swift inbox channels against the local Swift-compatible endpoint (real HTTP on 127.0.0.1)
//! and against wiremock: a thousand objects, success, transient and permanent failures,
//! malformed objects, two nodes on one inbox with Swift claims and with PostgreSQL claims (the
//! database at `ZATO_TEST_PG_URL`, ignored unless run with `--include-ignored`), a node killed mid-object, and live
//! edits.
//!
//! A killed node is this test binary run again (`inbox_node_process`, ignored unless asked
//! for) and killed with SIGKILL.

#![allow(
    clippy::unwrap_used,
    reason = "tests fail loudly on what they did not expect"
)]

use std::collections::{BTreeMap, HashMap};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zato_channels::swift_inbox::{
    ClaimsMode, ERROR_META, MAX_META_VALUE, SwiftInboxAdapter, SwiftInboxConfig,
};
use zato_cluster::testing::TestDb;
use zato_core::claims::{ClaimError, ClaimItem, ClaimStore};
use zato_core::config::{ConfigRuntime, MemoryStore, ObjectKey, PutMode, Section};
use zato_core::{ChannelAdapter, Cid, Platform, Request, ServiceError};
use zato_macros::{SimpleIo, service};
use zato_swift::local::{LocalSwift, LocalSwiftConfig};
use zato_swift::{Metadata, PutOptions, SwiftConfig, SwiftConnection, SwiftKind, SwiftOutgoing};

/// What a service saw of one object.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    service: &'static str,
    channel: String,
    id: String,
    attempt: u32,
    cid: Cid,
    params: Vec<(String, String)>,
    at: Instant,
}

static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Doc {
    id: String,
    /// The attempt at this object, a channel parameter.
    swift_attempt: u32,
}

fn record(service: &'static str, req: &Request<Doc>) {
    SEEN.lock().unwrap().push(Seen {
        service,
        channel: req.channel.name.to_string(),
        id: req.input.id.clone(),
        attempt: req.input.swift_attempt,
        cid: req.cid,
        params: req.channel_params.clone(),
        at: Instant::now(),
    });
}

#[service(name = "inbox.record", crate = "zato_core")]
async fn record_one(req: Request<Doc>) -> Result<(), ServiceError> {
    record("inbox.record", &req);
    Ok(())
}

#[service(name = "inbox.other", crate = "zato_core")]
async fn record_other(req: Request<Doc>) -> Result<(), ServiceError> {
    record("inbox.other", &req);
    Ok(())
}

/// Fails its first two attempts at each object, as a backend that is briefly down.
#[service(name = "inbox.flaky", crate = "zato_core")]
async fn flaky(req: Request<Doc>) -> Result<(), ServiceError> {
    record("inbox.flaky", &req);
    if req.input.swift_attempt < 3 {
        return Err(ServiceError::Unavailable(
            "the backend is restarting".into(),
        ));
    }
    Ok(())
}

/// Always fails, with a long error of two lines.
#[service(name = "inbox.broken", crate = "zato_core")]
async fn broken(req: Request<Doc>) -> Result<(), ServiceError> {
    record("inbox.broken", &req);
    Err(ServiceError::internal(format!(
        "the ledger refused invoice {}\nX-Forged: yes {}",
        req.input.id,
        "and more ".repeat(60)
    )))
}

/// Says it started, in the container `started`, then never ends: the node is killed meanwhile.
#[service(name = "inbox.hang", crate = "zato_core")]
async fn hang(req: Request<Doc>, ctx: &zato_core::Context) -> Result<(), ServiceError> {
    let conn = ctx.outgoing().swift("swift")?;
    let client = conn
        .client()
        .await
        .map_err(|e| e.into_service_error("swift"))?;
    client
        .put_object("started", &req.input.id, "1", &PutOptions::default())
        .await
        .map_err(|e| e.into_service_error("swift"))?;
    tokio::time::sleep(Duration::from_secs(3600)).await;
    Ok(())
}

fn seen(id: &str) -> Vec<Seen> {
    SEEN.lock()
        .unwrap()
        .iter()
        .filter(|s| s.id == id)
        .cloned()
        .collect()
}

fn seen_with_prefix(prefix: &str) -> Vec<Seen> {
    SEEN.lock()
        .unwrap()
        .iter()
        .filter(|s| s.id.starts_with(prefix))
        .cloned()
        .collect()
}

/// Waits up to `limit` for `check`.
async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

/// The channel's counters once `done` holds for them (an object is counted after it was moved).
async fn stats_when(
    adapter: &SwiftInboxAdapter,
    name: &str,
    done: impl Fn(&zato_channels::swift_inbox::SwiftInboxStats) -> bool,
) -> zato_channels::swift_inbox::SwiftInboxStats {
    eventually(Duration::from_secs(10), || {
        done(&adapter.stats(name).unwrap())
    })
    .await;
    adapter.stats(name).unwrap()
}

fn swift_config(local: &LocalSwift) -> SwiftConfig {
    let mut config = SwiftConfig::v1("swift", local.auth_url(), local.user(), local.key());
    config.pool_size = 32;
    config
}

/// A node: a platform with the test services, the Swift connection `swift`, and a started
/// inbox adapter.
async fn node(swift: SwiftConfig) -> (Platform, SwiftInboxAdapter) {
    let platform = Platform::new();
    platform.services().deploy(record_one).unwrap();
    platform.services().deploy(record_other).unwrap();
    platform.services().deploy(flaky).unwrap();
    platform.services().deploy(broken).unwrap();
    platform.services().deploy(hang).unwrap();
    platform
        .outgoing()
        .add_swift(SwiftConnection::new(swift).unwrap());
    let adapter = SwiftInboxAdapter::attach(&platform).unwrap();
    adapter.start().await.unwrap();
    (platform, adapter)
}

async fn put_channel(adapter: &SwiftInboxAdapter, config: SwiftInboxConfig) {
    adapter
        .upsert_channel(serde_json::to_value(config).unwrap())
        .await
        .unwrap();
}

/// A channel on the inbox `inbox` (its error container `<inbox>-error`), polling every 50 ms,
/// creating its containers.
fn channel(name: &str, inbox: &str, service: &str) -> SwiftInboxConfig {
    SwiftInboxConfig::new(name, "swift", inbox, service, format!("{inbox}-error"))
        .with_poll_interval(0.05)
        .with_create_containers(true)
}

async fn client(swift: &SwiftConfig) -> zato_swift::SwiftClient {
    zato_swift::SwiftClient::new(swift.clone()).unwrap()
}

async fn drop_objects(swift: &SwiftConfig, inbox: &str, objects: &[(String, String)]) {
    let client = client(swift).await;
    client
        .create_container(inbox, &Metadata::new())
        .await
        .unwrap();
    for (name, body) in objects {
        client
            .put_object(
                inbox,
                name,
                body.clone(),
                &PutOptions::default().content_type("application/json"),
            )
            .await
            .unwrap();
    }
}

fn invoice(id: &str) -> String {
    format!(r#"{{"id":"{id}"}}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_objects_over_many_listing_pages_are_each_handled_once() {
    let local = LocalSwift::start(LocalSwiftConfig::default())
        .await
        .unwrap();
    let swift = swift_config(&local);
    let objects: Vec<(String, String)> = (0..1000)
        .map(|i| (format!("t1/{i:04}.json"), invoice(&format!("t1-{i:04}"))))
        .collect();
    drop_objects(&swift, "t1-in", &objects).await;
    let (platform, adapter) = node(swift).await;
    put_channel(
        &adapter,
        channel("t1", "t1-in", "inbox.record")
            .with_archive("t1-archive")
            .with_batch_size(100)
            .with_concurrency(8),
    )
    .await;
    let all = eventually(Duration::from_secs(120), || {
        local.object_names("t1-archive").len() == 1000
    })
    .await;
    assert!(all, "archived: {}", local.object_names("t1-archive").len());
    assert!(
        eventually(Duration::from_secs(10), || local
            .object_names("t1-in")
            .is_empty())
        .await
    );
    let got = seen_with_prefix("t1-");
    let mut per_id: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &got {
        *per_id.entry(s.id.as_str()).or_default() += 1;
    }
    assert_eq!(per_id.len(), 1000);
    assert!(
        per_id.values().all(|n| *n == 1),
        "handled twice: {per_id:?}"
    );
    // Claims never write to the inbox, and a done object's claim is gone.
    assert!(
        eventually(Duration::from_secs(10), || local
            .object_names("t1-in-claims")
            .is_empty())
        .await
    );
    let stats = stats_when(&adapter, "t1", |s| s.succeeded == 1000).await;
    assert_eq!(stats.succeeded, 1000);
    assert_eq!(stats.failed + stats.malformed + stats.retried, 0);
    platform.shutdown().await;
    local.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_archives_the_object_with_its_cid_or_deletes_it() {
    let local = LocalSwift::start(LocalSwiftConfig::default())
        .await
        .unwrap();
    let swift = swift_config(&local);
    let c = client(&swift).await;
    c.create_container("t2-in", &Metadata::new()).await.unwrap();
    let body = invoice("t2-a");
    let etag = c
        .put_object(
            "t2-in",
            "2026/a.json",
            body.clone(),
            &PutOptions::default()
                .content_type("text/plain")
                .meta("source", "crm")
                .meta("batch-no", "7"),
        )
        .await
        .unwrap();
    let (platform, adapter) = node(swift.clone()).await;
    put_channel(
        &adapter,
        channel("t2", "t2-in", "inbox.record").with_archive("t2-archive"),
    )
    .await;
    assert!(
        eventually(Duration::from_secs(20), || local
            .object("t2-archive", "2026/a.json")
            .is_some())
        .await
    );
    assert!(
        eventually(Duration::from_secs(10), || local
            .object("t2-in", "2026/a.json")
            .is_none())
        .await
    );
    assert_eq!(
        local.object("t2-archive", "2026/a.json").unwrap(),
        body.as_bytes()
    );
    let got = seen("t2-a");
    assert_eq!(got.len(), 1);
    let params: HashMap<_, _> = got[0].params.iter().cloned().collect();
    assert_eq!(params["swift_container"], "t2-in");
    assert_eq!(params["swift_object"], "2026/a.json");
    assert_eq!(params["swift_etag"], etag);
    assert_eq!(params["swift_content_type"], "text/plain");
    assert_eq!(params["swift_meta_source"], "crm");
    assert_eq!(params["swift_meta_batch_no"], "7");
    assert_eq!(params["swift_attempt"], "1");
    let info = c.head_object("t2-archive", "2026/a.json").await.unwrap();
    assert_eq!(info.metadata["zato-cid"], got[0].cid.to_string());
    assert_eq!(info.metadata["source"], "crm");
    let archived = chrono::DateTime::parse_from_rfc3339(&info.metadata["zato-archived"]).unwrap();
    assert!((chrono::Utc::now() - archived.to_utc()).num_seconds().abs() < 60);

    // Without an archive container, success deletes.
    put_channel(&adapter, channel("t2b", "t2b-in", "inbox.record")).await;
    drop_objects(&swift, "t2b-in", &[("b.json".into(), invoice("t2-b"))]).await;
    assert!(eventually(Duration::from_secs(20), || !seen("t2-b").is_empty()).await);
    assert!(
        eventually(Duration::from_secs(5), || local
            .object_names("t2b-in")
            .is_empty())
        .await
    );
    assert!(local.object_names("t2b-in-error").is_empty());
    platform.shutdown().await;
    local.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_is_retried_and_then_succeeds() {
    let local = LocalSwift::start(LocalSwiftConfig::default())
        .await
        .unwrap();
    let swift = swift_config(&local);
    drop_objects(&swift, "t3-in", &[("x.json".into(), invoice("t3-x"))]).await;
    let (platform, adapter) = node(swift).await;
    put_channel(
        &adapter,
        channel("t3", "t3-in", "inbox.flaky")
            .with_archive("t3-archive")
            .with_max_attempts(5),
    )
    .await;
    assert!(
        eventually(Duration::from_secs(30), || local
            .object("t3-archive", "x.json")
            .is_some())
        .await
    );
    let attempts: Vec<u32> = seen("t3-x").iter().map(|s| s.attempt).collect();
    assert_eq!(attempts, [1, 2, 3]);
    let stats = stats_when(&adapter, "t3", |s| s.succeeded == 1).await;
    assert_eq!((stats.retried, stats.succeeded, stats.failed), (2, 1, 0));
    assert!(local.object_names("t3-in-error").is_empty());
    platform.shutdown().await;
    local.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_failure_goes_to_the_error_container_with_its_error() {
    let local = LocalSwift::start(LocalSwiftConfig::default())
        .await
        .unwrap();
    let swift = swift_config(&local);
    drop_objects(&swift, "t4-in", &[("bad.json".into(), invoice("t4-x"))]).await;
    let (platform, adapter) = node(swift.clone()).await;
    put_channel(
        &adapter,
        channel("t4", "t4-in", "inbox.broken")
            .with_archive("t4-archive")
            .with_max_attempts(3),
    )
    .await;
    assert!(
        eventually(Duration::from_secs(30), || local
            .object("t4-in-error", "bad.json")
            .is_some())
        .await
    );
    assert_eq!(seen("t4-x").len(), 3);
    assert!(
        eventually(Duration::from_secs(10), || local
            .object_names("t4-in")
            .is_empty())
        .await
    );
    assert!(local.object_names("t4-archive").is_empty());
    let info = client(&swift)
        .await
        .head_object("t4-in-error", "bad.json")
        .await
        .unwrap();
    let error = &info.metadata[ERROR_META];
    assert!(error.len() <= MAX_META_VALUE, "{} bytes", error.len());
    assert!(
        error.starts_with("internal error: the ledger refused invoice t4-x X-Forged"),
        "{error}"
    );
    assert!(!error.chars().any(char::is_control), "{error:?}");
    assert_eq!(info.metadata["zato-attempts"], "3");
    assert_eq!(info.metadata["zato-status"], "500");
    assert_eq!(info.metadata["zato-cid"], seen("t4-x")[2].cid.to_string());
    let stats = stats_when(&adapter, "t4", |s| s.failed == 1).await;
    assert_eq!((stats.retried, stats.failed), (2, 1));
    platform.shutdown().await;
    local.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_objects_go_to_the_error_container_at_once() {
    let local = LocalSwift::start(LocalSwiftConfig::default())
        .await
        .unwrap();
    let swift = swift_config(&local);
    drop_objects(
        &swift,
        "t5-in",
        &[
            ("not-json.json".into(), "this is not JSON".into()),
            ("no-id.json".into(), r#"{"other":1}"#.into()),
            (
                "big.json".into(),
                invoice(&format!("t5-{}", "x".repeat(500))),
            ),
        ],
    )
    .await;
    let (platform, adapter) = node(swift.clone()).await;
    let mut config = channel("t5", "t5-in", "inbox.record").with_archive("t5-archive");
    config.max_bytes = 200;
    put_channel(&adapter, config).await;
    assert!(
        eventually(Duration::from_secs(20), || local
            .object_names("t5-in-error")
            .len()
            == 3)
        .await
    );
    assert!(seen_with_prefix("t5-").is_empty());
    let c = client(&swift).await;
    let why = |name: &'static str| {
        let c = c.clone();
        async move { c.head_object("t5-in-error", name).await.unwrap().metadata }
    };
    let m = why("not-json.json").await;
    assert_eq!(m["zato-status"], "400");
    assert_eq!(m["zato-attempts"], "1");
    assert!(m[ERROR_META].to_lowercase().contains("json"), "{m:?}");
    let m = why("no-id.json").await;
    assert!(m[ERROR_META].contains("id"), "{m:?}");
    let m = why("big.json").await;
    assert_eq!(m["zato-status"], "413");
    assert!(m[ERROR_META].contains("max_bytes"), "{m:?}");
    let stats = stats_when(&adapter, "t5", |s| s.malformed == 3).await;
    assert_eq!((stats.malformed, stats.retried), (3, 0));
    platform.shutdown().await;
    local.shutdown().await;
}

/// Counts, per id with `prefix`, how many times a service saw it.
fn times_seen(prefix: &str) -> BTreeMap<String, usize> {
    let mut per_id = BTreeMap::new();
    for s in seen_with_prefix(prefix) {
        *per_id.entry(s.id).or_default() += 1;
    }
    per_id
}

/// Two nodes, each its own platform with the same channel, on one inbox of `count` objects.
/// Returns the times each object was handled and how many each node handled.
async fn two_nodes(
    tag: &str,
    count: usize,
    claims: Option<Arc<dyn ClaimStore>>,
    mode: ClaimsMode,
) -> (BTreeMap<String, usize>, [usize; 2]) {
    let local = LocalSwift::start(LocalSwiftConfig::default())
        .await
        .unwrap();
    let swift = swift_config(&local);
    let inbox = format!("{tag}-in");
    let objects: Vec<(String, String)> = (0..count)
        .map(|i| (format!("{i:04}.json"), invoice(&format!("{tag}-{i:04}"))))
        .collect();
    drop_objects(&swift, &inbox, &objects).await;
    let mut nodes = Vec::new();
    for n in ["a", "b"] {
        let (platform, adapter) = node(swift.clone()).await;
        if let Some(claims) = &claims {
            platform.set_claims(claims.clone());
        }
        nodes.push((platform, adapter, format!("{tag}.{n}")));
    }
    for (_, adapter, name) in &nodes {
        put_channel(
            adapter,
            channel(name, &inbox, "inbox.record")
                .with_archive(format!("{tag}-archive"))
                .with_batch_size(50)
                .with_concurrency(4)
                .with_claims(mode),
        )
        .await;
    }
    let archive = format!("{tag}-archive");
    let all = eventually(Duration::from_secs(120), || {
        local.object_names(&archive).len() == count
    })
    .await;
    assert!(all, "archived {}", local.object_names(&archive).len());
    assert!(
        eventually(Duration::from_secs(10), || local
            .object_names(&inbox)
            .is_empty())
        .await
    );
    let per_node = [0, 1].map(|i| {
        seen_with_prefix(&format!("{tag}-"))
            .iter()
            .filter(|s| s.channel == nodes[i].2)
            .count()
    });
    for (platform, _, _) in nodes {
        platform.shutdown().await;
    }
    local.shutdown().await;
    (times_seen(&format!("{tag}-")), per_node)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_with_swift_claims_handle_every_object_and_count_their_duplicates() {
    let (per_id, per_node) = two_nodes("t6", 300, None, ClaimsMode::Swift).await;
    assert_eq!(per_id.len(), 300, "an object was skipped");
    let duplicates: usize = per_id.values().map(|n| n - 1).sum();
    eprintln!(
        "swift claims, 2 nodes, 300 objects: {duplicates} duplicates; node a handled {}, node b {}",
        per_node[0], per_node[1]
    );
    // The local endpoint answers each request from one store: none of Swift's windows opens.
    assert_eq!(duplicates, 0, "{per_id:?}");
}

/// The claims of a cluster whose database is `db`, in the schema `inbox`.
fn claims(db: &TestDb) -> Arc<dyn ClaimStore> {
    let settings =
        zato_cluster::PgSettings::new(db.url.clone(), "x".repeat(32)).with_schema("inbox");
    Arc::new(zato_cluster::PgClaims::new(settings))
}

/// The schema the claims live in (a node of a cluster has it from joining).
async fn create_schema(db: &TestDb) {
    db.sql("CREATE SCHEMA IF NOT EXISTS inbox").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at ZATO_TEST_PG_URL"]
async fn two_nodes_with_postgresql_claims_handle_each_object_exactly_once() {
    let db = TestDb::new("inbox_two").await;
    create_schema(&db).await;
    let (per_id, per_node) = two_nodes("t7", 300, Some(claims(&db)), ClaimsMode::Cluster).await;
    assert_eq!(per_id.len(), 300, "an object was skipped");
    let twice: Vec<_> = per_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "handled twice: {twice:?}");
    eprintln!(
        "postgresql claims, 2 nodes, 300 objects: 0 duplicates; node a handled {}, node b {}",
        per_node[0], per_node[1]
    );
    let done = db
        .sql("SELECT count(*) FROM inbox.claims WHERE done AND holder IS NULL")
        .await;
    assert_eq!(done[0].get::<_, i64>(0), 300);
    db.drop().await;
}

/// Runs one node in this process, from the environment the killing test sets, until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a node process for the kill tests, run by them"]
async fn inbox_node_process() {
    let Ok(auth_url) = std::env::var("ZATO_INBOX_AUTH_URL") else {
        return;
    };
    let swift = SwiftConfig::v1("swift", auth_url, "test:tester", "testing");
    let (platform, adapter) = node(swift).await;
    if let Ok(url) = std::env::var("ZATO_INBOX_PG_URL") {
        let settings = zato_cluster::PgSettings::new(url, "x".repeat(32)).with_schema("inbox");
        platform.set_claims(Arc::new(zato_cluster::PgClaims::new(settings)));
    }
    let inbox = std::env::var("ZATO_INBOX_CONTAINER").unwrap();
    let mode: ClaimsMode =
        serde_json::from_value(std::env::var("ZATO_INBOX_CLAIMS").unwrap().into()).unwrap();
    put_channel(
        &adapter,
        channel("killed", &inbox, "inbox.hang")
            .with_archive(format!("{inbox}-archive"))
            .with_lease(2.0)
            .with_claims(mode),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3600)).await;
}

/// Kills the node process when dropped, so a failing test leaves none behind.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A node process takes the object and is killed while its service runs; a node in this
/// process takes the object over once the lease ran out, as attempt 2.
async fn killed_mid_object(tag: &str, mode: ClaimsMode, db: Option<&TestDb>) {
    let local = LocalSwift::start(LocalSwiftConfig::default())
        .await
        .unwrap();
    let swift = swift_config(&local);
    let inbox = format!("{tag}-in");
    client(&swift)
        .await
        .create_container("started", &Metadata::new())
        .await
        .unwrap();
    drop_objects(
        &swift,
        &inbox,
        &[("o.json".into(), invoice(&format!("{tag}-o")))],
    )
    .await;
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["inbox_node_process", "--exact", "--ignored", "--nocapture"])
        .env("ZATO_INBOX_AUTH_URL", local.auth_url())
        .env("ZATO_INBOX_CONTAINER", &inbox)
        .env(
            "ZATO_INBOX_CLAIMS",
            serde_json::to_value(mode).unwrap().as_str().unwrap(),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(db) = db {
        command.env("ZATO_INBOX_PG_URL", &db.url);
    }
    let mut child = Killed(command.spawn().unwrap());
    let id = format!("{tag}-o");
    let started = eventually(Duration::from_secs(60), || {
        local.object("started", &id).is_some()
    })
    .await;
    assert!(started, "the node process did not take the object");
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let killed_at = Instant::now();
    assert!(
        local.object(&inbox, "o.json").is_some(),
        "the object is lost"
    );

    let (platform, adapter) = node(swift.clone()).await;
    if let Some(db) = db {
        platform.set_claims(claims(db));
    }
    put_channel(
        &adapter,
        channel(&format!("{tag}.survivor"), &inbox, "inbox.record")
            .with_archive(format!("{inbox}-archive"))
            .with_lease(2.0)
            .with_claims(mode),
    )
    .await;
    let taken = eventually(Duration::from_secs(30), || !seen(&id).is_empty()).await;
    assert!(taken, "the object was not taken over");
    let survivor = &seen(&id)[0];
    // The dead node renewed its 2 s lease every 2/3 s: it ran out at least 1.3 s after the kill.
    let after = survivor.at - killed_at;
    assert!(
        after >= Duration::from_millis(1000),
        "taken over after {after:?}, before the lease ran out"
    );
    assert_eq!(survivor.attempt, 2);
    assert!(
        eventually(Duration::from_secs(10), || local
            .object(&format!("{inbox}-archive"), "o.json")
            .is_some())
        .await
    );
    platform.shutdown().await;
    local.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_object_loses_it_to_another_after_the_swift_lease() {
    killed_mid_object("t8", ClaimsMode::Swift, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at ZATO_TEST_PG_URL"]
async fn a_node_killed_mid_object_loses_it_to_another_after_the_postgresql_lease() {
    let db = TestDb::new("inbox_kill").await;
    create_schema(&db).await;
    killed_mid_object("t9", ClaimsMode::Cluster, Some(&db)).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_edits_deactivate_reactivate_reroute_and_delete_the_channel() {
    let local = LocalSwift::start(LocalSwiftConfig::default())
        .await
        .unwrap();
    let swift = swift_config(&local);
    let platform = Platform::new();
    platform.services().deploy(record_one).unwrap();
    platform.services().deploy(record_other).unwrap();
    let adapter = SwiftInboxAdapter::attach(&platform).unwrap();
    adapter.start().await.unwrap();
    let runtime = ConfigRuntime::new(platform.clone(), Arc::new(MemoryStore::new()));
    runtime.register(zato_core::kind::live(SwiftKind::new(&platform)));
    runtime.register(adapter.config_kind());
    let conn = ObjectKey::new(Section::Outgoing, "swift", "swift");
    let mut object = serde_json::to_value(&swift).unwrap();
    object["key"] = local.key().into();
    runtime
        .put(&conn, object, PutMode::Create, None, "test")
        .await
        .unwrap();
    let key = ObjectKey::new(Section::Channels, "swift_inbox", "live");
    let object = serde_json::json!({
        "name": "live", "connection": "swift", "container": "t10-in",
        "error_container": "t10-error", "archive_container": "t10-archive",
        "service": "inbox.record", "poll_interval": 0.05, "create_containers": true
    });
    runtime
        .put(&key, object, PutMode::Create, None, "test")
        .await
        .unwrap();
    drop_objects(&swift, "t10-in", &[("1.json".into(), invoice("t10-1"))]).await;
    assert!(eventually(Duration::from_secs(20), || !seen("t10-1").is_empty()).await);
    assert_eq!(seen("t10-1")[0].service, "inbox.record");

    // Deactivated: it polls no more from the moment the change returns.
    let off = serde_json::json!({"is_active": false});
    runtime
        .put(&key, off, PutMode::Patch, None, "test")
        .await
        .unwrap();
    assert!(!adapter.stats("live").unwrap().polling);
    let polls = adapter.stats("live").unwrap().polls;
    drop_objects(&swift, "t10-in", &[("2.json".into(), invoice("t10-2"))]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(seen("t10-2").is_empty());
    assert_eq!(adapter.stats("live").unwrap().polls, polls);
    assert!(local.object("t10-in", "2.json").is_some());
    let listed = platform.channels().list();
    assert!(!listed.iter().find(|c| c.name == "live").unwrap().is_active);

    // Reactivated, and routed to another service in the same edit.
    let on = serde_json::json!({"is_active": true, "service": "inbox.other"});
    runtime
        .put(&key, on, PutMode::Patch, None, "test")
        .await
        .unwrap();
    assert!(eventually(Duration::from_secs(20), || !seen("t10-2").is_empty()).await);
    assert_eq!(seen("t10-2")[0].service, "inbox.other");

    // A bad edit is refused, naming the field; the channel keeps polling as it was.
    let bad = serde_json::json!({"error_container": "t10-in"});
    let err = runtime
        .put(&key, bad, PutMode::Patch, None, "test")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("error_container"), "{err}");
    assert!(adapter.stats("live").unwrap().polling);

    assert!(
        eventually(Duration::from_secs(10), || adapter
            .stats("live")
            .unwrap()
            .succeeded
            == 2)
        .await
    );
    let metrics = platform.metrics().render();
    for line in [
        r#"swift_inbox_objects_total{channel="live",outcome="succeeded"} 2"#,
        r#"zato_channel_requests_total{kind="swift_inbox",channel="live",status="200"} 2"#,
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    runtime.delete(&key, None, "test").await.unwrap();
    assert!(adapter.channel("live").is_none());
    assert!(platform.channels().list().iter().all(|c| c.name != "live"));
    platform.shutdown().await;
    local.shutdown().await;
}

/// Claims in memory, for the wiremock test: one process, exact.
#[derive(Debug, Default)]
struct MemoryClaims(Mutex<HashMap<String, Held>>);

/// Holder, until when, attempts, done.
type Held = (Option<String>, Instant, u32, bool);

#[async_trait::async_trait]
impl ClaimStore for MemoryClaims {
    fn kind(&self) -> &str {
        "memory"
    }

    async fn claim(
        &self,
        item: &ClaimItem<'_>,
        holder: &str,
        lease: Duration,
    ) -> Result<Option<u32>, ClaimError> {
        let mut map = self.0.lock().unwrap();
        let now = Instant::now();
        let entry = map
            .entry(item.key.to_owned())
            .or_insert((None, now, 0, false));
        if entry.3 || entry.1 > now {
            return Ok(None);
        }
        *entry = (Some(holder.to_owned()), now + lease, entry.2 + 1, false);
        Ok(Some(entry.2))
    }

    async fn renew(
        &self,
        item: &ClaimItem<'_>,
        holder: &str,
        lease: Duration,
    ) -> Result<bool, ClaimError> {
        let mut map = self.0.lock().unwrap();
        match map.get_mut(item.key) {
            Some(e) if e.0.as_deref() == Some(holder) => {
                e.1 = Instant::now() + lease;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release(
        &self,
        item: &ClaimItem<'_>,
        _holder: &str,
        retry_after: Duration,
        counted: bool,
    ) -> Result<(), ClaimError> {
        let mut map = self.0.lock().unwrap();
        if let Some(e) = map.get_mut(item.key) {
            e.0 = None;
            e.1 = Instant::now() + retry_after;
            if !counted {
                e.2 -= 1;
            }
        }
        Ok(())
    }

    async fn finish(&self, item: &ClaimItem<'_>, _holder: &str) -> Result<(), ClaimError> {
        if let Some(e) = self.0.lock().unwrap().get_mut(item.key) {
            e.3 = true;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_continue_from_the_marker_and_a_failed_move_keeps_the_object() {
    use wiremock::matchers::{method, path, query_param, query_param_is_missing};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let server = MockServer::start().await;
    let storage = format!("{}/v1/AUTH_t", server.uri());
    Mock::given(method("GET"))
        .and(path("/auth/v1.0"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-storage-url", storage.as_str())
                .insert_header("x-auth-token", "tk"),
        )
        .mount(&server)
        .await;
    let entry = |name: &str| {
        serde_json::json!({"name": name, "hash": "h", "bytes": 16,
            "content_type": "application/json", "last_modified": "2026-11-30T00:00:00.000000"})
    };
    Mock::given(method("GET"))
        .and(path("/v1/AUTH_t/wm-in"))
        .and(query_param("limit", "2"))
        .and(query_param_is_missing("marker"))
        .respond_with(ResponseTemplate::new(200).set_body_json([entry("a"), entry("b")]))
        .expect(1..)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/AUTH_t/wm-in"))
        .and(query_param("limit", "2"))
        .and(query_param("marker", "b"))
        .respond_with(ResponseTemplate::new(200).set_body_json([entry("c")]))
        .expect(1..)
        .mount(&server)
        .await;
    for name in ["a", "b", "c"] {
        Mock::given(method("GET"))
            .and(path(format!("/v1/AUTH_t/wm-in/{name}")))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "application/json")
                    .set_body_string(invoice(&format!("wm-{name}"))),
            )
            .mount(&server)
            .await;
    }
    for name in ["a", "c"] {
        Mock::given(method("PUT"))
            .and(path(format!("/v1/AUTH_t/wm-archive/{name}")))
            .respond_with(ResponseTemplate::new(201))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path(format!("/v1/AUTH_t/wm-in/{name}")))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
    }
    // The archive refuses b: it must stay in the inbox.
    Mock::given(method("PUT"))
        .and(path("/v1/AUTH_t/wm-archive/b"))
        .respond_with(ResponseTemplate::new(503).set_body_string("<html>busy</html>"))
        .expect(1..)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v1/AUTH_t/wm-in/b"))
        .respond_with(ResponseTemplate::new(204))
        .expect(0)
        .mount(&server)
        .await;

    let mut swift = SwiftConfig::v1("swift", format!("{}/auth/v1.0", server.uri()), "t:u", "k");
    swift.retries = 0;
    let (platform, adapter) = node(swift).await;
    platform.set_claims(Arc::new(MemoryClaims::default()));
    put_channel(
        &adapter,
        SwiftInboxConfig::new("wm", "swift", "wm-in", "inbox.record", "wm-error")
            .with_archive("wm-archive")
            .with_batch_size(2)
            .with_poll_interval(0.05),
    )
    .await;
    let done = eventually(Duration::from_secs(20), || {
        let s = adapter.stats("wm").unwrap();
        s.succeeded == 2 && s.storage_errors >= 2
    })
    .await;
    assert!(done, "{:?}", adapter.stats("wm"));
    for id in ["wm-a", "wm-c"] {
        assert_eq!(seen(id).len(), 1, "{id}");
    }
    // b's service ran, its move failed, so it was tried again, and it is still in the inbox.
    assert!(seen("wm-b").len() >= 2);
    assert!(seen("wm-b").iter().all(|s| s.attempt == 1));
    platform.shutdown().await;
    server.verify().await;
}

/// Puts an object whose name the client refuses (`.`, `..`, a CR/LF…) the way another Swift
/// client could: `encoded` is the name as it goes on the wire, sent on a raw connection so that
/// no URL parser rewrites it.
async fn put_raw(local: &LocalSwift, container: &str, encoded: &str, body: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let auth = reqwest::Client::new()
        .get(local.auth_url())
        .header("x-auth-user", local.user())
        .header("x-auth-key", local.key())
        .send()
        .await
        .unwrap();
    let token = auth.headers()["x-auth-token"].to_str().unwrap().to_owned();
    let mut stream = tokio::net::TcpStream::connect(local.addr()).await.unwrap();
    let request = format!(
        "PUT /v1/AUTH_test/{container}/{encoded} HTTP/1.1\r\nhost: {}\r\nx-auth-token: {token}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        local.addr(),
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_with_names_swift_cannot_serve_are_skipped_and_never_stall_the_others() {
    let local = LocalSwift::start(LocalSwiftConfig::default())
        .await
        .unwrap();
    let swift = swift_config(&local);
    drop_objects(
        &swift,
        "t9-in",
        &[("t9/first.json".into(), invoice("t9-first"))],
    )
    .await;
    let bad = [
        (".", "%2E"),
        ("..", "%2E%2E"),
        ("a/../b", "a/%2E%2E/b"),
        ("bad\r\nforged: yes", "bad%0D%0Aforged:%20yes"),
    ];
    for (_, encoded) in bad {
        put_raw(&local, "t9-in", encoded, &invoice("t9-bad")).await;
    }
    let names = local.object_names("t9-in");
    for (name, _) in bad {
        assert!(names.contains(&name.to_owned()), "{name:?} in {names:?}");
    }
    let (platform, adapter) = node(swift.clone()).await;
    // Swift claims: a claim object is named as the object it claims.
    put_channel(
        &adapter,
        channel("t9", "t9-in", "inbox.record")
            .with_archive("t9-archive")
            .with_claims(ClaimsMode::Swift),
    )
    .await;
    assert!(
        eventually(Duration::from_secs(10), || !seen("t9-first").is_empty()).await,
        "{:?}",
        adapter.stats("t9")
    );
    // Passes over an inbox still holding the bad objects: none may fail.
    let polls = adapter.stats("t9").unwrap().polls;
    let passed = eventually(Duration::from_secs(10), || {
        adapter.stats("t9").unwrap().polls >= polls + 5
    })
    .await;
    let stats = adapter.stats("t9").unwrap();
    assert!(passed && stats.poll_errors == 0, "{stats:?}");
    // A valid object dropped meanwhile is handled by the next pass, as ever.
    drop_objects(
        &swift,
        "t9-in",
        &[("t9/second.json".into(), invoice("t9-second"))],
    )
    .await;
    assert!(
        eventually(Duration::from_secs(10), || !seen("t9-second").is_empty()).await,
        "{:?}",
        adapter.stats("t9")
    );
    let stats = stats_when(&adapter, "t9", |s| s.succeeded == 2).await;
    assert_eq!((stats.succeeded, stats.poll_errors), (2, 0), "{stats:?}");
    // Each bad object is counted once, however many passes saw it, and left where it is.
    assert_eq!(stats.skipped, 4, "{stats:?}");
    assert!(seen("t9-bad").is_empty());
    let metrics = platform.metrics().render();
    assert!(
        metrics.contains(r#"swift_inbox_objects_total{channel="t9",outcome="skipped"} 4"#),
        "{metrics}"
    );
    let names = local.object_names("t9-in");
    for (name, _) in bad {
        assert!(names.contains(&name.to_owned()), "{name:?} in {names:?}");
    }
    platform.shutdown().await;
    local.shutdown().await;
}

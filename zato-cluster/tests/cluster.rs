//! Nodes sharing one configuration through the PostgreSQL at `ZATO_TEST_PG_URL`
//! (`postgres://postgres@127.0.0.1:5432/postgres`). A plain `cargo test` reports them as
//! ignored; `cargo test -- --include-ignored` runs them.
//! Every test works in a database of its own, dropped at the end.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step fails the test"
)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zato_cluster::testing::TestDb;
use zato_cluster::{ClusterError, ClusterNode, NodeAck, PgSettings, PgStore};
use zato_core::Platform;
use zato_core::config::{
    ChangeError, Checked, ConfigError, ConfigRuntime, ConfigStore, ImportOptions, ObjectKey,
    ObjectKind, ObjectSchema, PutMode, Section, StoreError, normalize_as,
};

const KEY: &str = "a passphrase of at least thirty-two characters";

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FtpConfig {
    name: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    pool_size: u32,
}

/// A kind keeping what it applied.
#[derive(Debug, Default)]
struct Ftp {
    live: Mutex<BTreeMap<String, Value>>,
}

impl Ftp {
    fn pool_size(&self, name: &str) -> Option<u64> {
        self.live.lock().unwrap().get(name)?["pool_size"].as_u64()
    }
}

impl ObjectSchema for Ftp {
    fn section(&self) -> Section {
        Section::Outgoing
    }
    fn kind(&self) -> &str {
        "ftp"
    }
    fn normalize(&self, object: &Value) -> Result<Value, ConfigError> {
        normalize_as::<FtpConfig>(object, self.secret_fields())
    }
    fn secret_fields(&self) -> &[&'static str] {
        &["password"]
    }
}

#[async_trait::async_trait]
impl ObjectKind for Ftp {
    async fn apply(&self, object: &Checked) -> Result<(), ConfigError> {
        let object = object.normal();
        let name = object["name"].as_str().unwrap_or_default().to_owned();
        self.live.lock().unwrap().insert(name, object.clone());
        Ok(())
    }
    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        self.live.lock().unwrap().remove(name);
        Ok(())
    }
}

fn key(name: &str) -> ObjectKey {
    ObjectKey::new(Section::Outgoing, "ftp", name)
}

struct Node {
    runtime: ConfigRuntime,
    ftp: Arc<Ftp>,
    cluster: ClusterNode,
}

async fn node(db: &TestDb, name: &str) -> Node {
    let store = Arc::new(
        PgStore::connect(PgSettings::new(db.url.clone(), KEY))
            .await
            .unwrap(),
    );
    let runtime = ConfigRuntime::new(Platform::new(), store.clone());
    let ftp = Arc::new(Ftp::default());
    runtime.register(ftp.clone());
    let cluster = ClusterNode::join(store, runtime.clone(), name, "127.0.0.1:0")
        .await
        .unwrap();
    Node {
        runtime,
        ftp,
        cluster,
    }
}

async fn edit(node: &Node, name: &str, pool_size: u32) -> u64 {
    node.runtime
        .put(
            &key(name),
            json!({"name": name, "pool_size": pool_size, "password": "hunter2"}),
            PutMode::Upsert,
            None,
            "test",
        )
        .await
        .unwrap()
        .version
}

async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check()
}

#[tokio::test]
#[ignore = "needs PostgreSQL at ZATO_TEST_PG_URL"]
async fn the_store_versions_commits_and_refuses_stale_ones_and_keeps_secrets_encrypted() {
    let db = TestDb::new("store").await;
    let one = node(&db, "one").await;
    let v = edit(&one, "backup", 5).await;
    assert_eq!(v, 1);
    let store = one.cluster.store().clone();
    assert_eq!(
        store.load().await.unwrap().objects[&key("backup")].value["password"],
        "hunter2"
    );
    let stale = store
        .commit(zato_core::config::Commit {
            base: 0,
            author: "late".into(),
            changes: vec![(key("other"), Some(json!({"name": "other"})))],
        })
        .await
        .unwrap_err();
    assert_eq!(stale, StoreError::Stale { current: 1 });
    let history = store.history().await.unwrap();
    assert_eq!(history[0].changes, ["created outgoing.ftp.backup"]);
    assert_eq!(history[0].author, "test");

    // With psql's eyes: the secret is nowhere in the objects or the change log.
    for sql in [
        "SELECT document::text FROM zato.objects",
        "SELECT diff::text FROM zato.changes",
    ] {
        let rows = db.sql(sql).await;
        let text: String = rows.iter().map(|r| r.get::<_, String>(0)).collect();
        assert!(text.contains("pool_size"), "{text}");
        assert!(!text.contains("hunter2"), "{sql}: {text}");
        assert!(text.contains("zato:aes256gcm:"), "{text}");
    }

    // A wrong key, or none, is refused with a clear error.
    let wrong = PgStore::connect(PgSettings::new(
        db.url.clone(),
        "another passphrase of thirty-two characters",
    ))
    .await
    .unwrap_err();
    assert!(matches!(wrong, ClusterError::KeyMismatch), "{wrong}");
    assert!(wrong.to_string().contains("does not match"), "{wrong}");
    let short = PgStore::connect(PgSettings::new(db.url.clone(), "short"))
        .await
        .unwrap_err();
    assert!(matches!(short, ClusterError::NoKey), "{short}");
    one.cluster.leave();
    db.drop().await;
}

/// Every text of the objects and the change log, as psql reads it.
async fn stored_text(db: &TestDb) -> String {
    let mut text = String::new();
    for sql in [
        "SELECT document::text FROM zato.objects",
        "SELECT diff::text FROM zato.changes",
    ] {
        for row in db.sql(sql).await {
            text.push_str(&row.get::<_, String>(0));
        }
    }
    text
}

#[tokio::test]
#[ignore = "needs PostgreSQL at ZATO_TEST_PG_URL"]
async fn a_seeded_first_version_and_rows_written_in_plain_text_hold_their_secrets_encrypted() {
    let db = TestDb::new("seed_secrets").await;
    // A node seeds the empty database before it joins, as `zato::Node` does from its config
    // file: the kinds are registered first, and the first version is encrypted too.
    let store = Arc::new(
        PgStore::connect(PgSettings::new(db.url.clone(), KEY))
            .await
            .unwrap(),
    );
    let runtime = ConfigRuntime::new(Platform::new(), store.clone());
    runtime.register(Arc::new(Ftp::default()));
    let mut doc = zato_core::config::ConfigDocument::default();
    doc.push(
        &key("seeded"),
        json!({"name": "seeded", "pool_size": 2, "password": "seeded-s3cret"}),
    );
    runtime
        .import(&doc, ImportOptions::default(), "config file")
        .await
        .unwrap();
    let text = stored_text(&db).await;
    assert!(!text.contains("seeded-s3cret"), "{text}");

    // A row an older node wrote in plain text (a store that was told no secret field).
    let bare = PgStore::connect(PgSettings::new(db.url.clone(), KEY))
        .await
        .unwrap();
    bare.commit(zato_core::config::Commit {
        base: 1,
        author: "an older node".into(),
        changes: vec![(
            key("old"),
            Some(json!({"name": "old", "pool_size": 1, "password": "old-s3cret"})),
        )],
    })
    .await
    .unwrap();
    assert!(
        stored_text(&db).await.contains("old-s3cret"),
        "the row is plain"
    );

    // Joining encrypts what is plain, in the objects and in the change log, and reads it back.
    let one = node(&db, "one").await;
    let text = stored_text(&db).await;
    assert!(!text.contains("old-s3cret"), "{text}");
    assert!(!text.contains("seeded-s3cret"), "{text}");
    let snapshot = one.cluster.store().load().await.unwrap();
    assert_eq!(
        snapshot.objects[&key("old")].value["password"],
        "old-s3cret"
    );
    assert_eq!(
        snapshot.objects[&key("seeded")].value["password"],
        "seeded-s3cret"
    );
    assert_eq!(
        one.cluster.store().reseal().await.unwrap(),
        0,
        "once is enough"
    );
    one.cluster.leave();
    db.drop().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL at ZATO_TEST_PG_URL"]
async fn an_edit_on_one_node_is_applied_and_acked_by_the_others_within_a_second() {
    let db = TestDb::new("propagate").await;
    let nodes = [
        node(&db, "n1").await,
        node(&db, "n2").await,
        node(&db, "n3").await,
    ];
    let mut latencies = Vec::new();
    for i in 1..=20u32 {
        let started = Instant::now();
        let version = edit(&nodes[0], "backup", i).await;
        let acks = nodes[0]
            .cluster
            .wait_for_acks(version, Duration::from_secs(1))
            .await
            .unwrap();
        latencies.push(started.elapsed());
        let applied: Vec<&NodeAck> = acks
            .iter()
            .filter(|a| matches!(a, NodeAck::Applied { .. }))
            .collect();
        assert_eq!(applied.len(), 3, "version {version}: {acks:?}");
        for n in &nodes {
            assert_eq!(n.ftp.pool_size("backup"), Some(u64::from(i)));
        }
    }
    latencies.sort();
    eprintln!(
        "edit to last ack over 20 edits: median {:?}, max {:?}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    for n in &nodes {
        n.cluster.leave();
    }
    db.drop().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL at ZATO_TEST_PG_URL"]
async fn a_node_that_was_away_and_nodes_cut_off_from_the_database_catch_up() {
    let db = TestDb::new("catchup").await;
    let n1 = node(&db, "n1").await;
    let n2 = node(&db, "n2").await;
    edit(&n1, "backup", 1).await;
    // n3 is away while two edits are made, then comes back and is caught up.
    {
        let n3 = node(&db, "n3").await;
        assert_eq!(n3.ftp.pool_size("backup"), Some(1));
        n3.cluster.leave();
    }
    edit(&n1, "backup", 2).await;
    let v = edit(&n2, "archive", 7).await;
    let n3 = node(&db, "n3").await;
    assert_eq!(n3.runtime.applied_version(), v);
    assert_eq!(n3.ftp.pool_size("backup"), Some(2));
    assert_eq!(n3.ftp.pool_size("archive"), Some(7));

    // Every connection to the database is killed; an edit made once they are back reaches all.
    let killed = db.terminate_others().await;
    assert!(killed >= 6, "killed {killed}");
    let reconnected = eventually(Duration::from_secs(10), || {
        n1.cluster.is_connected() && n2.cluster.is_connected() && n3.cluster.is_connected()
    })
    .await;
    assert!(reconnected);
    let v = edit(&n1, "backup", 3).await;
    let all = eventually(Duration::from_secs(5), || {
        [&n1, &n2, &n3]
            .iter()
            .all(|n| n.runtime.applied_version() == v && n.ftp.pool_size("backup") == Some(3))
    })
    .await;
    assert!(all, "every node applied version {v}");
    for n in [&n1, &n2, &n3] {
        n.cluster.leave();
    }
    db.drop().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL at ZATO_TEST_PG_URL"]
async fn two_concurrent_writes_with_the_same_if_match_one_wins() {
    let db = TestDb::new("ifmatch").await;
    let n1 = node(&db, "n1").await;
    let n2 = node(&db, "n2").await;
    let v = edit(&n1, "backup", 1).await;
    let k = key("backup");
    let (a, b) = tokio::join!(
        n1.runtime
            .put(&k, json!({"pool_size": 2}), PutMode::Patch, Some(v), "a"),
        n2.runtime
            .put(&k, json!({"pool_size": 3}), PutMode::Patch, Some(v), "b"),
    );
    let wins = [&a, &b].iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{a:?} {b:?}");
    let lost = if a.is_err() { a } else { b }.unwrap_err();
    assert!(
        matches!(
            lost,
            ChangeError::Stale { .. } | ChangeError::Store(StoreError::Stale { .. })
        ),
        "{lost}"
    );
    n1.cluster.leave();
    n2.cluster.leave();
    db.drop().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL at ZATO_TEST_PG_URL"]
async fn joined_nodes_claim_work_through_the_cluster_database_one_at_a_time() {
    use zato_core::claims::ClaimItem;

    let db = TestDb::new("claims").await;
    let a = node(&db, "a").await;
    let b = node(&db, "b").await;
    let claims_a = a.runtime.platform().claims().unwrap();
    let claims_b = b.runtime.platform().claims().unwrap();
    assert_eq!(claims_a.kind(), "postgresql");
    let v1 = ClaimItem {
        scope: "inbox",
        key: "1.json",
        version: "etag1/t1",
    };
    let lease = Duration::from_secs(30);
    assert_eq!(claims_a.claim(&v1, "a", lease).await.unwrap(), Some(1));
    assert_eq!(claims_b.claim(&v1, "b", lease).await.unwrap(), None);
    assert!(claims_a.renew(&v1, "a", lease).await.unwrap());
    assert!(!claims_b.renew(&v1, "b", lease).await.unwrap());
    // Let go after a failure: taken by the other node as the second attempt.
    claims_a
        .release(&v1, "a", Duration::ZERO, true)
        .await
        .unwrap();
    assert_eq!(claims_b.claim(&v1, "b", lease).await.unwrap(), Some(2));
    // A failure of storage takes its attempt back.
    claims_b
        .release(&v1, "b", Duration::ZERO, false)
        .await
        .unwrap();
    assert_eq!(claims_a.claim(&v1, "a", lease).await.unwrap(), Some(2));
    assert!(!claims_b.renew(&v1, "b", lease).await.unwrap());
    // Done: that version is not claimed again, a new version of the same object is.
    claims_a.finish(&v1, "a").await.unwrap();
    assert_eq!(claims_b.claim(&v1, "b", lease).await.unwrap(), None);
    let v2 = ClaimItem {
        version: "etag2/t2",
        ..v1
    };
    assert_eq!(claims_b.claim(&v2, "b", lease).await.unwrap(), Some(1));
    // A lease that ran out is taken over, counting the attempt.
    let short = ClaimItem {
        key: "2.json",
        ..v1
    };
    assert_eq!(
        claims_a
            .claim(&short, "a", Duration::from_millis(200))
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(claims_b.claim(&short, "b", lease).await.unwrap(), None);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(claims_b.claim(&short, "b", lease).await.unwrap(), Some(2));
    let rows = db
        .sql("SELECT count(*) FROM zato.claims WHERE scope = 'inbox'")
        .await;
    assert_eq!(rows[0].get::<_, i64>(0), 2);
    // Pruning forgets nothing live; a lease that ran out 11 minutes ago with no taker, it does.
    claims_a.prune("inbox").await.unwrap();
    let rows = db
        .sql("SELECT count(*) FROM zato.claims WHERE scope = 'inbox'")
        .await;
    assert_eq!(rows[0].get::<_, i64>(0), 2);
    db.sql("UPDATE zato.claims SET expires = now() - interval '11 minutes' WHERE key = '2.json'")
        .await;
    claims_a.prune("inbox").await.unwrap();
    let rows = db
        .sql("SELECT key FROM zato.claims WHERE scope = 'inbox'")
        .await;
    let keys: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(keys, ["1.json"]);
    a.cluster.leave();
    b.cluster.leave();
    db.drop().await;
}

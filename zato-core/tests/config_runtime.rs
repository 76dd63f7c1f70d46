//! The config runtime over the in-memory store, with kinds that record what they are told: what
//! a write applies, what a failed one puts back, and what reads show.
#![allow(
    clippy::unwrap_used,
    reason = "the test kind and helpers outside #[test] functions panic on what would fail the test anyway"
)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use zato_core::Platform;
use zato_core::config::{BatchError, Step};
use zato_core::config::{
    ChangeError, Checked, ConfigDocument, ConfigError, ConfigRuntime, Format, ImportOptions,
    MemoryStore, ObjectKey, ObjectKind, ObjectSchema, PutMode, Reference, SECRET_PLACEHOLDER,
    Section, normalize_as,
};

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FtpConfig {
    name: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default = "five")]
    pool_size: u32,
    #[serde(default)]
    uses: Option<String>,
}

fn five() -> u32 {
    5
}

/// A kind that keeps what it applied, and refuses to apply an object whose `pool_size` is 13
/// (valid configuration, failing to build: a port in use, say).
#[derive(Debug, Default)]
struct Ftp {
    live: Mutex<BTreeMap<String, Value>>,
    /// The number of objects of each batch it was given, in order.
    batches: Mutex<Vec<usize>>,
    /// Held for writing, it keeps every apply waiting: a change that takes long.
    gate: tokio::sync::RwLock<()>,
}

impl Ftp {
    fn live(&self) -> BTreeMap<String, Value> {
        self.live.lock().unwrap().clone()
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
        let normal = normalize_as::<FtpConfig>(object, self.secret_fields())?;
        if normal["pool_size"] == 0 {
            return Err(ConfigError::one("pool_size", "must be at least 1"));
        }
        Ok(normal)
    }
    fn secret_fields(&self) -> &[&'static str] {
        &["password"]
    }
    fn references(&self, object: &Value) -> Vec<Reference> {
        object["uses"]
            .as_str()
            .map(|s| Reference {
                field: "uses".into(),
                to: ObjectKey::new(Section::Outgoing, "ftp", s),
            })
            .into_iter()
            .collect()
    }
}

#[async_trait::async_trait]
impl ObjectKind for Ftp {
    async fn apply(&self, object: &Checked) -> Result<(), ConfigError> {
        let object = object.normal();
        if object["pool_size"] == 13 {
            return Err(ConfigError::one("", "could not build the pool"));
        }
        let name = object["name"].as_str().unwrap().to_owned();
        self.live.lock().unwrap().insert(name, object.clone());
        Ok(())
    }
    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        self.live.lock().unwrap().remove(name);
        Ok(())
    }
    async fn ping(&self, name: &str) -> Result<String, String> {
        Ok(format!("{name} answered"))
    }
    async fn apply_all(&self, steps: &[Step<&Checked>]) -> Result<(), BatchError> {
        self.batches.lock().unwrap().push(steps.len());
        let _pass = self.gate.read().await;
        for (i, step) in steps.iter().enumerate() {
            let done = match step {
                Step::Put(object) => self.apply(object).await,
                Step::Remove(name) => self.remove(name).await,
            };
            done.map_err(|error| BatchError::new(i, i, error))?;
        }
        Ok(())
    }
}

fn runtime() -> (ConfigRuntime, Arc<Ftp>) {
    let runtime = ConfigRuntime::new(Platform::new(), Arc::new(MemoryStore::new()));
    let ftp = Arc::new(Ftp::default());
    runtime.register(ftp.clone());
    (runtime, ftp)
}

fn doc(v: Value) -> ConfigDocument {
    ConfigDocument::from_value(v).unwrap()
}

const APPLY: ImportOptions = ImportOptions {
    dry_run: false,
    replace: false,
};

fn key(name: &str) -> ObjectKey {
    ObjectKey::new(Section::Outgoing, "ftp", name)
}

#[tokio::test]
async fn an_import_reports_its_diff_and_a_dry_run_changes_nothing() {
    let (rt, ftp) = runtime();
    let first = rt
        .import(
            &doc(json!({"outgoing": {"ftp": [{"name": "a", "password": "pa55"}, {"name": "b"}]}})),
            APPLY,
            "test",
        )
        .await
        .unwrap();
    assert_eq!(first.version, 1);
    assert_eq!(first.diff.created, ["outgoing.ftp.a", "outgoing.ftp.b"]);
    assert_eq!(ftp.live()["a"]["password"], "pa55");

    let next = doc(json!({"outgoing": {"ftp": [{"name": "a", "pool_size": 7}, {"name": "c"}]}}));
    let dry = rt
        .import(
            &next,
            ImportOptions {
                dry_run: true,
                replace: true,
            },
            "test",
        )
        .await
        .unwrap();
    assert!(dry.dry_run);
    assert_eq!(dry.version, 1);
    assert_eq!(dry.diff.created, ["outgoing.ftp.c"]);
    assert_eq!(dry.diff.updated, ["outgoing.ftp.a"]);
    assert_eq!(dry.diff.deleted, ["outgoing.ftp.b"]);
    assert_eq!(ftp.live().len(), 2, "a dry run applies nothing");
    assert_eq!(rt.snapshot().await.unwrap().version, 1);

    // Without replace nothing is deleted.
    let merged = rt.import(&next, APPLY, "test").await.unwrap();
    assert!(merged.diff.deleted.is_empty());
    assert_eq!(ftp.live().keys().collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(ftp.live()["a"]["pool_size"], 7);
}

#[tokio::test]
async fn a_document_with_problems_in_several_places_is_refused_whole() {
    let (rt, ftp) = runtime();
    let bad = doc(json!({
        "outgoing": {
            "ftp": [
                {"name": "ok"},
                {"name": "zero", "pool_size": 0},
                {"name": "typo", "pool_sise": 3},
                {"name": "dangling", "uses": "nowhere"}
            ],
            "sftp": [{"name": "x"}]
        },
        "services": [{"name": "s", "is_active": "no"}]
    }));
    let Err(ChangeError::Invalid(err)) = rt.import(&bad, APPLY, "test").await else {
        panic!("expected the document to be refused");
    };
    let paths: Vec<&str> = err.problems().iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "outgoing.ftp.zero.pool_size",
            "outgoing.ftp.typo.pool_sise",
            "outgoing.sftp",
            "services.s.is_active",
            "outgoing.ftp.dangling.uses",
        ],
        "{err}"
    );
    assert!(ftp.live().is_empty(), "nothing applied");
    assert_eq!(rt.snapshot().await.unwrap().version, 0, "nothing stored");
}

#[tokio::test]
async fn a_change_that_fails_to_apply_is_put_back_and_not_stored() {
    let (rt, ftp) = runtime();
    rt.import(
        &doc(json!({"outgoing": {"ftp": [{"name": "a", "pool_size": 2}]}})),
        APPLY,
        "test",
    )
    .await
    .unwrap();
    // `a` changes first (sorted by name), then `b` fails: `a` must come back as it was.
    let failing = doc(json!({"outgoing": {"ftp": [
        {"name": "a", "pool_size": 3},
        {"name": "b", "pool_size": 13}
    ]}}));
    let err = rt.import(&failing, APPLY, "test").await.unwrap_err();
    let ChangeError::ApplyFailed(e) = &err else {
        panic!("{err}");
    };
    assert_eq!(e.problems()[0].path, "outgoing.ftp.b");
    assert_eq!(ftp.live()["a"]["pool_size"], 2);
    assert!(!ftp.live().contains_key("b"));
    assert_eq!(rt.snapshot().await.unwrap().version, 1);
    assert_eq!(rt.history().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_change_reaches_each_kind_as_one_batch() {
    let (rt, ftp) = runtime();
    let many: Vec<Value> = (0..50)
        .map(|i| json!({"name": format!("f{i:02}")}))
        .collect();
    rt.import(&doc(json!({"outgoing": {"ftp": many}})), APPLY, "test")
        .await
        .unwrap();
    assert_eq!(ftp.live().len(), 50);
    assert_eq!(*ftp.batches.lock().unwrap(), [50]);
    // Removals too: an import with replace removing 49 of them is one more batch.
    let one = doc(json!({"outgoing": {"ftp": [{"name": "f00"}]}}));
    let replace = ImportOptions {
        dry_run: false,
        replace: true,
    };
    rt.import(&one, replace, "test").await.unwrap();
    assert_eq!(ftp.live().len(), 1);
    assert_eq!(*ftp.batches.lock().unwrap(), [50, 49]);
}

#[tokio::test]
async fn a_write_queued_behind_a_long_change_is_refused_as_busy_after_its_wait() {
    let (rt, ftp) = runtime();
    rt.set_write_wait(std::time::Duration::from_millis(100));
    let held = ftp.gate.write().await;
    let import = tokio::spawn({
        let rt = rt.clone();
        async move {
            let long = doc(json!({"outgoing": {"ftp": [{"name": "slow"}]}}));
            rt.import(&long, APPLY, "test").await.map(|o| o.version)
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let quick = key("quick");
    let write = rt.put(&quick, json!({}), PutMode::Create, None, "test");
    let refused = tokio::time::timeout(std::time::Duration::from_secs(5), write)
        .await
        .expect("the write gets its answer within its wait");
    let err = refused.unwrap_err();
    assert!(matches!(err, ChangeError::Busy { .. }), "{err}");
    assert!(err.to_string().contains("busy"), "{err}");
    drop(held);
    assert_eq!(import.await.unwrap().unwrap(), 1);
    // Once the change is done, writes go through again.
    rt.put(&quick, json!({}), PutMode::Create, None, "test")
        .await
        .unwrap();
}

#[tokio::test]
async fn an_export_imported_back_changes_nothing_and_keeps_the_secret() {
    let (rt, ftp) = runtime();
    rt.import(
        &doc(json!({"outgoing": {"ftp": [{"name": "a", "password": "pa55"}]}})),
        APPLY,
        "test",
    )
    .await
    .unwrap();
    let (version, exported) = rt.export().await.unwrap();
    for format in [Format::Json, Format::Toml, Format::Yaml] {
        let text = exported.to_text(format).unwrap();
        assert!(!text.contains("pa55"), "{text}");
        assert!(text.contains(SECRET_PLACEHOLDER), "{text}");
        let back = ConfigDocument::parse(&text, format).unwrap();
        let outcome = rt
            .import(
                &back,
                ImportOptions {
                    dry_run: false,
                    replace: true,
                },
                "test",
            )
            .await
            .unwrap();
        assert!(outcome.diff.is_empty(), "{format}: {:?}", outcome.diff);
        assert_eq!(outcome.version, version, "no new version");
    }
    assert_eq!(ftp.live()["a"]["password"], "pa55");
    // The placeholder where there is no secret yet is refused.
    let new = doc(json!({"outgoing": {"ftp": [{"name": "b", "password": SECRET_PLACEHOLDER}]}}));
    let err = rt.import(&new, APPLY, "test").await.unwrap_err();
    assert!(err.to_string().contains("outgoing.ftp.b.password"), "{err}");
}

#[tokio::test]
async fn writes_carry_versions_and_a_stale_one_is_refused() {
    let (rt, ftp) = runtime();
    let created = rt
        .put(
            &key("a"),
            json!({"password": "p"}),
            PutMode::Create,
            None,
            "t",
        )
        .await
        .unwrap();
    assert_eq!((created.version, created.object_version), (1, Some(1)));
    let again = rt
        .put(&key("a"), json!({}), PutMode::Create, None, "t")
        .await
        .unwrap_err();
    assert!(matches!(again, ChangeError::Exists(_)), "{again}");

    let patched = rt
        .put(
            &key("a"),
            json!({"pool_size": 9, "password": SECRET_PLACEHOLDER}),
            PutMode::Patch,
            Some(1),
            "t",
        )
        .await
        .unwrap();
    assert_eq!(patched.object_version, Some(2));
    assert_eq!(ftp.live()["a"]["pool_size"], 9);
    assert_eq!(ftp.live()["a"]["password"], "p");

    let stale = rt
        .put(
            &key("a"),
            json!({"pool_size": 1}),
            PutMode::Patch,
            Some(1),
            "t",
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            stale,
            ChangeError::Stale {
                current: Some(2),
                ..
            }
        ),
        "{stale}"
    );
    let (shown, version) = rt.get(&key("a")).await.unwrap().unwrap();
    assert_eq!(
        (shown["password"].as_str(), version),
        (Some(SECRET_PLACEHOLDER), 2)
    );

    let renamed = rt
        .put(&key("a"), json!({"name": "z"}), PutMode::Upsert, None, "t")
        .await
        .unwrap_err();
    assert!(
        renamed.to_string().contains("outgoing.ftp.a.name"),
        "{renamed}"
    );

    let missing = rt
        .put(&key("nope"), json!({}), PutMode::Patch, None, "t")
        .await
        .unwrap_err();
    assert!(matches!(missing, ChangeError::NotFound(_)), "{missing}");

    // The store's version counts every change; an object's is its last change.
    rt.put(&key("b"), json!({}), PutMode::Upsert, None, "t")
        .await
        .unwrap();
    assert_eq!(rt.snapshot().await.unwrap().version, 3);
    assert_eq!(rt.get(&key("a")).await.unwrap().unwrap().1, 2);
}

#[tokio::test]
async fn a_referenced_object_cannot_be_deleted_until_its_user_is() {
    let (rt, ftp) = runtime();
    rt.import(
        &doc(json!({"outgoing": {"ftp": [{"name": "base"}, {"name": "user", "uses": "base"}]}})),
        APPLY,
        "test",
    )
    .await
    .unwrap();
    let err = rt.delete(&key("base"), None, "t").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "outgoing.ftp.base: still referred to by outgoing.ftp.user"
    );
    // A partial import may refer to an object the node has; a replacing one may not, since it
    // would delete it.
    let partial = doc(json!({"outgoing": {"ftp": [{"name": "other", "uses": "base"}]}}));
    rt.import(&partial, APPLY, "test").await.unwrap();
    assert_eq!(ftp.live()["other"]["uses"], "base");
    let replacing = ImportOptions {
        dry_run: true,
        replace: true,
    };
    let Err(ChangeError::Invalid(err)) = rt.import(&partial, replacing, "test").await else {
        panic!("a replacing import keeps no object it does not hold");
    };
    assert_eq!(err.problems()[0].path, "outgoing.ftp.other.uses");
    rt.delete(&key("other"), None, "t").await.unwrap();
    rt.delete(&key("user"), None, "t").await.unwrap();
    rt.delete(&key("base"), Some(1), "t").await.unwrap();
    assert!(ftp.live().is_empty());
    let history = rt.history().await.unwrap();
    assert_eq!(history[0].changes, ["deleted outgoing.ftp.base"]);
    assert_eq!(history[0].author, "t");
}

struct Ping;

impl zato_core::Service for Ping {
    const NAME: &'static str = "demo.ping";
    type Input = ();
    type Output = ();

    async fn handle(
        &self,
        _req: zato_core::Request<()>,
        _ctx: &zato_core::Context,
    ) -> Result<zato_core::Response<()>, zato_core::ServiceError> {
        Ok(zato_core::Response::new(()))
    }
}

async fn ping_status(platform: &Platform) -> u16 {
    let channel = Arc::new(zato_core::ChannelInfo::new(
        "test",
        zato_core::ChannelKind::INTERNAL,
        zato_core::DataFormat::Json,
    ));
    let raw = zato_core::RawRequest::new(zato_core::Cid::new(), channel, "{}");
    platform.dispatch("demo.ping", raw).await.status.as_u16()
}

#[tokio::test]
async fn services_are_made_inactive_by_configuration() {
    let (rt, _) = runtime();
    let platform = rt.platform().clone();
    platform.services().deploy(Ping).unwrap();
    assert_eq!(ping_status(&platform).await, 200);
    let settings = ObjectKey::new(Section::Services, "service", "demo.ping");
    rt.put(
        &settings,
        json!({"is_active": false}),
        PutMode::Upsert,
        None,
        "t",
    )
    .await
    .unwrap();
    assert_eq!(ping_status(&platform).await, 503);
    assert!(!platform.services().list()[0].is_active);
    rt.delete(&settings, None, "t").await.unwrap();
    assert_eq!(ping_status(&platform).await, 200);

    // Settings for a service deployed later apply when it is.
    platform.services().undeploy("demo.ping").unwrap();
    rt.put(
        &settings,
        json!({"is_active": false}),
        PutMode::Upsert,
        None,
        "t",
    )
    .await
    .unwrap();
    platform.services().deploy(Ping).unwrap();
    assert_eq!(ping_status(&platform).await, 503);
    assert_eq!(
        rt.ping(&key("none")).await.unwrap_err().to_string(),
        "outgoing.ftp.none: no such object"
    );
}

#[cfg(feature = "watch")]
#[tokio::test]
async fn edits_of_the_watched_file_are_applied_and_bad_ones_are_not() {
    let dir = std::env::temp_dir().join(format!("zato-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("node.toml");
    std::fs::write(&file, "[[outgoing.ftp]]\nname = \"a\"\npool_size = 2\n").unwrap();
    let (rt, ftp) = runtime();
    let prepare: Arc<zato_core::config::Prepare> = Arc::new(ConfigDocument::parse);
    let text = std::fs::read_to_string(&file).unwrap();
    rt.import(&prepare(&text, Format::Toml).unwrap(), APPLY, "seed")
        .await
        .unwrap();
    let _watch = rt.watch_file(&file, prepare).unwrap();

    let wait_for = |want: u32| {
        let ftp = ftp.clone();
        async move {
            tokio::time::timeout(std::time::Duration::from_secs(30), async {
                while ftp.live().get("a").map(|a| a["pool_size"].clone()) != Some(json!(want)) {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            })
            .await
            .is_ok()
        }
    };
    std::fs::write(&file, "[[outgoing.ftp]]\nname = \"a\"\npool_size = 3\n").unwrap();
    assert!(wait_for(3).await, "the edit was not applied");
    // A refused edit changes nothing; the next good one applies.
    std::fs::write(&file, "[[outgoing.ftp]]\nname = \"a\"\npool_size = 0\n").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(ftp.live()["a"]["pool_size"], 3);
    assert_eq!(rt.snapshot().await.unwrap().version, 2);
    std::fs::write(&file, "[[outgoing.ftp]]\nname = \"a\"\npool_size = 4\n").unwrap();
    assert!(wait_for(4).await, "the second edit was not applied");
    let history = rt.history().await.unwrap();
    assert!(history[0].author.starts_with("file "), "{:?}", history[0]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two nodes over one store, as in a cluster: what one writes, the other applies when it syncs,
/// and a write through a node that is behind first applies what it missed.
#[tokio::test]
async fn a_node_sharing_the_store_catches_up_and_writes_on_top_of_what_it_missed() {
    let store: Arc<dyn zato_core::config::ConfigStore> = Arc::new(MemoryStore::new());
    let node = || {
        let runtime = ConfigRuntime::new(Platform::new(), store.clone());
        let ftp = Arc::new(Ftp::default());
        runtime.register(ftp.clone());
        (runtime, ftp)
    };
    let (one, ftp_one) = node();
    let (two, ftp_two) = node();
    one.put(
        &key("a"),
        json!({"pool_size": 2}),
        PutMode::Create,
        None,
        "one",
    )
    .await
    .unwrap();
    one.put(&key("b"), json!({}), PutMode::Create, None, "one")
        .await
        .unwrap();
    assert!(ftp_two.live().is_empty(), "nothing until it syncs");
    assert_eq!(two.sync().await.unwrap(), (2, 2));
    assert_eq!(ftp_two.live()["a"]["pool_size"], 2);
    assert_eq!(two.sync().await.unwrap(), (2, 0), "nothing new");

    // One changes `a` and deletes `b`; two, behind, writes `c`: it applies both first.
    one.put(
        &key("a"),
        json!({"pool_size": 3}),
        PutMode::Patch,
        None,
        "one",
    )
    .await
    .unwrap();
    one.delete(&key("b"), None, "one").await.unwrap();
    two.put(&key("c"), json!({}), PutMode::Create, None, "two")
        .await
        .unwrap();
    let names: Vec<String> = ftp_two.live().keys().cloned().collect();
    assert_eq!(names, ["a", "c"]);
    assert_eq!(ftp_two.live()["a"]["pool_size"], 3);
    assert_eq!(two.applied_version(), 5);
    assert_eq!(one.sync().await.unwrap(), (5, 1));
    assert_eq!(ftp_one.live(), ftp_two.live());
}

//! Topics and subscriptions as configuration: the document's `pubsub` section checked by path,
//! and applied live (a paused subscription resumed by an edit, a removed one gone with its
//! messages).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{Backend, Behaviour, Place, Recorder, open, with_place};
use zato_core::Platform;
use zato_core::config::{ConfigDocument, ConfigRuntime, Format, ImportOptions, MemoryStore};
use zato_core::kind::Plugin;
use zato_pubsub::{PubSubExt, PubSubPlugin};

const DOC: &str = r#"
[[pubsub.topics]]
name = "invoices.stored"
max_depth = 100

[[pubsub.subscriptions]]
name = "audit"
topic = "invoices.*"
delivery = "service"
service = "test.recorder"
is_active = false
backoff = 10
"#;

#[test]
fn problems_are_named_by_path() {
    let doc = ConfigDocument::parse(
        r#"
[[pubsub.topics]]
name = "invoices.*"
max_depth = 0

[[pubsub.subscriptions]]
name = "s"
topic = "invoices..x"
delivery = "push"
batch_size = 0
dead_letter_topic = "nowhere"
"#,
        Format::Toml,
    )
    .unwrap();
    let mut checker = zato_core::config::Checker::new();
    for schema in zato_pubsub::plugin().schemas() {
        checker.add(schema);
    }
    let err = checker.check(&doc).unwrap_err();
    let paths: Vec<&str> = err.problems().iter().map(|p| p.path.as_str()).collect();
    for expected in [
        r#"pubsub.topics."invoices.*".name"#,
        r#"pubsub.topics."invoices.*".max_depth"#,
        "pubsub.subscriptions.s.topic",
        "pubsub.subscriptions.s.outgoing",
        "pubsub.subscriptions.s.batch_size",
    ] {
        assert!(paths.contains(&expected), "{expected} not in {paths:?}");
    }
}

async fn applied_live(place: Place) {
    let platform = Platform::new();
    let recorder = Recorder::new(Behaviour::Take);
    platform.services().deploy(recorder.clone()).unwrap();
    let plugin = PubSubPlugin::with_store(open(&place).await);
    let runtime = ConfigRuntime::new(platform.clone(), Arc::new(MemoryStore::new()));
    for kind in plugin.attach(&platform).await.unwrap() {
        runtime.register(kind);
    }
    let mut doc = ConfigDocument::parse(DOC, Format::Toml).unwrap();
    let options = ImportOptions {
        dry_run: false,
        replace: true,
    };
    runtime.import(&doc, options, "test").await.unwrap();

    // A service publishes in one line; the paused subscription keeps the message.
    let ctx = platform.context();
    let id = ctx
        .publish("invoices.stored", &serde_json::json!({"id": "1"}))
        .await
        .unwrap();
    assert!(id.is_some());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(recorder.seen().is_empty());

    // Resumed by an edit of the document: delivered.
    doc.pubsub.get_mut("subscriptions").unwrap()[0]["is_active"] = true.into();
    runtime.import(&doc, options, "test").await.unwrap();
    assert_eq!(
        recorder.wait_for(1, Duration::from_secs(10)).await,
        [r#"{"id":"1"}"#]
    );

    // Removed: publications no longer kept for it.
    doc.pubsub.remove("subscriptions");
    runtime.import(&doc, options, "test").await.unwrap();
    assert_eq!(
        ctx.publish("invoices.stored", &1).await.unwrap(),
        None,
        "no subscription takes it"
    );
    let pubsub = ctx.pubsub().unwrap();
    assert!(pubsub.subscription("audit").is_none());
    pubsub.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applied_live_sqlite() {
    with_place(Backend::Sqlite, applied_live).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: ZATO_TEST_PG_URL"]
async fn applied_live_pg() {
    with_place(Backend::Postgres, applied_live).await;
}

//! The InvoiceDispatcher example over AMQP, unchanged: built with the `amqp` feature and given a
//! broker (`ZATO_TEST_AMQP_URL`), it consumes a queue of invoices, each naming its own targets,
//! and stores each whole message in Swift. A plain `cargo test` reports the tests as ignored;
//! `--include-ignored` runs them against the broker.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed step fails the test"
)]

use invoice_dispatcher as app;

use std::time::{Duration, Instant};

use lapin::options::{BasicPublishOptions, QueueDeleteOptions};
use lapin::{BasicProperties, Connection, ConnectionProperties};

/// The broker of the test: the tests are ignored unless asked for, and then need it.
fn amqp_url() -> String {
    std::env::var("ZATO_TEST_AMQP_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("ZATO_TEST_AMQP_URL names the RabbitMQ this test needs")
}

/// The example's shipped configuration.
fn shipped() -> app::AppConfig {
    app::AppConfig::parse(
        include_str!("../examples/invoice_dispatcher/config.json"),
        zato::config::Format::Json,
    )
    .unwrap()
}

#[tokio::test]
#[ignore = "needs RabbitMQ at ZATO_TEST_AMQP_URL"]
async fn an_invoice_published_to_the_queue_is_stored_in_each_of_its_targets() {
    let url = amqp_url();
    let queue = format!("zato-test.invoices.{}", std::process::id());
    let config = shipped().with_amqp(&url, &queue);
    let running = app::start(config, "127.0.0.1:0", None).await.unwrap();
    let channels = running.platform.channels().list();
    assert!(
        channels.iter().any(|c| c.name == format!("{queue}.amqp")),
        "{channels:?}"
    );

    // The queue was declared by the channel: publish as any other application would.
    let conn = Connection::connect(&url, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let invoice = br#"{"id":"300","target":["CRM","Billing"]}"#;
    ch.basic_publish(
        "".into(),
        queue.as_str().into(),
        BasicPublishOptions::default(),
        invoice,
        BasicProperties::default().with_content_type("application/json".into()),
    )
    .await
    .unwrap();

    let local = running.local.as_ref().expect("the local Swift endpoint");
    let started = Instant::now();
    while local.object("Billing", app::OBJECT).is_none()
        && started.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for target in ["CRM", "Billing"] {
        let stored = local.object(target, app::OBJECT).expect("stored");
        assert_eq!(&stored[..], invoice, "the whole message in {target}");
    }
    running.shutdown().await;
    for q in [queue.clone(), format!("{queue}.dead")] {
        let _ = ch
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    let _ = conn.close(200, "done".into()).await;
}

/// AMQP objects change live through the config runtime (what the admin API and the CLI call):
/// a deactivated channel stops consuming and leaves messages on the queue, reactivating it
/// consumes them, a connection still used by a channel cannot be deleted, and the password is
/// never shown back.
#[tokio::test]
#[ignore = "needs RabbitMQ at ZATO_TEST_AMQP_URL"]
async fn amqp_objects_are_created_deactivated_and_deleted_live() {
    use zato::config::{ChangeError, ObjectKey, PutMode, Section};

    let url = amqp_url();
    let queue = format!("zato-test.live.{}", std::process::id());
    let config = shipped();
    let running = app::start(config, "127.0.0.1:0", None).await.unwrap();
    let rt = &running.runtime;
    let conn_key = ObjectKey::new(Section::Outgoing, "amqp", "live-broker");
    let chan_key = ObjectKey::new(Section::Channels, "amqp", "live");
    rt.put(
        &conn_key,
        serde_json::json!({"name": "live-broker", "url": url}),
        PutMode::Create,
        None,
        "test",
    )
    .await
    .unwrap();
    let (shown, _) = rt.get(&conn_key).await.unwrap().unwrap();
    assert_ne!(shown["password"], "guest", "the password is not shown");
    assert!(shown.get("url").is_none());
    rt.put(
        &chan_key,
        serde_json::json!({"name": "live", "connection": "live-broker", "queue": queue,
                           "service": "invoice.dispatcher", "declare": true}),
        PutMode::Create,
        None,
        "test",
    )
    .await
    .unwrap();

    let conn = Connection::connect(&url, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let publish = |body: &'static [u8]| {
        let ch = ch.clone();
        let queue = queue.clone();
        async move {
            ch.basic_publish(
                "".into(),
                queue.as_str().into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default().with_content_type("application/json".into()),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        }
    };
    let local = running.local.as_ref().expect("the local Swift endpoint");
    let wait_for = |container: &'static str| async move {
        let started = Instant::now();
        while local.object(container, app::OBJECT).is_none()
            && started.elapsed() < Duration::from_secs(30)
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        local.object(container, app::OBJECT)
    };
    publish(br#"{"id":"1","target":["First"]}"#).await;
    assert!(wait_for("First").await.is_some(), "consumed while active");

    rt.put(
        &chan_key,
        serde_json::json!({"is_active": false}),
        PutMode::Patch,
        None,
        "test",
    )
    .await
    .unwrap();
    publish(br#"{"id":"2","target":["Second"]}"#).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        local.object("Second", app::OBJECT).is_none(),
        "not consumed while inactive"
    );

    rt.put(
        &chan_key,
        serde_json::json!({"is_active": true}),
        PutMode::Patch,
        None,
        "test",
    )
    .await
    .unwrap();
    assert!(
        wait_for("Second").await.is_some(),
        "the waiting message consumed"
    );

    let refused = rt.delete(&conn_key, None, "test").await.unwrap_err();
    assert!(
        matches!(refused, ChangeError::Referenced { .. }),
        "{refused}"
    );
    rt.delete(&chan_key, None, "test").await.unwrap();
    rt.delete(&conn_key, None, "test").await.unwrap();
    assert!(
        !running
            .platform
            .channels()
            .list()
            .iter()
            .any(|c| c.name == "live")
    );
    running.shutdown().await;
    for q in [queue.clone(), format!("{queue}.dead")] {
        let _ = ch
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    let _ = conn.close(200, "done".into()).await;
}

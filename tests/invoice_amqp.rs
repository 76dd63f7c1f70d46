//! The InvoiceDispatcher example over AMQP, unchanged: built with the `amqp` feature and given a
//! broker (`ZATO_TEST_AMQP_URL`), it consumes a queue of invoices, each naming its own targets,
//! and stores each whole message in Swift. Without the variable the test says it was skipped.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed step fails the test"
)]

#[path = "../examples/invoice_dispatcher/app.rs"]
#[allow(dead_code, reason = "the HTTP and admin parts are other tests'")]
mod app;

use std::time::{Duration, Instant};

use lapin::options::{BasicPublishOptions, QueueDeleteOptions};
use lapin::{BasicProperties, Connection, ConnectionProperties};

#[tokio::test]
async fn an_invoice_published_to_the_queue_is_stored_in_each_of_its_targets() {
    let Some(url) = std::env::var("ZATO_TEST_AMQP_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("skipped: ZATO_TEST_AMQP_URL is not set");
        return;
    };
    let queue = format!("zato-test.invoices.{}", std::process::id());
    let config = app::AppConfig::parse(
        include_str!("../examples/invoice_dispatcher/config.json"),
        zato::config::Format::Json,
    )
    .unwrap()
    .with_amqp(&url, &queue);
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

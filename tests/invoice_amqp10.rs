//! The InvoiceDispatcher example over AMQP 1.0, unchanged: built with the `amqp10` feature and
//! given a broker (`ZATO_TEST_AMQP10_URL`, RabbitMQ with its AMQP 1.0 plugin), it consumes
//! invoices from an address, each naming its own targets, and stores each whole message in
//! Swift. A plain `cargo test` reports the test as ignored; `--include-ignored` runs it.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed step fails the test"
)]

use invoice_dispatcher as app;

use std::time::{Duration, Instant};

use zato::amqp10::{Amqp10Connection, Amqp10ConnectionConfig, Amqp10Message};
use zato::config::Section;

/// The broker of the test: the test is ignored unless asked for, and then needs it.
fn amqp10_url() -> String {
    std::env::var("ZATO_TEST_AMQP10_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("ZATO_TEST_AMQP10_URL names the AMQP 1.0 broker this test needs")
}

#[tokio::test]
#[ignore = "needs RabbitMQ with rabbitmq_amqp1_0 (ZATO_TEST_AMQP10_URL)"]
async fn an_invoice_sent_to_the_address_is_stored_in_each_of_its_targets() {
    let url = amqp10_url();
    let queue = format!("zato_test_invoices_amqp10_{}", std::process::id());
    let address = format!("/queue/{queue}");
    let shipped = app::AppConfig::parse(
        include_str!("../examples/invoice_dispatcher/config.json"),
        zato::config::Format::Json,
    )
    .unwrap();
    let running = app::start(shipped.with_amqp10(&url, &address), "127.0.0.1:0", None)
        .await
        .unwrap();
    let kinds = running.runtime.describe();
    let outgoing = kinds
        .iter()
        .find(|k| k.section == Section::Outgoing && k.kind == "amqp10")
        .expect("outgoing.amqp10");
    assert!(outgoing.pings);
    assert!(
        outgoing
            .fields
            .iter()
            .any(|f| f.name == "password" && f.secret)
    );
    let channels = running.platform.channels().list();
    assert!(
        channels.iter().any(|c| c.name == "invoices.amqp10"),
        "{channels:?}"
    );

    // Sent as any other AMQP 1.0 application would: a JMS text message.
    let sender = Amqp10Connection::new(Amqp10ConnectionConfig::from_url("test", &url)).unwrap();
    let invoice = r#"{"id":"300","target":["CRM","Billing"]}"#;
    sender
        .send(&address, Amqp10Message::text(invoice))
        .await
        .unwrap();

    let local = running.local.as_ref().expect("the local Swift endpoint");
    let started = Instant::now();
    while local.object("Billing", app::OBJECT).is_none()
        && started.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for target in ["CRM", "Billing"] {
        let stored = local.object(target, app::OBJECT).expect("stored");
        assert_eq!(
            &stored[..],
            invoice.as_bytes(),
            "the whole message in {target}"
        );
    }
    running.shutdown().await;
    // The plugin declared the queue: delete it over AMQP 0-9-1, as an operator would.
    let url091 = std::env::var("ZATO_TEST_AMQP_URL")
        .unwrap_or_else(|_| format!("{}/%2f", url.trim_end_matches('/')));
    if let Ok(conn) =
        lapin::Connection::connect(&url091, lapin::ConnectionProperties::default()).await
        && let Ok(ch) = conn.create_channel().await
    {
        let _ = ch
            .queue_delete(
                queue.as_str().into(),
                lapin::options::QueueDeleteOptions::default(),
            )
            .await;
    }
}

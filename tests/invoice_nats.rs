//! The InvoiceDispatcher example over NATS, unchanged: built with the `nats` feature and given a
//! server (`ZATO_TEST_NATS_URL`), it takes invoices published to a subject, each naming its own
//! targets, and stores each whole message in Swift. A plain `cargo test` reports the test as
//! ignored; `--include-ignored` runs it against the server.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed step fails the test"
)]

use invoice_dispatcher as app;

use std::time::{Duration, Instant};

use zato::config::Section;

/// The server of the test: the test is ignored unless asked for, and then needs it.
fn nats_url() -> String {
    std::env::var("ZATO_TEST_NATS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("ZATO_TEST_NATS_URL names the NATS server with JetStream this test needs")
}

#[tokio::test]
#[ignore = "needs a NATS server with JetStream (ZATO_TEST_NATS_URL)"]
async fn an_invoice_published_to_the_subject_is_stored_in_each_of_its_targets() {
    let url = nats_url();
    let run = std::process::id();
    let (subject, stream) = (
        format!("zato_test.invoices.{run}"),
        format!("ZATO_TEST_INVOICES_{run}"),
    );
    let shipped = app::AppConfig::parse(
        include_str!("../examples/invoice_dispatcher/config.json"),
        zato::config::Format::Json,
    )
    .unwrap();
    let running = app::start(
        shipped.with_nats(&url, &subject, &stream),
        "127.0.0.1:0",
        None,
    )
    .await
    .unwrap();
    // The kinds came through the plug-in seam: the admin API, the CLI and the web admin list
    // them from here, the password and the token as secrets.
    let kinds = running.runtime.describe();
    let outgoing = kinds
        .iter()
        .find(|k| k.section == Section::Outgoing && k.kind == "nats")
        .expect("outgoing.nats");
    assert!(outgoing.pings);
    assert!(
        outgoing
            .fields
            .iter()
            .any(|f| f.name == "password" && f.secret)
    );
    assert!(
        kinds
            .iter()
            .any(|k| k.section == Section::Channels && k.kind == "nats")
    );
    let channels = running.platform.channels().list();
    assert!(
        channels.iter().any(|c| c.name == format!("{subject}.nats")),
        "{channels:?}"
    );

    // The stream was declared by the channel: publish as any other application would.
    let client = async_nats::connect(&url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let invoice = br#"{"id":"300","target":["CRM","Billing"]}"#;
    js.publish(subject.clone(), invoice.to_vec().into())
        .await
        .unwrap()
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
        assert_eq!(&stored[..], invoice, "the whole message in {target}");
    }
    running.shutdown().await;
    let _ = js.delete_stream(&stream).await;
}

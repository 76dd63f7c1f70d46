//! The InvoiceDispatcher example over ZeroMQ: an invoice pushed to its PULL socket is stored in
//! every target it names, exactly as sent, on the local Swift-compatible endpoint.
#![allow(
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

use invoice_dispatcher as app;

use std::time::{Duration, Instant};

use app::AppConfig;
use zato::channels::{ZmqConnection, ZmqConnectionConfig, ZmqOutgoingType};

#[tokio::test]
async fn a_pushed_invoice_is_stored_in_each_of_its_targets() {
    let config = AppConfig::parse(
        include_str!("../examples/invoice_dispatcher/config.json"),
        zato::config::Format::Json,
    )
    .expect("the example's config parses")
    .with_zmq_pull("tcp://127.0.0.1:*");
    let running = app::start(config, "127.0.0.1:0", None)
        .await
        .expect("the example starts");
    let channel = running
        .platform
        .channels()
        .list()
        .into_iter()
        .find(|c| c.name == app::ZMQ_PULL_CHANNEL)
        .expect("the PULL channel is listed");
    let endpoint = channel
        .endpoint
        .strip_prefix("pull bind ")
        .expect("a bound PULL socket")
        .to_owned();
    let push = ZmqConnection::open(ZmqConnectionConfig::new(
        "test.push",
        ZmqOutgoingType::Push,
        endpoint,
    ))
    .await
    .expect("the PUSH socket opens");

    // No target: the service refuses it, and the channel goes on.
    push.send(r#"{"id":"299"}"#).await.expect("sent");
    let invoice = r#"{"id":"300","target":["CRM","Billing"]}"#;
    push.send(invoice).await.expect("sent");

    let local = running.local.as_ref().expect("the local endpoint runs");
    let deadline = Instant::now() + Duration::from_secs(10);
    let stored = |target: &str| local.object(target, app::OBJECT);
    while (stored("CRM").is_none() || stored("Billing").is_none()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for target in ["CRM", "Billing"] {
        let object = stored(target).expect("the invoice is stored");
        assert_eq!(&object[..], invoice.as_bytes(), "{target}");
    }
    running.shutdown().await;
}

/// The endpoint of the ZeroMQ channel `name`, as the platform lists it, once it has a socket.
fn bound_endpoint(running: &app::Running, name: &str) -> Option<String> {
    let channel = running
        .platform
        .channels()
        .list()
        .into_iter()
        .find(|c| c.name == name)?;
    channel
        .is_active
        .then(|| {
            channel
                .endpoint
                .strip_prefix("pull bind ")
                .map(str::to_owned)
        })
        .flatten()
}

#[tokio::test]
async fn a_zmq_channel_is_created_deactivated_and_deleted_through_the_admin_api() {
    const TOKEN: &str = "zmq-admin-token-for-test";
    let (running, _base, admin) = app::start_local_node(TOKEN)
        .await
        .expect("the example starts");
    let client = reqwest::Client::new();
    let url = format!("{admin}/api/channels/zmq");
    let created = client
        .post(&url)
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({
            "name": "invoices.zmq", "socket_type": "pull",
            "address": "tcp://127.0.0.1:*", "service": "invoice.dispatcher"
        }))
        .send()
        .await
        .expect("request sent");
    assert!(created.status().is_success(), "{}", created.status());
    let endpoint = bound_endpoint(&running, "invoices.zmq").expect("a bound socket");

    let listed: serde_json::Value = client
        .get(&url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("request sent")
        .json()
        .await
        .expect("json");
    assert!(listed.to_string().contains("invoices.zmq"), "{listed}");

    let push = ZmqConnection::open(ZmqConnectionConfig::new(
        "admin.push",
        ZmqOutgoingType::Push,
        endpoint,
    ))
    .await
    .expect("the PUSH socket opens");
    let invoice = r#"{"id":"400","target":["Admin"]}"#;
    push.send(invoice).await.expect("sent");
    let local = running.local.as_ref().expect("the local endpoint runs");
    let deadline = Instant::now() + Duration::from_secs(10);
    while local.object("Admin", app::OBJECT).is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        local.object("Admin", app::OBJECT).as_deref(),
        Some(invoice.as_bytes())
    );

    let off = client
        .patch(format!("{url}/invoices.zmq"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"is_active": false}))
        .send()
        .await
        .expect("request sent");
    assert_eq!(off.status(), 200);
    assert_eq!(bound_endpoint(&running, "invoices.zmq"), None);

    let bad = client
        .patch(format!("{url}/invoices.zmq"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"max_concurrency": 0}))
        .send()
        .await
        .expect("request sent");
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.expect("body").contains("max_concurrency"));

    let deleted = client
        .delete(format!("{url}/invoices.zmq"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("request sent");
    assert!(deleted.status().is_success(), "{}", deleted.status());
    assert!(
        running
            .platform
            .channels()
            .list()
            .iter()
            .all(|c| c.name != "invoices.zmq")
    );
    running.shutdown().await;
}

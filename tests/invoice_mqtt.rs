//! The Redis and MQTT kinds in the facade: registered through `zato::compiled_in()`, they are
//! on the node's admin API like every other kind; and the InvoiceDispatcher example, unchanged,
//! takes invoices from the MQTT topic it is given (`ZATO_TEST_MQTT_URL` for the broker). A plain
//! `cargo test` runs the first and reports the second as ignored.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed step fails the test"
)]

use invoice_dispatcher as app;

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use zato::config::SECRET_PLACEHOLDER;
use zato::mqtt::{MqttConfig, MqttConnection, MqttMessage};

const TOKEN: &str = "admin-token-for-mqtt-tests";

async fn call(admin: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{admin}{path}"))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn the_redis_and_mqtt_kinds_are_on_the_admin_api_with_their_secrets_hidden() {
    let (running, _, admin) = app::start_local_node(TOKEN).await.unwrap();
    let (status, kinds) = call(&admin, Method::GET, "/api/kinds", None).await;
    assert_eq!(status, 200, "{kinds}");
    let items = kinds["items"].as_array().unwrap();
    let find = |section: &str, kind: &str| {
        items
            .iter()
            .find(|k| k["section"] == section && k["kind"] == kind)
            .unwrap_or_else(|| panic!("{section}.{kind} in {kinds}"))
            .clone()
    };
    for (section, kind) in [("outgoing", "redis"), ("outgoing", "mqtt")] {
        let info = find(section, kind);
        assert_eq!(info["pings"], true, "{info}");
        let password = info["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "password")
            .unwrap();
        assert_eq!(password["secret"], true, "{info}");
        assert!(info["example"].get("password").is_none(), "{info}");
    }
    find("channels", "redis_stream");
    find("channels", "mqtt");

    // Created through the API, a password in the URL is never shown again.
    let (status, body) = call(
        &admin,
        Method::POST,
        "/api/outgoing/redis",
        Some(json!({"name": "cache", "url": "redis://:hunter2@127.0.0.1:1/0"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, shown) = call(&admin, Method::GET, "/api/outgoing/redis/cache", None).await;
    assert_eq!(status, 200, "{shown}");
    assert!(!shown.to_string().contains("hunter2"), "{shown}");
    assert!(shown.to_string().contains(SECRET_PLACEHOLDER), "{shown}");
    // A channel with a bad filter and a missing connection is refused, each problem named.
    let (status, refused) = call(
        &admin,
        Method::POST,
        "/api/channels/mqtt",
        Some(json!({"name": "m", "connection": "nowhere", "service": "invoice.dispatcher", "topics": ["a/#/b"], "qos": 3})),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    let text = refused.to_string();
    assert!(text.contains("topics[0]") && text.contains("qos"), "{text}");
    running.shutdown().await;
}

#[tokio::test]
#[ignore = "needs an MQTT broker (ZATO_TEST_MQTT_URL)"]
async fn an_invoice_published_to_the_topic_is_stored_in_each_of_its_targets() {
    let url = std::env::var("ZATO_TEST_MQTT_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("ZATO_TEST_MQTT_URL names the MQTT broker this test needs (mqtt://127.0.0.1:1883)");
    let topic = format!("zato-test/invoices/{}", std::process::id());
    let shipped = app::AppConfig::parse(
        include_str!("../examples/invoice_dispatcher/config.json"),
        zato::config::Format::Json,
    )
    .unwrap();
    let running = app::start(shipped.with_mqtt(&url, &topic), "127.0.0.1:0", None)
        .await
        .unwrap();
    let channels = running.platform.channels().list();
    assert!(
        channels.iter().any(|c| c.name == format!("{topic}.mqtt")),
        "{channels:?}"
    );

    // Published as any other client would, QoS 1.
    let sender = MqttConnection::new(MqttConfig::new("sender", url.as_str())).unwrap();
    let invoice = br#"{"id":"300","target":["CRM","Billing"]}"#;
    sender
        .publish(&MqttMessage::new(topic.as_str(), &invoice[..]))
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
    // The channel removed ends its session at the broker.
    running
        .runtime
        .delete(
            &zato::config::ObjectKey::new(
                zato::config::Section::Channels,
                "mqtt",
                format!("{topic}.mqtt").as_str(),
            ),
            None,
            "test",
        )
        .await
        .unwrap();
    running.shutdown().await;
}

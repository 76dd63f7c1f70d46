//! The REST API on the HTTP channels' listener: publish, pull and acknowledge under a security
//! definition, each refused case answered with a 403.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use serde_json::{Value, json};
use support::{Backend, Behaviour, Place, Recorder, node, with_place};
use zato_channels::{HttpChannelConfig, HttpConfig, HttpServer, SecurityDef};
use zato_pubsub::{Delivery, PermissionConfig, SubscriptionConfig, TopicConfig};

fn channel(
    name: &str,
    path: &str,
    service: &str,
    method: &str,
    security: Option<&str>,
) -> HttpChannelConfig {
    let c = HttpChannelConfig::new(name, path, service).with_methods([method]);
    match security {
        Some(s) => c.with_security(s),
        None => c,
    }
}

async fn rest_api(place: Place) {
    let recorder = Recorder::new(Behaviour::Take);
    let (platform, pubsub) = node(&place, &recorder).await;
    zato_pubsub::rest::deploy_into(&platform).unwrap();
    for topic in ["invoices.stored", "orders.new"] {
        pubsub.put_topic(TopicConfig::new(topic));
    }
    pubsub
        .put_subscription(SubscriptionConfig::new(
            "crm.inbox",
            "invoices.*",
            Delivery::Pull,
        ))
        .await
        .unwrap();
    pubsub
        .put_subscription(SubscriptionConfig::new(
            "orders",
            "orders.*",
            Delivery::Pull,
        ))
        .await
        .unwrap();
    pubsub.put_permission(PermissionConfig {
        name: "crm".into(),
        security: "crm".into(),
        publish: vec!["invoices.*".into()],
        subscribe: vec!["crm.*".into()],
    });
    pubsub.put_permission(PermissionConfig {
        name: "partner".into(),
        security: "partner".into(),
        publish: Vec::new(),
        subscribe: vec!["partner.inbox".into()],
    });
    let mut channels = Vec::new();
    for (prefix, security) in [
        ("crm", Some("crm")),
        ("partner", Some("partner")),
        ("open", None),
    ] {
        channels.push(channel(
            &format!("{prefix}.publish"),
            &format!("/{prefix}/topic/{{topic}}"),
            "zato.pubsub.publish",
            "POST",
            security,
        ));
        channels.push(channel(
            &format!("{prefix}.pull"),
            &format!("/{prefix}/subscription/{{subscription}}"),
            "zato.pubsub.pull",
            "GET",
            security,
        ));
        channels.push(channel(
            &format!("{prefix}.ack"),
            &format!("/{prefix}/subscription/{{subscription}}/ack"),
            "zato.pubsub.ack",
            "POST",
            security,
        ));
    }
    let security = vec![
        SecurityDef::api_key("crm", "X-API-Key", "crm-key"),
        SecurityDef::api_key("partner", "X-API-Key", "partner-key"),
    ];
    let server = HttpServer::serve(
        "127.0.0.1:0",
        platform.clone(),
        HttpConfig::new(channels, security),
    )
    .await
    .unwrap();
    let base = format!("http://{}", server.local_addr());
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: String, key: &'static str, body: Option<Value>| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move {
            let mut req = http.request(method, url).header("X-API-Key", key);
            if let Some(body) = body {
                req = req.json(&body);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            (status, body)
        }
    };
    use reqwest::Method;

    // Allowed: crm publishes to invoices.*.
    let (status, body) = call(
        Method::POST,
        "/crm/topic/invoices.stored".into(),
        "crm-key",
        Some(json!({"data": {"id": "123"}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["msg_id"].as_i64().is_some(), "{body}");

    // Refused, each with a 403: a topic outside crm's patterns, a definition allowed nothing,
    // a channel without a security definition.
    let (status, body) = call(
        Method::POST,
        "/crm/topic/orders.new".into(),
        "crm-key",
        Some(json!({"data": 1})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.to_string().contains("may not publish to `orders.new`"),
        "{body}"
    );
    let (status, _) = call(
        Method::POST,
        "/partner/topic/invoices.stored".into(),
        "partner-key",
        Some(json!({"data": 1})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = call(
        Method::POST,
        "/open/topic/invoices.stored".into(),
        "",
        Some(json!({"data": 1})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = call(
        Method::GET,
        "/partner/subscription/crm.inbox".into(),
        "partner-key",
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(
        Method::POST,
        "/partner/subscription/crm.inbox/ack".into(),
        "partner-key",
        Some(json!({"msg_ids": [1]})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(
        Method::GET,
        "/crm/subscription/orders".into(),
        "crm-key",
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(Method::GET, "/open/subscription/crm.inbox".into(), "", None).await;
    assert_eq!(status, 403);
    // A wrong key is the channel's 401, before any permission.
    let (status, _) = call(
        Method::GET,
        "/crm/subscription/crm.inbox".into(),
        "wrong",
        None,
    )
    .await;
    assert_eq!(status, 401);

    // Allowed: crm pulls its inbox and acknowledges by id.
    let (status, body) = call(
        Method::GET,
        "/crm/subscription/crm.inbox?max=10".into(),
        "crm-key",
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{body}");
    assert_eq!(messages[0]["data"], json!({"id": "123"}));
    assert_eq!(messages[0]["topic"], "invoices.stored");
    assert_eq!(messages[0]["publisher"], "crm");
    let id = messages[0]["msg_id"].clone();
    let (status, body) = call(
        Method::POST,
        "/crm/subscription/crm.inbox/ack".into(),
        "crm-key",
        Some(json!({"msg_ids": [id]})),
    )
    .await;
    assert_eq!((status, body["acked"].as_i64()), (200, Some(1)), "{body}");
    let (_, body) = call(
        Method::GET,
        "/crm/subscription/crm.inbox".into(),
        "crm-key",
        None,
    )
    .await;
    assert_eq!(
        body["messages"].as_array().map(Vec::len).unwrap_or(0),
        0,
        "{body}"
    );

    // Unknown topic: 404.
    let (status, _) = call(
        Method::POST,
        "/crm/topic/invoices.none".into(),
        "crm-key",
        Some(json!({"data": 1})),
    )
    .await;
    assert_eq!(status, 404);
    server.shutdown().await;
    pubsub.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_api_sqlite() {
    with_place(Backend::Sqlite, rest_api).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: ZATO_TEST_PG_URL"]
async fn rest_api_pg() {
    with_place(Backend::Postgres, rest_api).await;
}

//! Basic Auth and API keys: the right caller gets in, any other gets a 401 and the service
//! never runs; credentials rotate while serving; secrets never show.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod support;

use support::*;
use zato_channels::{HttpChannelConfig, SecurityDef};

const PASSWORD: &str = "Sup3r-s3cret-pa55";
const KEY: &str = "k3y-0f-the-kingdom";

async fn server(counter: &Counter) -> TestServer {
    let platform = platform();
    platform.services().deploy(counter.clone()).unwrap();
    let channels = vec![
        HttpChannelConfig::new("basic", "/basic", "demo.counter").with_security("crm.basic"),
        HttpChannelConfig::new("key", "/key", "demo.counter").with_security("billing.key"),
        HttpChannelConfig::new("open", "/open", "demo.counter"),
    ];
    let security = vec![
        SecurityDef::BasicAuth {
            name: "crm.basic".into(),
            username: "crm".into(),
            password: zato_core::Secret::from(PASSWORD),
            realm: "Invoices".into(),
        },
        SecurityDef::api_key("billing.key", "X-Billing-Key", KEY),
    ];
    TestServer::start(platform, channels, security).await
}

#[tokio::test]
async fn basic_auth() {
    let counter = Counter::default();
    let s = server(&counter).await;
    let good = s
        .client
        .get(s.url("/basic"))
        .basic_auth("crm", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), 200);
    assert_eq!(counter.calls(), 1);

    let attempts = [
        s.client.get(s.url("/basic")),
        s.client
            .get(s.url("/basic"))
            .basic_auth("crm", Some("wrong")),
        s.client
            .get(s.url("/basic"))
            .basic_auth("billing", Some(PASSWORD)),
        s.client
            .get(s.url("/basic"))
            .header("authorization", "Bearer abc"),
        s.client
            .get(s.url("/basic"))
            .header("authorization", "Basic %%%not-base64"),
    ];
    for attempt in attempts {
        let r = Reply::from(attempt.send().await.unwrap()).await;
        r.assert_json_error(401, "unauthorized");
        assert_eq!(
            r.header("www-authenticate"),
            "Basic realm=\"Invoices\", charset=\"UTF-8\""
        );
    }
    assert_eq!(
        counter.calls(),
        1,
        "the service ran for a caller who failed authentication"
    );
    s.stop().await;
}

#[tokio::test]
async fn api_key_in_its_configured_header() {
    let counter = Counter::default();
    let s = server(&counter).await;
    let good = s
        .client
        .get(s.url("/key"))
        .header("x-billing-key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), 200);

    for (header, value) in [
        ("x-billing-key", "nope"),
        ("x-api-key", KEY),
        ("x-billing-key", ""),
    ] {
        let r = Reply::from(
            s.client
                .get(s.url("/key"))
                .header(header, value)
                .send()
                .await
                .unwrap(),
        )
        .await;
        r.assert_json_error(401, "unauthorized");
        assert_eq!(
            r.header("www-authenticate"),
            "ApiKey header=\"X-Billing-Key\""
        );
    }
    assert_eq!(counter.calls(), 1);

    let open = s.get("/open").await;
    assert_eq!(open.status, 200);
    s.stop().await;
}

#[tokio::test]
async fn credentials_rotate_while_serving() {
    let counter = Counter::default();
    let s = server(&counter).await;
    s.server
        .set_security(SecurityDef::api_key(
            "billing.key",
            "X-Billing-Key",
            "next-key",
        ))
        .unwrap();
    let old = s
        .client
        .get(s.url("/key"))
        .header("x-billing-key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 401);
    let new = s
        .client
        .get(s.url("/key"))
        .header("x-billing-key", "next-key")
        .send()
        .await
        .unwrap();
    assert_eq!(new.status(), 200);

    // A definition still in use cannot be removed; once its channel is secured otherwise, it can.
    let err = s.server.remove_security("billing.key").unwrap_err();
    assert!(err.to_string().contains("billing.key"), "{err}");
    let mut open_key = s.server.channel("key").unwrap();
    open_key.security = None;
    s.server.update_channel(open_key).unwrap();
    s.server.remove_security("billing.key").unwrap();
    let no_key = s.get("/key").await;
    assert_eq!(no_key.status, 200);
    s.stop().await;
}

#[tokio::test]
async fn secrets_never_show_in_debug_errors_or_listings() {
    let counter = Counter::default();
    let s = server(&counter).await;
    let config = s.server.config();
    let mut shown = vec![
        format!("{:?}", s.server),
        format!("{config:?}"),
        serde_json::to_string(&config.security).unwrap(),
    ];
    let bad = zato_channels::HttpConfig::new(
        vec![HttpChannelConfig::new("x", "/x", "s").with_security("nobody")],
        vec![
            SecurityDef::api_key("bad", "bad header", KEY),
            SecurityDef::basic_auth("b", "u:x", PASSWORD),
        ],
    );
    let err = s.server.apply_config(bad).unwrap_err();
    shown.push(err.to_string());
    shown.push(format!("{err:?}"));
    let r = Reply::from(
        s.client
            .get(s.url("/basic"))
            .basic_auth("crm", Some("wrong"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    shown.push(format!("{r:?}"));
    for text in shown {
        assert!(!text.contains(PASSWORD) && !text.contains(KEY), "{text}");
    }
    s.stop().await;
}

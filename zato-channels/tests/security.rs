//! Basic Auth and API keys: the right caller gets in, any other gets a 401 and the service
//! never runs; credentials rotate while serving; secrets never show.
#![cfg(feature = "http")]
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] functions; a test fails loudly on what it did not expect"
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
            ip_allow: vec![],
            ip_deny: vec![],
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

/// What `demo.debug_http` answers.
#[derive(zato_macros::SimpleIo, Debug)]
#[sio(crate = "zato_core")]
pub struct Shown {
    /// `format!("{:?}", req.http())`.
    pub debug: String,
}

/// Answers with the Debug output of the request's HTTP side, as a careless service might log it.
#[zato_macros::service(name = "demo.debug_http", crate = "zato_core")]
pub async fn debug_http(req: zato_core::Request<()>) -> Result<Shown, zato_core::ServiceError> {
    Ok(Shown {
        debug: format!("{:?}", zato_channels::HttpRequestExt::http(&req)),
    })
}

#[tokio::test]
async fn credentials_never_show_in_a_services_debug_output() {
    let platform = platform();
    platform.services().deploy(debug_http).unwrap();
    let channels = vec![
        HttpChannelConfig::new("basic", "/basic", "demo.debug_http").with_security("crm.basic"),
        HttpChannelConfig::new("key", "/key", "demo.debug_http").with_security("billing.key"),
    ];
    let security = vec![
        SecurityDef::basic_auth("crm.basic", "crm", PASSWORD),
        SecurityDef::api_key("billing.key", "X-Billing-Key", KEY),
    ];
    let s = TestServer::start(platform, channels, security).await;
    let basic = Reply::from(
        s.client
            .get(s.url("/basic"))
            .basic_auth("crm", Some(PASSWORD))
            .header("proxy-authorization", "Basic cHJveHk6cHJveHktc2VjcmV0")
            .header("cookie", "session=c00kie-s3cret")
            .header("x-trace", "visible")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(basic.status, 200, "{basic:?}");
    let shown = basic.json()["debug"].as_str().unwrap().to_owned();
    let base64 = "Y3JtOlN1cDNyLXMzY3JldC1wYTU1"; // crm:Sup3r-s3cret-pa55
    for secret in [
        base64,
        PASSWORD,
        "cHJveHk6cHJveHktc2VjcmV0",
        "c00kie-s3cret",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("authorization"), "{shown}");
    assert!(shown.contains("Sensitive"), "{shown}");
    assert!(
        shown.contains("visible"),
        "other headers still show: {shown}"
    );

    let key = Reply::from(
        s.client
            .get(s.url("/key"))
            .header("x-billing-key", KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(key.status, 200, "{key:?}");
    let shown = key.json()["debug"].as_str().unwrap().to_owned();
    assert!(!shown.contains(KEY), "{shown}");
    assert!(shown.contains("x-billing-key"), "{shown}");
    s.stop().await;
}

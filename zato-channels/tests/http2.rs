//! HTTP/2 on the same listener as HTTP/1.1, with the `http2` feature.
#![cfg(feature = "http2")]

mod support;

use support::*;
use zato_channels::HttpChannelConfig;

#[tokio::test]
async fn http2_and_http11_share_the_listener() {
    let channels = vec![HttpChannelConfig::new(
        "json",
        "/invoice.dispatcher",
        "invoice.dispatcher",
    )];
    let s = TestServer::start(platform(), channels, vec![]).await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let resp = h2
        .post(s.url("/invoice.dispatcher?target=CRM&target=Billing"))
        .body(r#"{"id":"123"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let r = Reply::from(resp).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["stored"], serde_json::json!(["CRM", "Billing"]));
    r.cid();

    let h1 = s.get("/invoice.dispatcher?target=CRM").await;
    assert_eq!(h1.status, 200);
    s.stop().await;
}

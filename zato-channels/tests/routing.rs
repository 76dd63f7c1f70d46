//! Path parameters, most-specific routing, and Zato's priority rules for parameters.
#![cfg(feature = "http")]
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] functions; a test fails loudly on what it did not expect"
)]

mod support;

use support::*;
use zato_channels::HttpChannelConfig;
use zato_core::sio::{ParamsPri, ParamsPriority, UrlParamsPri};

fn rules(merge: bool, params_pri: ParamsPri, url_params_pri: UrlParamsPri) -> ParamsPriority {
    ParamsPriority {
        merge_url_params_req: merge,
        params_pri,
        url_params_pri,
    }
}

async fn server() -> TestServer {
    use ParamsPri::*;
    use UrlParamsPri::*;
    let channels =
        vec![
            HttpChannelConfig::new("default", "/default/{id}", "demo.lookup"),
            HttpChannelConfig::new("path-over-qs", "/pq/{id}", "demo.lookup").with_params(rules(
                true,
                ChannelParamsOverMsg,
                PathOverQs,
            )),
            HttpChannelConfig::new("msg-over-params", "/msg/{id}", "demo.lookup")
                .with_params(rules(true, MsgOverChannelParams, QsOverPath)),
            HttpChannelConfig::new("no-merge", "/nomerge/{id}", "demo.lookup").with_params(rules(
                false,
                ChannelParamsOverMsg,
                QsOverPath,
            )),
            HttpChannelConfig::new("items.by-id", "/items/{id}", "demo.lookup"),
            HttpChannelConfig::new("items.special", "/items/special", "demo.lookup"),
            HttpChannelConfig::new("items.detail", "/items/{id}/detail", "demo.lookup"),
        ];
    TestServer::start(platform(), channels, vec![]).await
}

async fn id_and_channel(s: &TestServer, method: &str, path: &str, body: &str) -> (String, String) {
    let req = match method {
        "GET" => s.client.get(s.url(path)),
        _ => s
            .client
            .post(s.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned()),
    };
    let r = Reply::from(req.send().await.unwrap()).await;
    assert_eq!(r.status, 200, "{method} {path}: {r:?}");
    let v = r.json();
    (
        v["id"].as_str().unwrap().to_owned(),
        v["channel"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn path_params_are_input_and_percent_decoded() {
    let s = server().await;
    assert_eq!(id_and_channel(&s, "GET", "/default/123", "").await.0, "123");
    assert_eq!(
        id_and_channel(&s, "GET", "/default/a%20b%2Fc", "").await.0,
        "a b/c"
    );
    s.stop().await;
}

#[tokio::test]
async fn static_segments_beat_params() {
    let s = server().await;
    assert_eq!(
        id_and_channel(&s, "GET", "/items/special?id=7", "").await,
        ("7".into(), "items.special".into())
    );
    assert_eq!(
        id_and_channel(&s, "GET", "/items/8", "").await,
        ("8".into(), "items.by-id".into())
    );
    assert_eq!(
        id_and_channel(&s, "GET", "/items/special/detail", "").await,
        ("special".into(), "items.detail".into())
    );
    s.stop().await;
}

#[tokio::test]
async fn query_string_over_path_by_default_and_path_over_query_when_configured() {
    let s = server().await;
    assert_eq!(
        id_and_channel(&s, "GET", "/default/path?id=qs", "").await.0,
        "qs"
    );
    assert_eq!(
        id_and_channel(&s, "GET", "/pq/path?id=qs", "").await.0,
        "path"
    );
    s.stop().await;
}

#[tokio::test]
async fn channel_params_over_body_by_default_and_body_over_params_when_configured() {
    let s = server().await;
    let body = r#"{"id": "body"}"#;
    assert_eq!(
        id_and_channel(&s, "POST", "/default/path", body).await.0,
        "path"
    );
    assert_eq!(
        id_and_channel(&s, "POST", "/msg/path", body).await.0,
        "body"
    );
    assert_eq!(id_and_channel(&s, "POST", "/msg/path", "").await.0, "path");
    s.stop().await;
}

#[tokio::test]
async fn without_merge_url_params_only_the_body_counts() {
    let s = server().await;
    assert_eq!(
        id_and_channel(&s, "POST", "/nomerge/path?id=qs", r#"{"id": "body"}"#)
            .await
            .0,
        "body"
    );
    let r = s.get("/nomerge/path?id=qs").await;
    let v = r.assert_json_error(400, "invalid_input");
    assert_eq!(v["elements"][0]["name"], "id");
    s.stop().await;
}

#[tokio::test]
async fn a_405_allows_every_method_that_works_on_the_path() {
    let channels = vec![
        HttpChannelConfig::new("b", "/a/b", "demo.lookup").with_methods(["GET"]),
        HttpChannelConfig::new("x", "/a/{id}", "demo.lookup").with_methods(["POST"]),
    ];
    let s = TestServer::start(platform(), channels, vec![]).await;
    let r = Reply::from(s.client.delete(s.url("/a/b")).send().await.unwrap()).await;
    r.assert_json_error(405, "method_not_allowed");
    assert_eq!(r.header("allow"), "GET, POST, HEAD");
    // Every method the header names is answered.
    let post = s.post("/a/b", "application/json", "{}").await;
    assert_eq!(post.status, 200, "{post:?}");
    assert_eq!(post.json()["channel"], "x");
    assert_eq!(s.get("/a/b?id=1").await.status, 200);
    s.stop().await;
}

#[tokio::test]
async fn a_static_path_matches_with_escaped_unreserved_characters() {
    let channels = vec![HttpChannelConfig::new(
        "json",
        "/invoice.dispatcher",
        "invoice.dispatcher",
    )];
    let s = TestServer::start(platform(), channels, vec![]).await;
    let r = s.get("/invoice%2Edispatcher?target=CRM").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["stored"][0], "CRM");
    // An escaped slash is not a separator.
    assert_eq!(s.get("/invoice%2Fdispatcher").await.status, 404);
    s.stop().await;
}

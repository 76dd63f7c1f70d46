//! Every status the HTTP channel answers with, each with `X-Zato-CID`.
#![cfg(feature = "http")]

mod support;

use std::time::Duration;

use support::*;
use zato_channels::HttpChannelConfig;
use zato_core::DataFormat;

async fn server() -> TestServer {
    let channels = vec![
        HttpChannelConfig::new("lookup", "/lookup/{id}", "demo.lookup")
            .with_methods(["GET", "POST"]),
        HttpChannelConfig::new("create", "/create/{id}", "demo.create").with_methods(["POST"]),
        HttpChannelConfig::new("empty", "/empty", "demo.empty"),
        HttpChannelConfig::new("small", "/small", "invoice.dispatcher").with_max_body_size(16),
        HttpChannelConfig::new("small.xml", "/small.xml", "invoice.dispatcher")
            .with_max_body_size(16)
            .with_data_format(DataFormat::Xml),
        HttpChannelConfig::new("forever", "/forever", "demo.forever")
            .with_timeout(Duration::from_millis(50)),
        HttpChannelConfig::new("forever.soap", "/soap/forever", "demo.forever")
            .with_timeout(Duration::from_millis(50))
            .with_data_format(DataFormat::Soap),
        HttpChannelConfig::new("off", "/off", "demo.empty").with_active(false),
        HttpChannelConfig::new("swift.down", "/swift/down", "demo.swift.down"),
        HttpChannelConfig::new("swift.slow", "/swift/slow", "demo.swift.slow"),
        HttpChannelConfig::new("swift.refused", "/swift/refused", "demo.swift.refused"),
        HttpChannelConfig::new("missing", "/missing", "demo.not.deployed"),
        HttpChannelConfig::new("fail", "/fail", "demo.fail"),
        HttpChannelConfig::new("soap.post", "/soap/post", "demo.empty")
            .with_methods(["POST"])
            .with_data_format(DataFormat::Soap),
    ];
    TestServer::start(platform(), channels, vec![]).await
}

#[tokio::test]
async fn the_service_status_200_201_204() {
    let s = server().await;
    let ok = s.get("/lookup/42").await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.json()["id"], "42");
    ok.cid();

    let created = s.post("/create/43", "application/json", "").await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.json()["channel"], "create");
    created.cid();

    let no_content = s.get("/empty").await;
    assert_eq!(no_content.status, 204, "{no_content:?}");
    assert!(no_content.body.is_empty());
    no_content.cid();
    s.stop().await;
}

#[tokio::test]
async fn unknown_path_is_a_rendered_404() {
    let s = server().await;
    let r = s.get("/no/such/path?x=1").await;
    let v = r.assert_json_error(404, "not_found");
    assert!(
        v["message"].as_str().unwrap().contains("/no/such/path"),
        "{}",
        r.body
    );
    // Every response has its own cid.
    assert_ne!(s.get("/no/such/path").await.cid(), r.cid());
    s.stop().await;
}

#[tokio::test]
async fn wrong_method_is_a_405_with_allow() {
    let s = server().await;
    let r = Reply::from(s.client.delete(s.url("/lookup/1")).send().await.unwrap()).await;
    r.assert_json_error(405, "method_not_allowed");
    assert_eq!(r.header("allow"), "GET, POST, HEAD");

    // HEAD goes where GET goes, without a body.
    let head = Reply::from(s.client.head(s.url("/lookup/1")).send().await.unwrap()).await;
    assert_eq!(head.status, 200, "{head:?}");
    assert!(head.body.is_empty());
    head.cid();

    // On a SOAP channel, as a SOAP Fault.
    let soap = Reply::from(s.client.get(s.url("/soap/post")).send().await.unwrap()).await;
    assert_eq!(soap.status, 405);
    assert_eq!(soap.header("allow"), "POST");
    assert!(
        soap.body.contains("<faultcode>soapenv:Client</faultcode>"),
        "{}",
        soap.body
    );
    assert!(soap.body.contains(soap.cid()), "{}", soap.body);
    s.stop().await;
}

#[tokio::test]
async fn too_large_by_content_length_is_a_413_in_the_channel_format() {
    let s = server().await;
    let body = r#"{"target": ["a very long target name"]}"#;
    let r = s.post("/small", "application/json", body).await;
    r.assert_json_error(413, "payload_too_large");

    let x = s
        .post(
            "/small.xml",
            "application/xml",
            "<request><target>CRM</target></request>",
        )
        .await;
    assert_eq!(x.status, 413);
    assert!(
        x.body.contains("<error>") && x.body.contains(x.cid()),
        "{}",
        x.body
    );

    let fits = s.post("/small?target=a", "application/json", "{}").await;
    assert_eq!(fits.status, 200, "{fits:?}");
    s.stop().await;
}

#[tokio::test]
async fn too_large_while_streaming_is_a_413() {
    let s = server().await;
    let mut conn = RawConn::connect(s.server.local_addr()).await.unwrap();
    // Chunked: no Content-Length to refuse up front, so the limit applies while reading.
    let body = format!(r#"{{"target": ["{}"]}}"#, "a".repeat(30));
    let mut req = String::from(
        "POST /small HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\n\r\n",
    );
    for chunk in body.as_bytes().chunks(10) {
        let chunk = std::str::from_utf8(chunk).unwrap();
        req.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    req.push_str("0\r\n\r\n");
    conn.send(req.as_bytes()).await;
    let (status, headers, body) = conn.read_response().await.unwrap();
    assert_eq!(status, 413, "{body}");
    assert!(
        headers.iter().any(|h| h.starts_with("x-zato-cid:")),
        "{headers:?}"
    );
    assert!(body.contains("payload_too_large"), "{body}");
    drop(conn);
    s.stop().await;
}

#[tokio::test]
async fn a_service_over_its_timeout_is_a_504() {
    let s = server().await;
    let r = s.get("/forever").await;
    r.assert_json_error(504, "timeout");

    let soap = s.post("/soap/forever", "application/soap+xml", "").await;
    assert_eq!(soap.status, 504);
    assert!(soap.body.contains("soapenv:Receiver"), "{}", soap.body);
    assert!(soap.body.contains(soap.cid()), "{}", soap.body);
    s.stop().await;
}

#[tokio::test]
async fn an_inactive_channel_is_a_503() {
    let s = server().await;
    let r = s.get("/off").await;
    let v = r.assert_json_error(503, "unavailable");
    assert!(v["message"].as_str().unwrap().contains("off"), "{}", r.body);
    s.stop().await;
}

#[tokio::test]
async fn outgoing_failures_are_5xx_naming_the_connection() {
    let s = server().await;
    for (path, status) in [
        ("/swift/refused", 502),
        ("/swift/down", 503),
        ("/swift/slow", 504),
    ] {
        let r = s.get(path).await;
        let v = r.assert_json_error(status, "outgoing_connection_failed");
        assert_eq!(v["connection"], "Invoice Swift", "{}", r.body);
    }
    s.stop().await;
}

#[tokio::test]
async fn a_channel_to_a_service_not_deployed_is_a_404() {
    let s = server().await;
    let r = s.get("/missing").await;
    let v = r.assert_json_error(404, "not_found");
    assert!(
        v["message"].as_str().unwrap().contains("demo.not.deployed"),
        "{}",
        r.body
    );
    s.stop().await;
}

#[tokio::test]
async fn a_failing_service_is_a_500_that_keeps_its_cause_to_the_logs() {
    let s = server().await;
    let r = s.get("/fail").await;
    let v = r.assert_json_error(500, "internal_error");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("could not file the invoice"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("/var/secret/path"), "{}", r.body);
    s.stop().await;
}

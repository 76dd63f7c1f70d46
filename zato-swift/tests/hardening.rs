//! Names a URL would rewrite, empty objects and error bodies: what reaches Swift, and what an
//! error says, against wiremock and the local endpoint.

mod support;

use std::time::Duration;

use support::{ACCOUNT, setup};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};
use zato_swift::local::{LocalSwift, LocalSwiftConfig};
use zato_swift::{Metadata, PutOptions, SwiftConfig, SwiftConnection, SwiftErrorKind};

#[tokio::test]
async fn dot_names_are_refused_before_any_request() {
    let (server, client) = setup().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    let opts = PutOptions::default();
    for container in [".", "..", "", "a/b", "CRM\r\nX-Injected: 1", ".\t."] {
        let err = client
            .put_object(container, "Invoice", &b"{}"[..], &opts)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err.kind(),
                SwiftErrorKind::InvalidName {
                    kind: "container",
                    ..
                }
            ),
            "{container:?}: {err}"
        );
        assert!(!err.to_string().contains('\n'), "{err}");
        let err = client
            .create_container(container, &Metadata::new())
            .await
            .unwrap_err();
        assert!(
            matches!(err.kind(), SwiftErrorKind::InvalidName { .. }),
            "{err}"
        );
    }
    for object in ["..", ".", "a/../b", "./x", "a\nb"] {
        let err = client
            .put_object("CRM", object, &b"{}"[..], &opts)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err.kind(),
                SwiftErrorKind::InvalidName { kind: "object", .. }
            ),
            "{object:?}: {err}"
        );
    }
    let err = client.put_object("..", "Invoice", &b"{}"[..], &opts).await;
    assert_eq!(
        err.unwrap_err().to_string(),
        r#"invalid container name "..": must not be `.` or `..`"#
    );
    let sent = server.received_requests().await.unwrap();
    assert!(
        sent.iter().all(|r| r.method.as_str() != "PUT"),
        "nothing may be sent for a refused name: {:?}",
        sent.iter().map(|r| r.url.path()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn names_go_into_the_url_as_encoded_segments() {
    let (server, client) = setup().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    let opts = PutOptions::default();
    for (container, object) in [
        ("...", "Invoice"),
        ("%2e%2e", "Invoice"),
        ("a?b#c", "x/y z"),
        ("CRM", "2024//..x/"),
    ] {
        client
            .put_object(container, object, &b"{}"[..], &opts)
            .await
            .unwrap();
    }
    let paths: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "PUT")
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(
        paths,
        [
            format!("{ACCOUNT}/.../Invoice"),
            format!("{ACCOUNT}/%252e%252e/Invoice"),
            format!("{ACCOUNT}/a%3Fb%23c/x/y%20z"),
            format!("{ACCOUNT}/CRM/2024//..x/"),
        ]
    );
}

#[tokio::test]
async fn an_empty_object_is_sent_with_content_length_zero() {
    let (server, client) = setup().await;
    Mock::given(method("PUT"))
        .and(path(format!("{ACCOUNT}/CRM/Invoice")))
        .respond_with(
            // The MD5 of nothing, as Swift answers it.
            ResponseTemplate::new(201).insert_header("etag", "d41d8cd98f00b204e9800998ecf8427e"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let md5 = client
        .put_object(
            "CRM",
            "Invoice",
            bytes::Bytes::new(),
            &PutOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(md5, "d41d8cd98f00b204e9800998ecf8427e");
    let sent = server.received_requests().await.unwrap();
    let put = sent.iter().find(|r| r.method.as_str() == "PUT").unwrap();
    assert_eq!(
        put.headers
            .get("content-length")
            .map(|v| v.to_str().unwrap()),
        Some("0")
    );
    assert!(put.headers.get("transfer-encoding").is_none());
    assert!(put.body.is_empty());
}

#[tokio::test]
async fn the_local_endpoint_stores_an_empty_object_and_refuses_a_put_without_a_length() {
    let local = LocalSwift::start(LocalSwiftConfig::default())
        .await
        .unwrap();
    let config = SwiftConfig::v1("local", local.auth_url(), local.user(), local.key());
    let conn = SwiftConnection::new(config).unwrap();
    let client = conn.client().await.unwrap();
    client
        .create_container("CRM", &Metadata::new())
        .await
        .unwrap();
    client
        .put_object(
            "CRM",
            "Invoice",
            bytes::Bytes::new(),
            &PutOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(local.object("CRM", "Invoice").as_deref(), Some(&b""[..]));

    // A raw PUT with neither Content-Length nor Transfer-Encoding is a 411, as on Swift.
    let auth = reqwest::Client::new()
        .get(local.auth_url())
        .header("x-auth-user", local.user())
        .header("x-auth-key", local.key())
        .send()
        .await
        .unwrap();
    let token = auth.headers()["x-auth-token"].to_str().unwrap().to_owned();
    let mut tcp = tokio::net::TcpStream::connect(local.addr()).await.unwrap();
    let request = format!(
        "PUT /v1/AUTH_test/CRM/Other HTTP/1.1\r\nHost: {}\r\nX-Auth-Token: {token}\r\n\
         Connection: close\r\n\r\n",
        local.addr()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(20), tcp.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 411"), "{answer}");
    assert!(local.object("CRM", "Other").is_none());
    drop(client);
    local.shutdown().await;
}

#[tokio::test]
async fn an_html_error_page_becomes_a_short_plain_text_excerpt() {
    let (server, client) = setup().await;
    let page = format!(
        "<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title>\
         <script>var secret = 1;</script></head>\r\n<body><h1>Internal Server Error</h1>\n\
         <p>The proxy could not reach the object servers.</p>{}</body></html>",
        "<p>detail line</p>\n".repeat(200)
    );
    Mock::given(method("PUT"))
        .respond_with(
            ResponseTemplate::new(500)
                .insert_header("content-type", "text/html; charset=UTF-8")
                .set_body_string(page),
        )
        .mount(&server)
        .await;
    let client = {
        let mut config = client.config().clone();
        config.retries = 0;
        zato_swift::SwiftClient::new(config).unwrap()
    };
    let err = client
        .put_object("CRM", "Invoice", &b"{}"[..], &PutOptions::default())
        .await
        .unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.starts_with(
            "swift answered 500 Internal Server Error to PUT object CRM/Invoice: \
             500 Internal Server Error Internal Server Error The proxy could not reach the \
             object servers. detail line detail line"
        ),
        "{shown}"
    );
    assert!(shown.ends_with('…'), "{shown}");
    assert!(!shown.contains('<') && !shown.contains('\n') && !shown.contains('\r'));
    assert!(!shown.contains("secret"), "{shown}");
    let SwiftErrorKind::Http { excerpt, .. } = err.kind() else {
        panic!("{err:?}");
    };
    assert!(excerpt.chars().count() <= 201, "{excerpt}");
}

//! Each outbound security type, with the exact request the remote system receives; OAuth 2's
//! cache, expiry, single-flight refresh and refresh on a 401; the check refusing what does not
//! fit.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::time::Duration;

use serde_json::json;
use support::Node;
use wiremock::matchers::{body_string, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use zato_core::config::Section;

async fn api() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/invoices/7"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "7"})))
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_apikey_and_bearer_send_exactly_their_header() {
    let node = Node::new().await;
    node.security(
        json!({"type": "basic_auth", "name": "b", "username": "crm", "password": "s3cret"}),
    )
    .await;
    node.security(json!({"type": "apikey", "name": "k", "header": "X-Partner-Key", "key": "k3y"}))
        .await;
    node.security(json!({"type": "bearer_token", "name": "t", "token": "t0ken"}))
        .await;
    let cases = [
        ("b", "authorization", "Basic Y3JtOnMzY3JldA=="),
        ("k", "x-partner-key", "k3y"),
        ("t", "authorization", "Bearer t0ken"),
    ];
    for (def, name, value) in cases {
        let server = api().await;
        let conn = node
            .http(
                json!({"name": format!("CRM {def}"), "address": format!("{}/api", server.uri()),
                         "security": def, "headers": {"X-Tenant": "acme"}}),
            )
            .await;
        let reply = conn
            .get("/invoices/{id}")
            .param("id", 7)
            .query("full", "yes")
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        let got = server.received_requests().await.unwrap();
        assert_eq!(got.len(), 1, "{def}");
        let r = &got[0];
        assert_eq!(r.method.as_str(), "GET");
        assert_eq!(r.url.path(), "/api/invoices/7");
        assert_eq!(r.url.query(), Some("full=yes"));
        assert_eq!(
            r.headers.get(name).unwrap().to_str().unwrap(),
            value,
            "{def}"
        );
        assert_eq!(r.headers.get("x-tenant").unwrap(), "acme");
        // One credential only: no other authorization header of another type.
        if name != "authorization" {
            assert!(r.headers.get("authorization").is_none());
        }
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_edit_takes_effect_on_the_next_call() {
    let node = Node::new().await;
    let server = MockServer::start().await;
    node.security(json!({"type": "bearer_token", "name": "t", "token": "one"}))
        .await;
    let conn = node
        .http(json!({"name": "CRM", "address": server.uri(), "security": "t"}))
        .await;
    conn.get("/").await.unwrap();
    node.patch(Section::Security, "", "t", json!({"token": "two"}))
        .await
        .unwrap();
    conn.get("/").await.unwrap();
    let got = server.received_requests().await.unwrap();
    let auth: Vec<_> = got
        .iter()
        .map(|r| r.headers["authorization"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(auth, ["Bearer one", "Bearer two"]);
    node.shutdown().await;
}

async fn token_endpoint(server: &MockServer, token: &str, expires_in: u64, times: u64) {
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(header("authorization", "Basic emF0bzpjbGllbnQtczNjcmV0"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string("grant_type=client_credentials&scope=invoices.read+invoices.write"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": token, "token_type": "Bearer", "expires_in": expires_in}))
                .set_delay(Duration::from_millis(200)),
        )
        .up_to_n_times(times)
        .mount(server)
        .await;
}

async fn api_taking(server: &MockServer, token: &str) {
    Mock::given(method("GET"))
        .and(path("/api/x"))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(server)
        .await;
}

fn requests_to(got: &[wiremock::Request], p: &str) -> usize {
    got.iter().filter(|r| r.url.path() == p).count()
}

async fn oauth_node(
    server: &MockServer,
    refresh_before: f64,
) -> (Node, std::sync::Arc<zato_rest::HttpConnection>) {
    let node = Node::new().await;
    node.security(json!({
        "type": "oauth2_client_credentials", "name": "crm-oauth",
        "token_url": format!("{}/oauth/token", server.uri()),
        "client_id": "zato", "client_secret": "client-s3cret",
        "scopes": ["invoices.read", "invoices.write"], "refresh_before": refresh_before
    }))
    .await;
    let conn = node
        .http(json!({"name": "CRM", "address": format!("{}/api", server.uri()), "security": "crm-oauth", "pool_size": 200}))
        .await;
    (node, conn)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_token_is_fetched_once_cached_and_sent() {
    let server = MockServer::start().await;
    token_endpoint(&server, "tok-1", 3600, 10).await;
    api_taking(&server, "tok-1").await;
    let (node, conn) = oauth_node(&server, 30.0).await;
    for _ in 0..3 {
        assert_eq!(conn.get("/x").await.unwrap().status(), 200);
    }
    let got = server.received_requests().await.unwrap();
    assert_eq!(requests_to(&got, "/oauth/token"), 1);
    assert_eq!(requests_to(&got, "/api/x"), 3);
    assert_eq!(conn.stats().token_refreshes, 1);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_oauth2_token_is_refreshed_before_it_expires() {
    let server = MockServer::start().await;
    // Lives 2 s, refreshed 1 s before: fresh for 1 s.
    token_endpoint(&server, "tok-1", 2, 1).await;
    token_endpoint(&server, "tok-2", 3600, 1).await;
    api_taking(&server, "tok-1").await;
    api_taking(&server, "tok-2").await;
    let (node, conn) = oauth_node(&server, 1.0).await;
    conn.get("/x").await.unwrap().error_for_status().unwrap();
    conn.get("/x").await.unwrap().error_for_status().unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    conn.get("/x").await.unwrap().error_for_status().unwrap();
    let got = server.received_requests().await.unwrap();
    assert_eq!(requests_to(&got, "/oauth/token"), 2);
    let sent: Vec<_> = got
        .iter()
        .filter(|r| r.url.path() == "/api/x")
        .map(|r| r.headers["authorization"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(sent, ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_calls_on_no_token_make_one_token_request() {
    let server = MockServer::start().await;
    token_endpoint(&server, "tok-1", 3600, 1000).await;
    api_taking(&server, "tok-1").await;
    let (node, conn) = oauth_node(&server, 30.0).await;
    let calls: Vec<_> = (0..100)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move { conn.get("/x").await.map(|r| r.status().as_u16()) })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap().unwrap(), 200);
    }
    let got = server.received_requests().await.unwrap();
    assert_eq!(requests_to(&got, "/oauth/token"), 1);
    assert_eq!(requests_to(&got, "/api/x"), 100);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_refreshes_the_token_once_and_retries_once_even_a_post() {
    let server = MockServer::start().await;
    token_endpoint(&server, "revoked", 3600, 1).await;
    token_endpoint(&server, "tok-2", 3600, 1).await;
    Mock::given(method("POST"))
        .and(path("/api/invoices"))
        .and(header("authorization", "Bearer revoked"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/invoices"))
        .and(header("authorization", "Bearer tok-2"))
        .and(body_string(r#"{"id":"9"}"#))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    let (node, conn) = oauth_node(&server, 30.0).await;
    let reply = conn.post("/invoices", &json!({"id": "9"})).await.unwrap();
    assert_eq!(reply.status(), 201);
    let got = server.received_requests().await.unwrap();
    assert_eq!(requests_to(&got, "/oauth/token"), 2);
    assert_eq!(requests_to(&got, "/api/invoices"), 2);

    // A token the API keeps refusing: one refresh, one retry, then the 401 reaches the caller.
    server.reset().await;
    token_endpoint(&server, "revoked", 3600, 10).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    let reply = conn.post("/invoices", &json!({"id": "9"})).await.unwrap();
    assert_eq!(reply.status(), 401);
    let err = reply.error_for_status().unwrap_err();
    assert_eq!(err.status(), 502);
    let got = server.received_requests().await.unwrap();
    assert_eq!(requests_to(&got, "/api/invoices"), 2);
    assert_eq!(requests_to(&got, "/oauth/token"), 1);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_endpoint_refusing_is_a_502_without_the_secret() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_client"})))
        .mount(&server)
        .await;
    let (node, conn) = oauth_node(&server, 30.0).await;
    let err = conn.get("/x").await.unwrap_err();
    assert_eq!(err.status(), 502);
    let text = err.to_string();
    assert!(
        text.contains("`CRM`") && text.contains("invalid_client"),
        "{text}"
    );
    assert!(!text.contains("client-s3cret"), "{text}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_refuses_a_missing_definition_and_a_channel_naming_an_outbound_type() {
    let node = Node::new().await;
    let err = node
        .put(
            Section::Outgoing,
            "http",
            json!({"name": "CRM", "address": "http://127.0.0.1:1", "security": "nobody"}),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("security") && err.contains("nobody"), "{err}");

    node.security(json!({"type": "bearer_token", "name": "t", "token": "x"}))
        .await;
    let err = node
        .put(
            Section::Channels,
            "http",
            json!({"name": "in", "url_path": "/in", "service": "s", "security": "t"}),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bearer_token") && err.contains("only outgoing"),
        "{err}"
    );

    // Secrets are write-only: a read shows the placeholder.
    let (stored, _) = node
        .runtime
        .get(&support::key(Section::Security, "", "t"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored["token"], zato_core::config::SECRET_PLACEHOLDER);
    node.shutdown().await;
}

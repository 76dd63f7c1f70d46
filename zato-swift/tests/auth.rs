//! Each auth version against wiremock: v1.0, Keystone v2.0 (password and API key), Keystone v3
//! with a catalog of several regions and interfaces, pre-authenticated tokens, expiry.

mod support;

use serde_json::json;
use support::{ACCOUNT, KEY, TOKEN, USER, count, v1_server};
use wiremock::matchers::{body_json, body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use zato_swift::{AuthVersion, SwiftConfig, SwiftConnection, SwiftErrorKind};

async fn mount_account_head(server: &MockServer, account_path: &str, token: &str) {
    Mock::given(method("HEAD"))
        .and(path(account_path))
        .and(header("x-auth-token", token))
        .respond_with(ResponseTemplate::new(204).insert_header("x-account-container-count", "7"))
        .mount(server)
        .await;
}

#[tokio::test]
async fn v1_sends_user_and_key_and_uses_the_storage_url_and_token() {
    let (server, config) = v1_server().await;
    mount_account_head(&server, ACCOUNT, TOKEN).await;
    let conn = SwiftConnection::new(config).unwrap();
    let client = conn.client().await.unwrap();
    assert_eq!(client.head_account().await.unwrap().container_count, 7);
    assert_eq!(client.head_account().await.unwrap().container_count, 7);
    assert_eq!(count(&server, "/auth/v1.0").await, 1, "the token is cached");
    let auth = &server.received_requests().await.unwrap()[0];
    assert_eq!(auth.headers.get("x-auth-user").unwrap(), USER);
    assert_eq!(auth.headers.get("x-auth-key").unwrap(), KEY);
}

#[tokio::test]
async fn v1_refused_credentials_are_auth_failed_without_the_key() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/auth/v1.0"))
        .respond_with(ResponseTemplate::new(401).set_body_string(format!("bad key {KEY}")))
        .mount(&server)
        .await;
    let conn = SwiftConnection::new(support::v1_config(&server)).unwrap();
    let err = conn.client().await.unwrap_err();
    assert!(
        matches!(err.kind(), SwiftErrorKind::AuthFailed { .. }),
        "{err}"
    );
    assert!(!format!("{err} {err:?}").contains("SECRET"), "{err:?}");
}

fn v2_body(server: &MockServer, region_urls: &[(&str, &str)]) -> serde_json::Value {
    let endpoints: Vec<_> = region_urls
        .iter()
        .map(|(r, acc)| {
            json!({"region": r,
                   "publicURL": format!("{}/{r}/pub/{acc}", server.uri()),
                   "internalURL": format!("{}/{r}/int/{acc}", server.uri())})
        })
        .collect();
    json!({"access": {
        "token": {"id": TOKEN, "expires": "2099-01-01T00:00:00Z"},
        "serviceCatalog": [
            {"type": "compute", "name": "nova", "endpoints": [{"region": "DFW", "publicURL": "http://nova"}]},
            {"type": "object-store", "name": "cloudFiles", "endpoints": endpoints}
        ]
    }})
}

#[tokio::test]
async fn v2_password_with_tenant_picks_region_endpoint() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2.0/tokens"))
        .and(body_partial_json(json!({"auth": {
            "passwordCredentials": {"username": "alice", "password": KEY},
            "tenantName": "acme"
        }})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(v2_body(&server, &[("DFW", "AUTH_1"), ("ORD", "AUTH_1")])),
        )
        .expect(1)
        .mount(&server)
        .await;
    mount_account_head(&server, "/ORD/pub/AUTH_1", TOKEN).await;
    let config = SwiftConfig {
        auth_version: AuthVersion::V2,
        auth_url: Some(format!("{}/v2.0", server.uri())),
        user: Some("alice".into()),
        key: Some(KEY.into()),
        tenant_name: Some("acme".into()),
        region: Some("ORD".into()),
        ..SwiftConfig::default()
    };
    let conn = SwiftConnection::new(SwiftConfig {
        name: "v2".into(),
        ..config
    })
    .unwrap();
    let client = conn.client().await.unwrap();
    assert_eq!(client.head_account().await.unwrap().container_count, 7);
    assert_eq!(
        client.storage_url().await.unwrap(),
        format!("{}/ORD/pub/AUTH_1", server.uri())
    );
}

#[tokio::test]
async fn v2_rackspace_api_key_and_snet_use_internal_url() {
    let server = MockServer::start().await;
    // The whole body, exactly: API-key credentials and no password credentials beside them.
    Mock::given(method("POST"))
        .and(path("/v2.0/tokens"))
        .and(body_json(json!({"auth": {
            "RAX-KSKEY:apiKeyCredentials": {"username": "bob", "apiKey": KEY}
        }})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(v2_body(&server, &[("DFW", "MossoCloudFS_9")])),
        )
        .expect(1)
        .mount(&server)
        .await;
    mount_account_head(&server, "/DFW/int/MossoCloudFS_9", TOKEN).await;
    let config = SwiftConfig {
        name: "rackspace".into(),
        auth_version: AuthVersion::V2,
        auth_url: Some(format!("{}/v2.0/", server.uri())),
        user: Some("bob".into()),
        key: Some(KEY.into()),
        api_key_auth: true,
        is_snet: true,
        ..SwiftConfig::default()
    };
    let client = SwiftConnection::new(config)
        .unwrap()
        .client()
        .await
        .unwrap();
    assert_eq!(client.head_account().await.unwrap().container_count, 7);
}

#[tokio::test]
async fn a_zato_export_with_api_key_login_and_a_region_in_custom_options() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2.0/tokens"))
        .and(body_json(json!({"auth": {
            "RAX-KSKEY:apiKeyCredentials": {"username": "bob", "apiKey": KEY},
            "tenantName": "acme"
        }})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(v2_body(&server, &[("DFW", "AUTH_1"), ("ORD", "AUTH_1")])),
        )
        .expect(1)
        .mount(&server)
        .await;
    mount_account_head(&server, "/ORD/pub/AUTH_1", TOKEN).await;
    // As Zato exports it, plus the one field of ours that chooses API-key login.
    let config: SwiftConfig = serde_json::from_value(json!({
        "id": 7, "cluster_id": 1, "name": "Cloud Files", "is_active": true,
        "auth_url": format!("{}/v2.0", server.uri()), "auth_version": "2.0",
        "user": "bob", "key": KEY, "tenant_name": "acme", "is_snet": false,
        "retries": 5, "starting_backoff": 1, "max_backoff": 64, "pool_size": 2,
        "should_retr_ratelimit": true, "needs_tls_compr": false, "should_validate_cert": true,
        "custom_options": "region_name=ORD",
        "api_key_auth": true
    }))
    .unwrap();
    let conn = SwiftConnection::new(config).unwrap();
    assert_eq!(conn.config().region.as_deref(), Some("ORD"));
    let client = conn.client().await.unwrap();
    assert_eq!(client.head_account().await.unwrap().container_count, 7);
}

fn v3_catalog(server: &MockServer) -> serde_json::Value {
    let u = server.uri();
    json!({"token": {
        "expires_at": "2099-01-01T00:00:00.000000Z",
        "catalog": [
            {"type": "identity", "endpoints": [{"interface": "public", "region": "RegionTwo", "url": "http://keystone"}]},
            {"type": "object-store", "name": "swift", "endpoints": [
                {"interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": format!("{u}/one/public/AUTH_p")},
                {"interface": "internal", "region": "RegionOne", "region_id": "RegionOne", "url": format!("{u}/one/internal/AUTH_p")},
                {"interface": "admin", "region": "RegionTwo", "region_id": "RegionTwo", "url": format!("{u}/two/admin")},
                {"interface": "public", "region": "RegionTwo", "region_id": "RegionTwo", "url": format!("{u}/two/public/AUTH_p")},
                {"interface": "internal", "region": "RegionTwo", "region_id": "RegionTwo", "url": format!("{u}/two/internal/AUTH_p")}
            ]}
        ]
    }})
}

fn v3_config(server: &MockServer, region: &str, is_snet: bool) -> SwiftConfig {
    SwiftConfig {
        name: "v3".into(),
        auth_version: AuthVersion::V3,
        auth_url: Some(format!("{}/v3", server.uri())),
        user: Some("carol".into()),
        key: Some(KEY.into()),
        user_domain_name: Some("Default".into()),
        project_name: Some("invoices".into()),
        project_domain_id: Some("default".into()),
        region: Some(region.into()),
        is_snet,
        ..SwiftConfig::default()
    }
}

#[tokio::test]
async fn v3_password_project_scope_and_catalog_by_region_and_interface() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v3/auth/tokens"))
        .and(body_partial_json(json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "carol", "password": KEY, "domain": {"name": "Default"}
            }}},
            "scope": {"project": {"name": "invoices", "domain": {"id": "default"}}}
        }})))
        .respond_with(
            ResponseTemplate::new(201)
                .insert_header("x-subject-token", TOKEN)
                .set_body_json(v3_catalog(&server)),
        )
        .expect(3)
        .mount(&server)
        .await;
    for (region, snet, expected) in [
        ("RegionTwo", true, "/two/internal/AUTH_p"),
        ("RegionTwo", false, "/two/public/AUTH_p"),
        ("RegionOne", true, "/one/internal/AUTH_p"),
    ] {
        mount_account_head(&server, expected, TOKEN).await;
        let client = SwiftConnection::new(v3_config(&server, region, snet))
            .unwrap()
            .client()
            .await
            .unwrap();
        assert_eq!(
            client.storage_url().await.unwrap(),
            format!("{}{expected}", server.uri())
        );
        assert_eq!(client.head_account().await.unwrap().container_count, 7);
    }
}

#[tokio::test]
async fn v3_catalog_without_the_region_is_a_clear_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v3/auth/tokens"))
        .respond_with(
            ResponseTemplate::new(201)
                .insert_header("x-subject-token", TOKEN)
                .set_body_json(v3_catalog(&server)),
        )
        .mount(&server)
        .await;
    let err = SwiftConnection::new(v3_config(&server, "RegionNine", false))
        .unwrap()
        .client()
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("RegionNine") && msg.contains("public"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_token_about_to_expire_is_renewed_before_use() {
    let server = MockServer::start().await;
    let soon = std::time::SystemTime::now() + std::time::Duration::from_secs(1);
    let soon = chrono::DateTime::<chrono::Utc>::from(soon).to_rfc3339();
    let mut body = v3_catalog(&server);
    body["token"]["expires_at"] = json!(soon);
    Mock::given(method("POST"))
        .and(path("/v3/auth/tokens"))
        .respond_with(
            ResponseTemplate::new(201)
                .insert_header("x-subject-token", TOKEN)
                .set_body_json(body),
        )
        .mount(&server)
        .await;
    mount_account_head(&server, "/one/public/AUTH_p", TOKEN).await;
    let client = SwiftConnection::new(v3_config(&server, "RegionOne", false))
        .unwrap()
        .client()
        .await
        .unwrap();
    client.head_account().await.unwrap();
    assert_eq!(client.auth_count(), 1, "a fresh token is used");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    client.head_account().await.unwrap();
    assert_eq!(count(&server, "/v3/auth/tokens").await, 2);
    assert_eq!(
        client.auth_count(),
        2,
        "an expired token is renewed before use"
    );
}

#[tokio::test]
async fn a_short_lived_v1_token_is_reused_until_near_its_expiry() {
    let (server, config) = v1_server_expiring("30").await;
    let client = SwiftConnection::new(config)
        .unwrap()
        .client()
        .await
        .unwrap();
    for _ in 0..10 {
        assert_eq!(client.head_account().await.unwrap().container_count, 7);
    }
    assert_eq!(count(&server, "/auth/v1.0").await, 1);
    assert_eq!(client.auth_count(), 1);
}

#[tokio::test]
async fn preauth_url_and_token_skip_authentication() {
    let server = MockServer::start().await;
    mount_account_head(&server, "/v1/AUTH_pre", "pre-SECRET").await;
    let config = SwiftConfig {
        name: "pre".into(),
        preauth_url: Some(format!("{}/v1/AUTH_pre/", server.uri())),
        preauth_token: Some("pre-SECRET".into()),
        ..SwiftConfig::default()
    };
    let conn = SwiftConnection::new(config).unwrap();
    assert!(!format!("{conn:?}").contains("SECRET"));
    let client = conn.client().await.unwrap();
    assert_eq!(client.head_account().await.unwrap().container_count, 7);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

/// A v1.0 server whose answer carries `x-auth-token-expires: expires`.
async fn v1_server_expiring(expires: &str) -> (MockServer, SwiftConfig) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/auth/v1.0"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-storage-url", format!("{}{ACCOUNT}", server.uri()))
                .insert_header("x-auth-token", TOKEN)
                .insert_header("x-auth-token-expires", expires),
        )
        .mount(&server)
        .await;
    mount_account_head(&server, ACCOUNT, TOKEN).await;
    let config = support::v1_config(&server);
    (server, config)
}

#[tokio::test]
async fn a_huge_v1_token_expiry_does_not_panic_and_the_token_is_reused() {
    for expires in ["1e19", "1e300", "18446744073709551615"] {
        let (server, config) = v1_server_expiring(expires).await;
        let client = SwiftConnection::new(config)
            .unwrap()
            .client()
            .await
            .unwrap();
        assert_eq!(client.head_account().await.unwrap().container_count, 7);
        assert_eq!(client.head_account().await.unwrap().container_count, 7);
        assert_eq!(count(&server, "/auth/v1.0").await, 1, "{expires}");
    }
}

#[tokio::test]
async fn a_far_keystone_expiry_does_not_panic() {
    let server = MockServer::start().await;
    let mut body = v3_catalog(&server);
    body["token"]["expires_at"] = json!("9999-12-31T23:59:59.999999Z");
    Mock::given(method("POST"))
        .and(path("/v3/auth/tokens"))
        .respond_with(
            ResponseTemplate::new(201)
                .insert_header("x-subject-token", TOKEN)
                .set_body_json(body),
        )
        .mount(&server)
        .await;
    mount_account_head(&server, "/one/public/AUTH_p", TOKEN).await;
    let client = SwiftConnection::new(v3_config(&server, "RegionOne", false))
        .unwrap()
        .client()
        .await
        .unwrap();
    client.head_account().await.unwrap();
    client.head_account().await.unwrap();
    assert_eq!(count(&server, "/v3/auth/tokens").await, 1);
}

//! Helpers shared by the integration tests.
#![allow(
    dead_code,
    reason = "each test crate uses a different subset of the helpers"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers and scenarios outside #[test] functions panic on the first unexpected error"
)]

pub(crate) mod scenarios;

use std::time::{SystemTime, UNIX_EPOCH};

use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use zato_swift::{AuthVersion, SwiftClient, SwiftConfig, SwiftConnection};

/// The account path our wiremock auth v1.0 hands out.
pub(crate) const ACCOUNT: &str = "/v1/AUTH_test";
pub(crate) const USER: &str = "test:tester";
pub(crate) const KEY: &str = "key-SECRET-123";
pub(crate) const TOKEN: &str = "tok-SECRET-abc";

/// A config for `server` with auth v1.0, fast retries and a short timeout.
pub(crate) fn v1_config(server: &MockServer) -> SwiftConfig {
    SwiftConfig {
        retries: 3,
        starting_backoff: 0.01,
        max_backoff: 0.05,
        timeout: 5.0,
        ..SwiftConfig::v1(
            "Invoice Dispatcher",
            format!("{}/auth/v1.0", server.uri()),
            USER,
            KEY,
        )
    }
}

/// Mounts an auth v1.0 endpoint answering `token` to `user`.
pub(crate) async fn mount_v1_auth(server: &MockServer, user: &str, token: &str) {
    Mock::given(method("GET"))
        .and(path("/auth/v1.0"))
        .and(header("x-auth-user", user))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-storage-url", format!("{}{ACCOUNT}", server.uri()))
                .insert_header("x-auth-token", token),
        )
        .mount(server)
        .await;
}

/// A mock server with auth v1.0 mounted, and a config for it.
pub(crate) async fn v1_server() -> (MockServer, SwiftConfig) {
    let server = MockServer::start().await;
    mount_v1_auth(&server, USER, TOKEN).await;
    let config = v1_config(&server);
    (server, config)
}

/// A server with auth v1.0 and an unpooled client of it.
pub(crate) async fn setup() -> (MockServer, SwiftClient) {
    let (server, config) = v1_server().await;
    let client = SwiftClient::new(config).unwrap();
    (server, client)
}

/// How many requests the server saw to `path`.
pub(crate) async fn count(server: &MockServer, p: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == p)
        .count()
}

/// A name unique to this run.
pub(crate) fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("zato-{prefix}-{nanos}")
}

/// The real Swift of `ZATO_SWIFT_TEST_AUTH_URL`, `ZATO_SWIFT_TEST_USER`, `ZATO_SWIFT_TEST_KEY`
/// (auth v1.0), if set.
pub(crate) fn real_config() -> Option<SwiftConfig> {
    let url = std::env::var("ZATO_SWIFT_TEST_AUTH_URL")
        .ok()
        .filter(|v| !v.is_empty())?;
    let user = std::env::var("ZATO_SWIFT_TEST_USER")
        .ok()
        .filter(|v| !v.is_empty())?;
    let key = std::env::var("ZATO_SWIFT_TEST_KEY")
        .ok()
        .filter(|v| !v.is_empty())?;
    Some(SwiftConfig {
        auth_version: AuthVersion::V1,
        retries: 2,
        starting_backoff: 0.1,
        max_backoff: 1.0,
        ..SwiftConfig::v1("real swift", url, user, key)
    })
}

/// A connection for a scenario.
pub(crate) fn connect(config: &SwiftConfig) -> SwiftConnection {
    SwiftConnection::new(config.clone()).expect("valid config")
}

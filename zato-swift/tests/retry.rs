//! Retries, re-authentication and timeouts against wiremock.

mod support;

use std::time::Duration;

use bytes::Bytes;
use support::{ACCOUNT, TOKEN, count, mount_v1_auth, v1_config, v1_server};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use zato_swift::{PutOptions, SwiftConfig, SwiftConnection, SwiftErrorKind};

fn obj_path() -> String {
    format!("{ACCOUNT}/invoices/1.json")
}

#[tokio::test]
async fn a_401_causes_exactly_one_reauthentication_and_one_retry() {
    let server = MockServer::start().await;
    // The first token is refused; the second is accepted.
    Mock::given(method("GET"))
        .and(path("/auth/v1.0"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-storage-url", format!("{}{ACCOUNT}", server.uri()))
                .insert_header("x-auth-token", "old"),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    mount_v1_auth(&server, support::USER, "new").await;
    Mock::given(method("PUT"))
        .and(path(obj_path()))
        .and(header("x-auth-token", "old"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(obj_path()))
        .and(header("x-auth-token", "new"))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    let client = SwiftConnection::new(v1_config(&server))
        .unwrap()
        .client()
        .await
        .unwrap();
    client
        .put_object("invoices", "1.json", &b"{}"[..], &PutOptions::default())
        .await
        .unwrap();
    assert_eq!(count(&server, "/auth/v1.0").await, 2);
}

#[tokio::test]
async fn a_second_401_is_auth_failed_after_one_reauthentication() {
    let (server, config) = v1_server().await;
    Mock::given(method("GET"))
        .and(path(obj_path()))
        .respond_with(ResponseTemplate::new(401))
        .expect(2)
        .mount(&server)
        .await;
    let client = SwiftConnection::new(config)
        .unwrap()
        .client()
        .await
        .unwrap();
    let err = client.get_object("invoices", "1.json").await.unwrap_err();
    assert!(
        matches!(err.kind(), SwiftErrorKind::AuthFailed { .. }),
        "{err}"
    );
    assert_eq!(count(&server, "/auth/v1.0").await, 2);
}

#[tokio::test]
async fn two_503_then_200_succeeds_after_backoff() {
    let (server, config) = v1_server().await;
    Mock::given(method("PUT"))
        .and(path(obj_path()))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(obj_path()))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    let client = SwiftConnection::new(config)
        .unwrap()
        .client()
        .await
        .unwrap();
    client
        .put_object("invoices", "1.json", &b"{}"[..], &PutOptions::default())
        .await
        .unwrap();
    // Every attempt carried the same body.
    let puts: Vec<_> = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "PUT")
        .collect();
    assert!(puts.iter().all(|r| r.body == b"{}"));
}

#[tokio::test]
async fn retries_run_out_with_the_last_status() {
    let (server, config) = v1_server().await;
    Mock::given(method("GET"))
        .and(path(obj_path()))
        .respond_with(ResponseTemplate::new(500).set_body_string("proxy-server exploded"))
        .expect(4)
        .mount(&server)
        .await;
    let client = SwiftConnection::new(config)
        .unwrap()
        .client()
        .await
        .unwrap();
    let err = client.get_object("invoices", "1.json").await.unwrap_err();
    match err.into_kind() {
        SwiftErrorKind::Http {
            status, excerpt, ..
        } => {
            assert_eq!(status, 500);
            assert!(excerpt.contains("exploded"));
        }
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn other_4xx_are_never_retried() {
    let (server, config) = v1_server().await;
    Mock::given(method("GET"))
        .and(path(obj_path()))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(obj_path()))
        .respond_with(ResponseTemplate::new(400))
        .expect(1)
        .mount(&server)
        .await;
    let client = SwiftConnection::new(config)
        .unwrap()
        .client()
        .await
        .unwrap();
    assert!(
        client
            .get_object("invoices", "1.json")
            .await
            .unwrap_err()
            .is_not_found()
    );
    let err = client
        .put_object("invoices", "1.json", &b"x"[..], &PutOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), SwiftErrorKind::Http { status: 400, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn rate_limits_are_retried_only_when_configured() {
    for (should_retr_ratelimit, expected_calls) in [(true, 2), (false, 1)] {
        let (server, config) = v1_server().await;
        Mock::given(method("HEAD"))
            .and(path(ACCOUNT))
            .respond_with(ResponseTemplate::new(498))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("HEAD"))
            .and(path(ACCOUNT))
            .respond_with(ResponseTemplate::new(204))
            .mount(&server)
            .await;
        let config = SwiftConfig {
            should_retr_ratelimit,
            ..config
        };
        let client = SwiftConnection::new(config)
            .unwrap()
            .client()
            .await
            .unwrap();
        let result = client.head_account().await;
        assert_eq!(result.is_ok(), should_retr_ratelimit);
        assert_eq!(count(&server, ACCOUNT).await, expected_calls);
    }
}

#[tokio::test]
async fn retry_after_overrides_a_long_backoff() {
    let (server, config) = v1_server().await;
    Mock::given(method("HEAD"))
        .and(path(ACCOUNT))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("HEAD"))
        .and(path(ACCOUNT))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    // Without Retry-After the client would sleep for about an hour before its retry.
    let config = SwiftConfig {
        starting_backoff: 3600.0,
        max_backoff: 3600.0,
        ..config
    };
    let client = SwiftConnection::new(config)
        .unwrap()
        .client()
        .await
        .unwrap();
    let result = tokio::time::timeout(Duration::from_secs(60), client.head_account()).await;
    assert!(result.expect("Retry-After: 0 was honoured").is_ok());
    assert_eq!(count(&server, ACCOUNT).await, 2);
}

#[tokio::test]
async fn a_slow_answer_times_out() {
    let (server, config) = v1_server().await;
    Mock::given(method("GET"))
        .and(path(obj_path()))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let config = SwiftConfig {
        timeout: 0.2,
        retries: 1,
        ..config
    };
    let client = SwiftConnection::new(config)
        .unwrap()
        .client()
        .await
        .unwrap();
    let err = client.get_object("invoices", "1.json").await.unwrap_err();
    assert!(
        matches!(err.kind(), SwiftErrorKind::Timeout { .. }),
        "{err}"
    );
    assert_eq!(count(&server, &obj_path()).await, 2, "a timeout is retried");
    let service: zato_core::ServiceError = err.into_service_error("Invoice Dispatcher");
    assert_eq!(service.status().as_u16(), 504);
}

#[tokio::test]
async fn a_streamed_body_is_not_retried() {
    let (server, config) = v1_server().await;
    Mock::given(method("PUT"))
        .and(path(obj_path()))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    let client = SwiftConnection::new(config)
        .unwrap()
        .client()
        .await
        .unwrap();
    let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"a"))]);
    let err = client
        .put_object_stream("invoices", "1.json", chunks, &PutOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), SwiftErrorKind::Http { status: 503, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn connection_refused_is_retried_then_unreachable() {
    // A port nothing listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = SwiftConfig {
        name: "gone".into(),
        preauth_url: Some(format!("http://127.0.0.1:{port}/v1/AUTH_x")),
        preauth_token: Some(TOKEN.into()),
        retries: 2,
        starting_backoff: 0.01,
        max_backoff: 0.02,
        ..SwiftConfig::default()
    };
    let client = SwiftConnection::new(config)
        .unwrap()
        .client()
        .await
        .unwrap();
    let err = client.head_account().await.unwrap_err();
    assert!(
        matches!(err.kind(), SwiftErrorKind::Unreachable { .. }),
        "{err}"
    );
    let service: zato_core::ServiceError = err.into();
    assert_eq!(service.status().as_u16(), 502);
}

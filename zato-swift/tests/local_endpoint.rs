//! The local endpoint itself: persistence in a directory, token revocation, ranges, and what a
//! raw HTTP client sees.
#![cfg(feature = "local")]
#![allow(clippy::unwrap_used)] // reason: #[tokio::test] bodies are not seen as tests; a test panics on any unexpected error

mod support;

use zato_swift::local::{LocalSwift, LocalSwiftConfig};
use zato_swift::{GetOptions, Metadata, PutOptions, SwiftConfig, SwiftConnection, SwiftError};

fn config_for(local: &LocalSwift) -> SwiftConfig {
    SwiftConfig::v1("local", local.auth_url(), local.user(), local.key())
}

#[tokio::test]
async fn a_directory_backed_endpoint_keeps_objects_across_restarts() {
    let dir = std::env::temp_dir().join(support::unique("local-swift-dir"));
    let start = || {
        LocalSwift::start(LocalSwiftConfig {
            dir: Some(dir.clone()),
            ..LocalSwiftConfig::default()
        })
    };

    let local = start().await.unwrap();
    let client = SwiftConnection::new(config_for(&local))
        .unwrap()
        .client()
        .await
        .unwrap();
    let mut m = Metadata::new();
    m.insert("app".into(), "crm".into());
    client.create_container("CRM", &m).await.unwrap();
    client
        .put_object(
            "CRM",
            "a b/ż.json",
            &br#"{"id":"1"}"#[..],
            &PutOptions::default().meta("k", "v"),
        )
        .await
        .unwrap();
    drop(client);
    local.shutdown().await;

    let local = start().await.unwrap();
    assert_eq!(
        local.object("CRM", "a b/ż.json").as_deref(),
        Some(&br#"{"id":"1"}"#[..])
    );
    let client = SwiftConnection::new(config_for(&local))
        .unwrap()
        .client()
        .await
        .unwrap();
    let got = client.get_object("CRM", "a b/ż.json").await.unwrap();
    assert_eq!(got.info.metadata.get("k").map(String::as_str), Some("v"));
    assert_eq!(client.head_container("CRM").await.unwrap().metadata, m);
    client.delete_object("CRM", "a b/ż.json").await.unwrap();
    drop(client);
    local.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn revoked_tokens_are_renewed_transparently() {
    let local = LocalSwift::start(LocalSwiftConfig::default())
        .await
        .unwrap();
    let client = SwiftConnection::new(config_for(&local))
        .unwrap()
        .client()
        .await
        .unwrap();
    client
        .create_container("c", &Metadata::new())
        .await
        .unwrap();
    assert_eq!(client.auth_count(), 1);
    local.revoke_tokens();
    client
        .put_object("c", "o", &b"x"[..], &PutOptions::default())
        .await
        .unwrap();
    assert_eq!(client.auth_count(), 2);
    assert_eq!(local.object_names("c"), ["o"]);
    drop(client);
    local.shutdown().await;
}

#[tokio::test]
async fn ranges_heads_and_conflicts() {
    let local = LocalSwift::start(LocalSwiftConfig::default())
        .await
        .unwrap();
    let client = SwiftConnection::new(config_for(&local))
        .unwrap()
        .client()
        .await
        .unwrap();
    client
        .create_container("c", &Metadata::new())
        .await
        .unwrap();
    client
        .put_object("c", "o", &b"0123456789"[..], &PutOptions::default())
        .await
        .unwrap();
    let part = client
        .get_object_with("c", "o", &GetOptions::range(2, Some(4)))
        .await
        .unwrap();
    assert_eq!(&part.data[..], b"234");
    let tail = client
        .get_object_with("c", "o", &GetOptions::range(7, None))
        .await
        .unwrap();
    assert_eq!(&tail.data[..], b"789");
    assert_eq!(
        client.head_object("c", "o").await.unwrap().content_length,
        10
    );
    let err = client
        .put_object(
            "c",
            "o",
            &b"again"[..],
            &PutOptions::default().if_none_match(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, SwiftError::Conflict { .. }), "{err}");
    let err = client.delete_container("c").await.unwrap_err();
    assert!(matches!(err, SwiftError::Conflict { .. }), "{err}");
    let err = client
        .put_object("nope", "o", &b"x"[..], &PutOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    drop(client);
    local.shutdown().await;
}

#[tokio::test]
async fn a_request_without_a_token_is_refused() {
    let local = LocalSwift::start(LocalSwiftConfig::default())
        .await
        .unwrap();
    let resp = reqwest::get(format!("{}/c/o", local.storage_url()))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let resp = reqwest::Client::new()
        .get(local.auth_url())
        .header("x-auth-user", local.user())
        .header("x-auth-key", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    local.shutdown().await;
}

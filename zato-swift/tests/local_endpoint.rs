//! The local endpoint itself: persistence in a directory, token revocation, and what a raw HTTP
//! client sees. The Swift semantics are checked by the scenarios of `local_swift.rs`.
#![cfg(feature = "local")]

mod support;

use zato_swift::local::{LocalSwift, LocalSwiftConfig};
use zato_swift::{Metadata, PutOptions, SwiftConfig, SwiftConnection};

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

#[tokio::test]
async fn a_static_large_object_whose_name_holds_a_percent_sign_reads_back() {
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
    let data = bytes::Bytes::from_static(b"0123456789abcdef");
    // Manifest segment paths are plain `/container/object`, as Swift's SLO middleware expects;
    // `50%25off` must stay `50%25off`, not become `50%off`.
    for name in ["50%25off.bin", "a b%2Fc.bin"] {
        client
            .put_static_large_object("c", name, data.clone(), 5, &PutOptions::default())
            .await
            .unwrap();
        let got = client.get_object("c", name).await.unwrap();
        assert_eq!(got.data, data, "{name}");
        assert!(got.info.is_static_large_object);
    }
    drop(client);
    local.shutdown().await;
}

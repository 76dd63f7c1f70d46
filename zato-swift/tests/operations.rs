//! Account and container operations, listings, bulk delete, static large objects, temp URLs and
//! names against wiremock (object operations are in `objects.rs`).

mod support;

use std::time::{Duration, UNIX_EPOCH};

use futures_util::TryStreamExt;
use serde_json::json;
use support::{ACCOUNT, TOKEN, setup, v1_server};
use wiremock::matchers::{
    body_string, header, method, path, path_regex, query_param, query_param_is_missing,
};
use wiremock::{Mock, ResponseTemplate};
use zato_swift::{
    ListOptions, Metadata, ObjectEntry, PutOptions, SwiftClient, SwiftConnection, SwiftErrorKind,
    TempUrlDigest,
};

const MD5_HELLO: &str = "5d41402abc4b2a76b9719d911017c592";

fn p(rest: &str) -> String {
    format!("{ACCOUNT}{rest}")
}

fn meta(k: &str, v: &str) -> Metadata {
    let mut m = Metadata::new();
    m.insert(k.into(), v.into());
    m
}

#[tokio::test]
async fn account_head_post_and_container_listing() {
    let (server, client) = setup().await;
    Mock::given(method("HEAD"))
        .and(path(ACCOUNT))
        .and(header("x-auth-token", TOKEN))
        .respond_with(
            ResponseTemplate::new(204)
                .insert_header("x-account-container-count", "2")
                .insert_header("x-account-object-count", "10")
                .insert_header("x-account-bytes-used", "1234")
                .insert_header("x-account-meta-owner", "ops"),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(ACCOUNT))
        .and(header("x-account-meta-temp-url-key", "k1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET")).and(path(ACCOUNT)).and(query_param("format", "json"))
        .and(query_param("prefix", "inv")).and(query_param("end_marker", "z")).and(query_param("limit", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"name": "inv-crm", "count": 3, "bytes": 30}, {"name": "inv-billing", "count": 0, "bytes": 0}])))
        .mount(&server).await;
    let info = client.head_account().await.unwrap();
    assert_eq!(
        (info.container_count, info.object_count, info.bytes_used),
        (2, 10, 1234)
    );
    assert_eq!(info.metadata, meta("owner", "ops"));
    client.set_temp_url_key("k1").await.unwrap();
    let list = client
        .list_containers(
            &ListOptions::default()
                .prefix("inv")
                .end_marker("z")
                .limit(2),
        )
        .await
        .unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[0].name.as_str(), list[0].count, list[0].bytes),
        ("inv-crm", 3, 30)
    );
}

#[tokio::test]
async fn container_create_head_post_delete() {
    let (server, client) = setup().await;
    Mock::given(method("PUT"))
        .and(path(p("/CRM")))
        .and(header("x-container-meta-app", "crm"))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("HEAD"))
        .and(path(p("/CRM")))
        .respond_with(
            ResponseTemplate::new(204)
                .insert_header("x-container-object-count", "4")
                .insert_header("x-container-bytes-used", "40")
                .insert_header("x-container-meta-app", "crm"),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(p("/CRM")))
        .and(header("x-container-meta-team", "a"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(p("/CRM")))
        .respond_with(ResponseTemplate::new(409))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(p("/Gone")))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(p("/Empty")))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;

    client
        .create_container("CRM", &meta("app", "crm"))
        .await
        .unwrap();
    let info = client.head_container("CRM").await.unwrap();
    assert_eq!((info.object_count, info.bytes_used), (4, 40));
    assert_eq!(info.metadata, meta("app", "crm"));
    client
        .post_container("CRM", &meta("team", "a"))
        .await
        .unwrap();
    let err = client.delete_container("CRM").await.unwrap_err();
    assert!(
        matches!(err.kind(), SwiftErrorKind::Conflict { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("container `CRM`"), "{err}");
    let err = client.delete_container("Gone").await.unwrap_err();
    assert!(
        matches!(err.kind(), SwiftErrorKind::NotFound { container, object: None, .. } if container == "Gone"),
        "{err}"
    );
    client.delete_container("Empty").await.unwrap();
}

#[tokio::test]
async fn object_listing_sends_prefix_delimiter_marker() {
    let (server, client) = setup().await;
    Mock::given(method("GET")).and(path(p("/CRM"))).and(query_param("format", "json"))
        .and(query_param("prefix", "2024/")).and(query_param("delimiter", "/")).and(query_param("marker", "2024/01"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"subdir": "2024/02/"},
            {"name": "2024/03.json", "hash": MD5_HELLO, "bytes": 5, "content_type": "application/json",
             "last_modified": "2024-03-01T00:00:00.000000"}])))
        .mount(&server).await;
    let entries = client
        .list_objects(
            "CRM",
            &ListOptions::default()
                .prefix("2024/")
                .delimiter('/')
                .marker("2024/01"),
        )
        .await
        .unwrap();
    assert_eq!(
        entries[0],
        ObjectEntry::Subdir {
            subdir: "2024/02/".into()
        }
    );
    match &entries[1] {
        ObjectEntry::Object(o) => {
            assert_eq!(
                (o.name.as_str(), o.bytes, o.hash.as_str()),
                ("2024/03.json", 5, MD5_HELLO)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn streams_paginate_over_several_pages() {
    let (server, client) = setup().await;
    let page = |names: &[&str]| {
        ResponseTemplate::new(200).set_body_json(
            names
                .iter()
                .map(|n| json!({"name": n, "hash": "", "bytes": 1}))
                .collect::<Vec<_>>(),
        )
    };
    Mock::given(method("GET"))
        .and(path(p("/CRM")))
        .and(query_param_is_missing("marker"))
        .respond_with(page(&["a", "b"]))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(p("/CRM")))
        .and(query_param("marker", "b"))
        .respond_with(page(&["c", "d"]))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(p("/CRM")))
        .and(query_param("marker", "d"))
        .respond_with(page(&["e"]))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(p("/CRM")))
        .and(query_param("marker", "e"))
        .respond_with(page(&[]))
        .expect(1)
        .mount(&server)
        .await;
    let names: Vec<String> = client
        .objects("CRM", ListOptions::default().limit(2))
        .map_ok(|e| e.name().to_string())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(names, ["a", "b", "c", "d", "e"]);

    Mock::given(method("GET"))
        .and(path(ACCOUNT))
        .and(query_param_is_missing("marker"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([{"name": "x"}, {"name": "y"}])),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(ACCOUNT))
        .and(query_param("marker", "y"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let containers: Vec<_> = client
        .containers(ListOptions::default())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(containers.len(), 2);
}

#[tokio::test]
async fn bulk_delete_sends_encoded_paths() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path(ACCOUNT))
        .and(query_param("bulk-delete", ""))
        .and(header("content-type", "text/plain"))
        .and(header("accept", "application/json"))
        .and(body_string("/CRM/a%20b\n/CRM/dir/%C5%BC%3F%23\n/Empty"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "Number Deleted": 2, "Number Not Found": 0, "Response Status": "400 Bad Request",
            "Errors": [["/Empty", "409 Conflict"]], "Response Body": ""})))
        .expect(1)
        .mount(&server)
        .await;
    let result = client
        .bulk_delete(&[("CRM", "a b"), ("CRM", "dir/ż?#"), ("Empty", "")])
        .await
        .unwrap();
    assert_eq!(result.deleted, 2);
    assert_eq!(
        result.errors,
        vec![("/Empty".to_string(), "409 Conflict".to_string())]
    );
}

#[tokio::test]
async fn static_large_object_uploads_segments_then_manifest() {
    let (server, config) = v1_server().await;
    let client = SwiftClient::new(zato_swift::SwiftConfig {
        segment_size: 4,
        ..config
    })
    .unwrap();
    Mock::given(method("PUT"))
        .and(path(p("/CRM_segments")))
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path_regex(format!("^{ACCOUNT}/CRM_segments/big/slo/")))
        .respond_with(ResponseTemplate::new(201))
        .expect(3)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(p("/CRM/big")))
        .and(query_param("multipart-manifest", "put"))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    // 10 bytes in segments of 4: 4 + 4 + 2.
    client
        .upload_object("CRM", "big", &b"0123456789"[..], &PutOptions::default())
        .await
        .unwrap();
    let reqs = server.received_requests().await.unwrap();
    let manifest = reqs
        .iter()
        .find(|r| r.url.query() == Some("multipart-manifest=put"))
        .unwrap();
    let m: serde_json::Value = serde_json::from_slice(&manifest.body).unwrap();
    let sizes: Vec<u64> = m
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["size_bytes"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [4, 4, 2]);
    assert!(
        m[0]["path"]
            .as_str()
            .unwrap()
            .starts_with("/CRM_segments/big/slo/")
    );
    assert!(m[2]["path"].as_str().unwrap().ends_with("/00000002"));
}

#[tokio::test]
async fn awkward_names_are_encoded_on_the_wire() {
    let (server, client) = setup().await;
    Mock::given(method("PUT"))
        .and(path(p(
            "/my%20container/a%20b/%C5%BC%C3%B3%C5%82w%3F%23%25.json",
        )))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    client
        .put_object(
            "my container",
            "a b/żółw?#%.json",
            &b"{}"[..],
            &PutOptions::default(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn invalid_names_are_refused_before_any_request() {
    let (server, client) = setup().await;
    let long = "x".repeat(1025);
    let cases: Vec<(&str, &str)> = vec![("", "o"), ("a/b", "o"), ("c", ""), ("c", &long)];
    for (c, o) in cases {
        let err = client
            .put_object(c, o, &b"x"[..], &PutOptions::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err.kind(), SwiftErrorKind::InvalidName { .. }),
            "{err}"
        );
    }
    let err = client
        .create_container(&"c".repeat(257), &Metadata::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("longer than 256 bytes"), "{err}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn temp_url_is_signed_over_method_expiry_and_path() {
    let (_server, client) = setup().await;
    let expires = UNIX_EPOCH + Duration::from_secs(2_000_000_000);
    let url = client
        .temp_url(
            http::Method::GET,
            "CRM",
            "a b.json",
            expires,
            "secret",
            TempUrlDigest::Sha1,
        )
        .await
        .unwrap();
    let storage = client.storage_url().await.unwrap();
    assert!(
        url.starts_with(&format!("{storage}/CRM/a%20b.json?temp_url_sig=")),
        "{url}"
    );
    assert!(url.ends_with("&temp_url_expires=2000000000"));
    let other = client
        .temp_url(
            http::Method::PUT,
            "CRM",
            "a b.json",
            expires,
            "secret",
            TempUrlDigest::Sha1,
        )
        .await
        .unwrap();
    assert_ne!(url, other, "the method is signed");
}

#[tokio::test]
async fn pooled_client_runs_the_same_operations() {
    let (server, config) = v1_server().await;
    Mock::given(method("HEAD"))
        .and(path(ACCOUNT))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let conn = SwiftConnection::new(config).unwrap();
    conn.client().await.unwrap().head_account().await.unwrap();
}

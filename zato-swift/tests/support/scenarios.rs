//! Scenarios run against a real Swift (`real_swift.rs`) and against the local endpoint
//! (`local_swift.rs`), so they run in CI too.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::TryStreamExt;
use zato_swift::{
    GetOptions, ListOptions, Metadata, ObjectEntry, PutOptions, SwiftConfig, SwiftConnection,
    SwiftErrorKind, TempUrlDigest,
};

use super::{connect, unique};

fn pattern(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i * 31 % 251) as u8)
        .collect::<Vec<u8>>()
        .into()
}

async fn fresh_container(conn: &SwiftConnection, name: &str) -> String {
    let c = unique(name);
    let client = conn.client().await.expect("client");
    client
        .create_container(&c, &Metadata::new())
        .await
        .expect("create container");
    c
}

/// Deletes every object of `c` and `c` itself, ignoring what is already gone.
async fn cleanup(conn: &SwiftConnection, c: &str) {
    let client = conn.client().await.expect("client");
    for container in [c.to_string(), format!("{c}_segments")] {
        let names: Vec<String> = client
            .objects(&container, ListOptions::default())
            .map_ok(|e| e.name().to_string())
            .try_collect()
            .await
            .unwrap_or_default();
        for n in names {
            let _ = client.delete_object(&container, &n).await;
        }
        let _ = client.delete_container(&container).await;
    }
}

pub(crate) async fn round_trip_1_byte_and_1_mib(config: SwiftConfig) {
    let conn = connect(&config);
    let c = fresh_container(&conn, "rt").await;
    let client = conn.client().await.unwrap();
    for (name, data) in [("one", pattern(1)), ("mib", pattern(1024 * 1024))] {
        let etag = client
            .put_object(
                &c,
                name,
                data.clone(),
                &PutOptions::default().content_type("application/octet-stream"),
            )
            .await
            .unwrap();
        let got = client.get_object(&c, name).await.unwrap();
        assert_eq!(got.data, data, "{name} is byte-exact");
        assert_eq!(got.info.etag.as_deref(), Some(etag.as_str()));
        assert_eq!(got.info.content_length, data.len() as u64);
    }
    drop(client);
    cleanup(&conn, &c).await;
}

pub(crate) async fn static_large_object_of_3_segments(config: SwiftConfig) {
    let conn = connect(&config);
    let c = fresh_container(&conn, "slo").await;
    let client = conn.client().await.unwrap();
    // Swift's default min_segment_size is 1 MiB: two full segments and a shorter last one.
    let seg = 1024 * 1024;
    let data = pattern(2 * seg + seg / 2);
    client
        .put_static_large_object(
            &c,
            "big.bin",
            data.clone(),
            seg as u64,
            &PutOptions::default(),
        )
        .await
        .unwrap();
    let segments = client
        .list_objects(&format!("{c}_segments"), &ListOptions::default())
        .await
        .unwrap();
    assert_eq!(segments.len(), 3);
    let info = client.head_object(&c, "big.bin").await.unwrap();
    assert!(info.is_static_large_object);
    let got = client.get_object(&c, "big.bin").await.unwrap();
    assert_eq!(got.data.len(), data.len());
    assert!(got.data == data, "the large object is byte-exact");
    client
        .delete_static_large_object(&c, "big.bin")
        .await
        .unwrap();
    let left = client
        .list_objects(&format!("{c}_segments"), &ListOptions::default())
        .await
        .unwrap();
    assert!(
        left.is_empty(),
        "segments deleted with the manifest: {left:?}"
    );
    drop(client);
    cleanup(&conn, &c).await;
}

pub(crate) async fn metadata_round_trip(config: SwiftConfig) {
    let conn = connect(&config);
    let c = fresh_container(&conn, "meta").await;
    let client = conn.client().await.unwrap();
    let opts = PutOptions::default()
        .content_type("application/json")
        .meta("source", "crm");
    client
        .put_object(&c, "1.json", &b"{}"[..], &opts)
        .await
        .unwrap();
    let info = client.head_object(&c, "1.json").await.unwrap();
    assert_eq!(info.metadata.get("source").map(String::as_str), Some("crm"));
    assert_eq!(info.content_type.as_deref(), Some("application/json"));

    let mut m = Metadata::new();
    m.insert("status".into(), "sent".into());
    client.post_object(&c, "1.json", &m).await.unwrap();
    let info = client.head_object(&c, "1.json").await.unwrap();
    assert_eq!(info.metadata, m, "POST replaces object metadata");

    let mut cm = Metadata::new();
    cm.insert("target".into(), "CRM".into());
    client.post_container(&c, &cm).await.unwrap();
    let ci = client.head_container(&c).await.unwrap();
    assert_eq!(ci.metadata.get("target").map(String::as_str), Some("CRM"));
    assert_eq!(ci.object_count, 1);
    drop(client);
    cleanup(&conn, &c).await;
}

pub(crate) async fn listings_with_prefix_delimiter_marker(config: SwiftConfig) {
    let conn = connect(&config);
    let c = fresh_container(&conn, "list").await;
    let client = conn.client().await.unwrap();
    for name in ["2023/a", "2024/a", "2024/b", "2024/c", "readme"] {
        client
            .put_object(&c, name, &b"x"[..], &PutOptions::default())
            .await
            .unwrap();
    }
    let names = |v: Vec<ObjectEntry>| v.iter().map(|e| e.name().to_string()).collect::<Vec<_>>();
    let by_prefix = client
        .list_objects(&c, &ListOptions::default().prefix("2024/"))
        .await
        .unwrap();
    assert_eq!(names(by_prefix), ["2024/a", "2024/b", "2024/c"]);
    let by_delim = client
        .list_objects(&c, &ListOptions::default().delimiter('/'))
        .await
        .unwrap();
    assert_eq!(names(by_delim), ["2023/", "2024/", "readme"]);
    assert!(matches!(
        client
            .list_objects(&c, &ListOptions::default().delimiter('/'))
            .await
            .unwrap()[0],
        ObjectEntry::Subdir { .. }
    ));
    let after = client
        .list_objects(&c, &ListOptions::default().marker("2024/a"))
        .await
        .unwrap();
    assert_eq!(names(after), ["2024/b", "2024/c", "readme"]);
    let paged: Vec<ObjectEntry> = client
        .objects(&c, ListOptions::default().limit(2))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(names(paged).len(), 5, "the stream walks every page");
    let containers: Vec<_> = client
        .containers(ListOptions::default().prefix(c.clone()))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0].name, c);
    // A real Swift updates the account listing's counts asynchronously; the container's own
    // HEAD is up to date.
    assert_eq!(client.head_container(&c).await.unwrap().object_count, 5);
    drop(client);
    cleanup(&conn, &c).await;
}

pub(crate) async fn server_side_copy(config: SwiftConfig) {
    let conn = connect(&config);
    let c = fresh_container(&conn, "copy").await;
    let client = conn.client().await.unwrap();
    client
        .put_object(
            &c,
            "src",
            &b"invoice"[..],
            &PutOptions::default().meta("a", "1"),
        )
        .await
        .unwrap();
    let mut extra = Metadata::new();
    extra.insert("b".into(), "2".into());
    client
        .copy_object(&c, "src", &c, "dst/copy of src", &extra)
        .await
        .unwrap();
    let got = client.get_object(&c, "dst/copy of src").await.unwrap();
    assert_eq!(&got.data[..], b"invoice");
    assert_eq!(got.info.metadata.get("a").map(String::as_str), Some("1"));
    assert_eq!(got.info.metadata.get("b").map(String::as_str), Some("2"));
    drop(client);
    cleanup(&conn, &c).await;
}

pub(crate) async fn bulk_delete(config: SwiftConfig) {
    let conn = connect(&config);
    let c = fresh_container(&conn, "bulk").await;
    let client = conn.client().await.unwrap();
    let names = ["a", "b c", "d/ż?#%"];
    for n in names {
        client
            .put_object(&c, n, &b"x"[..], &PutOptions::default())
            .await
            .unwrap();
    }
    let items: Vec<(&str, &str)> = names
        .iter()
        .map(|n| (c.as_str(), *n))
        .chain([(c.as_str(), "missing")])
        .collect();
    let result = client.bulk_delete(&items).await.unwrap();
    assert_eq!(result.deleted, 3);
    assert_eq!(result.not_found, 1);
    assert!(result.errors.is_empty(), "{:?}", result.errors);
    assert!(
        client
            .list_objects(&c, &ListOptions::default())
            .await
            .unwrap()
            .is_empty()
    );
    drop(client);
    cleanup(&conn, &c).await;
}

pub(crate) async fn temp_url_without_token(config: SwiftConfig) {
    let conn = connect(&config);
    let c = fresh_container(&conn, "tempurl").await;
    let client = conn.client().await.unwrap();
    client
        .put_object(&c, "shared file.txt", &b"hello"[..], &PutOptions::default())
        .await
        .unwrap();
    let key = unique("key");
    client.set_temp_url_key(&key).await.unwrap();
    let expires = SystemTime::now() + Duration::from_secs(600);
    for digest in [TempUrlDigest::Sha1, TempUrlDigest::Sha256] {
        let url = client
            .temp_url(
                http::Method::GET,
                &c,
                "shared file.txt",
                expires,
                &key,
                digest,
            )
            .await
            .unwrap();
        let resp = reqwest::get(&url).await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{digest:?}");
        assert_eq!(&resp.bytes().await.unwrap()[..], b"hello");
        let forged = url.replace("temp_url_sig=", "temp_url_sig=0");
        assert_eq!(reqwest::get(&forged).await.unwrap().status().as_u16(), 401);
    }
    drop(client);
    cleanup(&conn, &c).await;
}

pub(crate) async fn not_found_names_the_object(config: SwiftConfig) {
    let conn = connect(&config);
    let c = fresh_container(&conn, "nf").await;
    let client = conn.client().await.unwrap();
    let err = client.get_object(&c, "no such.json").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(
        err.to_string().contains(&format!("{c}/no such.json")),
        "{err}"
    );
    let err = client.head_container(&unique("missing")).await.unwrap_err();
    assert!(
        matches!(err.kind(), SwiftErrorKind::NotFound { object: None, .. }),
        "{err}"
    );
    drop(client);
    cleanup(&conn, &c).await;
}

pub(crate) async fn bad_credentials_and_bad_token_are_401(config: SwiftConfig) {
    let wrong = SwiftConfig {
        key: Some("wrong-key-SECRET".into()),
        ..config.clone()
    };
    let err = connect(&wrong).client().await.unwrap_err();
    assert!(
        matches!(err.kind(), SwiftErrorKind::AuthFailed { .. }),
        "{err}"
    );
    assert!(!err.to_string().contains("SECRET"));

    let storage_url = connect(&config)
        .client()
        .await
        .unwrap()
        .storage_url()
        .await
        .unwrap();
    let preauth = SwiftConfig {
        auth_url: None,
        user: None,
        key: None,
        preauth_url: Some(storage_url),
        preauth_token: Some("AUTH_tk-not-a-token".into()),
        ..config
    };
    let client = connect(&preauth).client().await.unwrap();
    let err = client.head_account().await.unwrap_err();
    assert!(
        matches!(err.kind(), SwiftErrorKind::AuthFailed { .. }),
        "{err}"
    );
}

pub(crate) async fn awkward_names_round_trip(config: SwiftConfig) {
    let conn = connect(&config);
    let c = fresh_container(&conn, "odd names ż#").await;
    let client = conn.client().await.unwrap();
    for name in ["a b.txt", "ż/ółw?.json", "100%#1", "dir/sub/file+plus"] {
        client
            .put_object(&c, name, name.as_bytes().to_vec(), &PutOptions::default())
            .await
            .unwrap();
        let got = client.get_object(&c, name).await.unwrap();
        assert_eq!(&got.data[..], name.as_bytes());
    }
    let listed: Vec<String> = client
        .objects(&c, ListOptions::default())
        .map_ok(|e| e.name().to_string())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        listed,
        ["100%#1", "a b.txt", "dir/sub/file+plus", "ż/ółw?.json"]
    );
    drop(client);
    cleanup(&conn, &c).await;
}

pub(crate) async fn ranges_conflicts_and_refused_etags(config: SwiftConfig) {
    let conn = connect(&config);
    let c = fresh_container(&conn, "ranges").await;
    let client = conn.client().await.unwrap();
    client
        .put_object(&c, "o", &b"0123456789"[..], &PutOptions::default())
        .await
        .unwrap();
    let part = client
        .get_object_with(&c, "o", &GetOptions::range(2, Some(4)))
        .await
        .unwrap();
    assert_eq!(&part.data[..], b"234");
    let tail = client
        .get_object_with(&c, "o", &GetOptions::range(7, None))
        .await
        .unwrap();
    assert_eq!(&tail.data[..], b"789");
    assert_eq!(
        client.head_object(&c, "o").await.unwrap().content_length,
        10
    );

    let err = client
        .put_object(
            &c,
            "o",
            &b"again"[..],
            &PutOptions::default().if_none_match(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), SwiftErrorKind::Conflict { .. }),
        "{err}"
    );
    let err = client.delete_container(&c).await.unwrap_err();
    assert!(
        matches!(err.kind(), SwiftErrorKind::Conflict { .. }),
        "{err}"
    );
    // An ETag that is not the MD5 of the body: Swift refuses to store it.
    let wrong = PutOptions::default().etag("00000000000000000000000000000000");
    let err = client
        .put_object(&c, "bad", &b"data"[..], &wrong)
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), SwiftErrorKind::EtagMismatch { .. }),
        "{err}"
    );
    assert!(
        client
            .head_object(&c, "bad")
            .await
            .unwrap_err()
            .is_not_found()
    );
    drop(client);
    cleanup(&conn, &c).await;
}

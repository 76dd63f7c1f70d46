//! Object operations against wiremock: PUT (bytes, stream, ETag, If-None-Match), GET (whole,
//! ranged, streamed), HEAD, POST, DELETE, COPY.

mod support;

use bytes::Bytes;
use futures_util::TryStreamExt;
use support::{ACCOUNT, setup};
use wiremock::matchers::{body_string, header, method, path};
use wiremock::{Mock, ResponseTemplate};
use zato_swift::{GetOptions, Metadata, PutOptions, SwiftErrorKind};

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
async fn put_sends_etag_content_type_metadata_and_if_none_match() {
    let (server, client) = setup().await;
    Mock::given(method("PUT"))
        .and(path(p("/CRM/123.json")))
        .and(header("etag", MD5_HELLO))
        .and(header("content-type", "application/json"))
        .and(header("x-object-meta-source", "crm"))
        .and(header("if-none-match", "*"))
        .and(body_string("hello"))
        .respond_with(ResponseTemplate::new(201).insert_header("etag", MD5_HELLO))
        .expect(1)
        .mount(&server)
        .await;
    let opts = PutOptions::default()
        .content_type("application/json")
        .meta("source", "crm")
        .if_none_match()
        .etag(MD5_HELLO);
    let etag = client
        .put_object("CRM", "123.json", Bytes::from_static(b"hello"), &opts)
        .await
        .unwrap();
    assert_eq!(etag, MD5_HELLO);
}

#[tokio::test]
async fn put_without_a_known_md5_checks_the_answered_etag() {
    let (server, client) = setup().await;
    Mock::given(method("PUT"))
        .and(path(p("/CRM/plain")))
        .and(body_string("hello"))
        .respond_with(ResponseTemplate::new(201).insert_header("etag", MD5_HELLO))
        .expect(1)
        .mount(&server)
        .await;
    let etag = client
        .put_object("CRM", "plain", &b"hello"[..], &PutOptions::default())
        .await
        .unwrap();
    assert_eq!(etag, MD5_HELLO);
    let sent = &server.received_requests().await.unwrap()[1];
    assert!(
        sent.headers.get("etag").is_none(),
        "no ETag header unless one is given"
    );
}

#[tokio::test]
async fn put_if_none_match_on_existing_object_is_conflict() {
    let (server, client) = setup().await;
    Mock::given(method("PUT"))
        .and(path(p("/CRM/1")))
        .respond_with(ResponseTemplate::new(412))
        .expect(1)
        .mount(&server)
        .await;
    let err = client
        .put_object(
            "CRM",
            "1",
            &b"x"[..],
            &PutOptions::default().if_none_match(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), SwiftErrorKind::Conflict { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("already exists"), "{err}");
}

#[tokio::test]
async fn etag_mismatches_are_reported() {
    let (server, client) = setup().await;
    // Swift answered with another ETag than the MD5 we sent.
    Mock::given(method("PUT"))
        .and(path(p("/CRM/a")))
        .respond_with(
            ResponseTemplate::new(201).insert_header("etag", "00000000000000000000000000000000"),
        )
        .mount(&server)
        .await;
    // Swift refused our ETag.
    Mock::given(method("PUT"))
        .and(path(p("/CRM/b")))
        .respond_with(ResponseTemplate::new(422))
        .mount(&server)
        .await;
    // The body read does not match the ETag.
    Mock::given(method("GET"))
        .and(path(p("/CRM/c")))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("etag", MD5_HELLO)
                .set_body_string("hullo"),
        )
        .mount(&server)
        .await;
    let e = client
        .put_object("CRM", "a", &b"hello"[..], &PutOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind(), SwiftErrorKind::EtagMismatch { expected, .. } if expected == MD5_HELLO),
        "{e}"
    );
    let e = client
        .put_object(
            "CRM",
            "b",
            &b"hello"[..],
            &PutOptions::default().etag(MD5_HELLO),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind(), SwiftErrorKind::EtagMismatch { .. }),
        "{e}"
    );
    let e = client.get_object("CRM", "c").await.unwrap_err();
    assert!(
        matches!(e.kind(), SwiftErrorKind::EtagMismatch { object, .. } if object == "c"),
        "{e}"
    );
}

#[tokio::test]
async fn put_from_a_stream_is_chunked_and_checked() {
    let (server, client) = setup().await;
    Mock::given(method("PUT"))
        .and(path(p("/CRM/s")))
        .and(body_string("hello"))
        .respond_with(ResponseTemplate::new(201).insert_header("etag", MD5_HELLO))
        .expect(1)
        .mount(&server)
        .await;
    let chunks = futures_util::stream::iter(
        ["he", "ll", "o"].map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c.as_bytes()))),
    );
    let etag = client
        .put_object_stream("CRM", "s", chunks, &PutOptions::default())
        .await
        .unwrap();
    assert_eq!(etag, MD5_HELLO);
}

#[tokio::test]
async fn get_whole_ranged_streamed_and_head() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path(p("/CRM/o")))
        .and(header("range", "bytes=1-3"))
        .respond_with(
            ResponseTemplate::new(206)
                .set_body_string("ell")
                .insert_header("etag", MD5_HELLO),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(p("/CRM/o")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("hello")
                .insert_header("etag", MD5_HELLO)
                .insert_header("content-type", "text/plain")
                .insert_header("x-object-meta-a", "1"),
        )
        .mount(&server)
        .await;
    Mock::given(method("HEAD"))
        .and(path(p("/CRM/o")))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("etag", format!("\"{MD5_HELLO}\""))
                .insert_header("x-object-meta-a", "1")
                .insert_header("x-static-large-object", "True"),
        )
        .mount(&server)
        .await;
    let whole = client.get_object("CRM", "o").await.unwrap();
    assert_eq!(&whole.data[..], b"hello");
    assert_eq!(whole.info.content_type.as_deref(), Some("text/plain"));
    assert_eq!(whole.info.metadata, meta("a", "1"));
    let part = client
        .get_object_with("CRM", "o", &GetOptions::range(1, Some(3)))
        .await
        .unwrap();
    assert_eq!(&part.data[..], b"ell");
    let stream = client
        .get_object_stream("CRM", "o", &GetOptions::default())
        .await
        .unwrap();
    assert_eq!(stream.info.etag.as_deref(), Some(MD5_HELLO));
    let chunks: Vec<Bytes> = stream.try_collect().await.unwrap();
    assert_eq!(chunks.concat(), b"hello");
    let info = client.head_object("CRM", "o").await.unwrap();
    assert_eq!(info.etag.as_deref(), Some(MD5_HELLO), "quotes are stripped");
    assert!(info.is_static_large_object);
}

#[tokio::test]
async fn post_delete_copy_and_not_found() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path(p("/CRM/o")))
        .and(header("x-object-meta-state", "sent"))
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(p("/CRM/o")))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(p("/Billing/o%20copy")))
        .and(header("x-copy-from", "/CRM/o"))
        .and(header("x-object-meta-copied", "yes"))
        .and(header("content-length", "0"))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(p("/CRM/missing")))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    client
        .post_object("CRM", "o", &meta("state", "sent"))
        .await
        .unwrap();
    client
        .copy_object("CRM", "o", "Billing", "o copy", &meta("copied", "yes"))
        .await
        .unwrap();
    client.delete_object("CRM", "o").await.unwrap();
    let err = client.get_object("CRM", "missing").await.unwrap_err();
    assert_eq!(err.to_string(), "object `CRM/missing` not found");
    let service: zato_core::ServiceError = err.into();
    assert_eq!(service.status().as_u16(), 404);
}

#[tokio::test]
async fn a_dynamic_large_object_is_read_without_a_false_etag_mismatch() {
    let (server, client) = setup().await;
    // Swift answers a DLO with the quoted MD5 of its segments' ETags, not of the content.
    let etag_of_etags = "\"0cc175b9c0f1b6a831c399e269772661\"";
    Mock::given(method("GET"))
        .and(path(p("/CRM/big")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("hello")
                .insert_header("etag", etag_of_etags)
                .insert_header("x-object-manifest", "CRM_segments/big/"),
        )
        .mount(&server)
        .await;
    let object = client.get_object("CRM", "big").await.unwrap();
    assert_eq!(&object.data[..], b"hello");
    assert_eq!(
        object.info.dynamic_large_object_manifest.as_deref(),
        Some("CRM_segments/big/")
    );
    assert!(!object.info.is_static_large_object);
}

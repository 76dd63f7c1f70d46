//! The load benchmark's echo service over real HTTP: the answer, the 400 without a target, and
//! the cid on both.
#![allow(
    clippy::unwrap_used,
    reason = "the helper outside #[test] functions panics on what would fail the test anyway"
)]

use serde_json::{Value, json};

async fn post(base: &str, query: &str, body: &'static str) -> (u16, bool, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{base}/echo{query}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let has_cid = resp.headers().contains_key("x-zato-cid");
    (status, has_cid, resp.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_answers_the_id_and_the_number_of_targets_and_400_without_a_target() {
    let server = echo::start("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", server.local_addr());

    let (status, has_cid, body) =
        post(&base, "?target=CRM&target=Billing", r#"{"id":"123"}"#).await;
    assert_eq!(status, 200);
    assert!(has_cid);
    assert_eq!(body, json!({"id": "123", "targets": 2}));

    let (status, has_cid, body) = post(&base, "?target=CRM", r#"{"id":"abc"}"#).await;
    assert_eq!((status, has_cid), (200, true));
    assert_eq!(body, json!({"id": "abc", "targets": 1}));

    let (status, has_cid, body) = post(&base, "", r#"{"id":"123"}"#).await;
    assert_eq!((status, has_cid), (400, true));
    assert!(body.to_string().contains("target"), "{body}");

    server.platform().shutdown().await;
}

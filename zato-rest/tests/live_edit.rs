//! A live edit under load: 1,000 calls while the base address and the credentials change, none
//! failing because of the edit.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;
use support::Node;
use wiremock::matchers::{basic_auth, method};
use wiremock::{Mock, MockServer, ResponseTemplate};
use zato_core::config::Section;

/// An upstream that takes either password: the edit may land between reading the definition
/// and the request arriving, and both are valid while it rotates.
async fn upstream(tag: &str) -> MockServer {
    let server = MockServer::start().await;
    for password in ["first", "second"] {
        Mock::given(method("POST"))
            .and(basic_auth("crm", password))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"at": tag})))
            .mount(&server)
            .await;
    }
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_calls_while_address_and_credentials_change_none_failing() {
    let (a, b) = (upstream("a").await, upstream("b").await);
    let node = Arc::new(Node::new().await);
    node.security(
        json!({"type": "basic_auth", "name": "crm", "username": "crm", "password": "first"}),
    )
    .await;
    let conn = node
        .http(json!({"name": "CRM", "address": a.uri(), "security": "crm", "pool_size": 16, "retries": 0}))
        .await;

    let done = Arc::new(AtomicBool::new(false));
    let editor = {
        let (node, done) = (node.clone(), done.clone());
        let uris = [a.uri(), b.uri()];
        tokio::spawn(async move {
            let mut edits = 0u32;
            while !done.load(Ordering::Relaxed) {
                let i = usize::try_from(edits % 2).unwrap();
                node.patch(
                    Section::Outgoing,
                    "http",
                    "CRM",
                    json!({"address": uris[1 - i]}),
                )
                .await
                .unwrap();
                let password = ["first", "second"][i];
                node.patch(Section::Security, "", "crm", json!({"password": password}))
                    .await
                    .unwrap();
                edits += 1;
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            edits
        })
    };

    let mut calls = Vec::new();
    for worker in 0..16 {
        let conn = conn.clone();
        calls.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            for i in 0..1000 / 16 + usize::from(worker < 1000 % 16) {
                let reply: serde_json::Value = conn
                    .post("/invoices", &json!({"n": i}))
                    .await
                    .unwrap_or_else(|e| panic!("call {i} of worker {worker}: {e}"))
                    .json()
                    .unwrap_or_else(|e| panic!("call {i} of worker {worker}: {e}"));
                seen.push(reply["at"].as_str().unwrap().to_owned());
            }
            seen
        }));
    }
    let mut answered = Vec::new();
    for c in calls {
        answered.extend(c.await.unwrap());
    }
    done.store(true, Ordering::Relaxed);
    let edits = editor.await.unwrap();
    assert_eq!(answered.len(), 1000);
    assert!(
        edits >= 2,
        "the address and the password changed during the calls: {edits}"
    );
    // Both addresses served: the edits took effect while calls flowed.
    assert!(answered.iter().any(|t| t == "a") && answered.iter().any(|t| t == "b"));
    assert!(conn.stats().generation > 2);
    Arc::try_unwrap(node).ok().unwrap().shutdown().await;
}

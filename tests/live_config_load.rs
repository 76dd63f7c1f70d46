//! The live-configuration load test: the InvoiceDispatcher under continuous load while its Swift
//! credentials and pool size are edited 50 times through the admin API, a channel is added, and
//! one is deactivated and reactivated. No request on an active channel may fail, and after each
//! edit Swift must see the new credentials.
//!
//! Prints the time from each admin write to the first Swift request made with the new
//! credentials (median and max): `cargo test --test live_config_load -- --nocapture`.
#![allow(
    clippy::expect_used,
    reason = "helpers outside #[test] functions panic on what would fail the test anyway"
)]

use invoice_dispatcher as app;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::{AdminSettings, AppConfig};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};
use zato::config::Format;

const TOKEN: &str = "load-test-admin-token";
const EDITS: u32 = 50;
const CLIENTS: usize = 6;
const MIN_REQUESTS: u64 = 2_000;

/// Swift auth v1.0: a user `uN` with the key `kN` gets the token `tok-uN`.
struct Auth {
    storage: String,
}

impl Respond for Auth {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let header = |name: &str| {
            req.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let (user, key) = (header("x-auth-user"), header("x-auth-key"));
        let expected = user.strip_prefix('u').map(|n| format!("k{n}"));
        if expected.as_deref() != Some(key.as_str()) {
            return ResponseTemplate::new(401);
        }
        ResponseTemplate::new(200)
            .insert_header("x-storage-url", self.storage.as_str())
            .insert_header("x-auth-token", format!("tok-{user}").as_str())
    }
}

/// Object PUTs: any token the auth handed out is good; records when each token was first seen.
struct Objects {
    first_seen: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Respond for Objects {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let token = req
            .headers
            .get("x-auth-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if !token.starts_with("tok-u") {
            return ResponseTemplate::new(401);
        }
        self.first_seen
            .lock()
            .expect("first seen")
            .entry(token)
            .or_insert_with(Instant::now);
        ResponseTemplate::new(201)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_live_edits_under_load_fail_no_request() {
    let swift = MockServer::start().await;
    let first_seen = Arc::new(Mutex::new(HashMap::new()));
    Mock::given(method("GET"))
        .and(path("/auth/v1.0"))
        .respond_with(Auth {
            storage: format!("{}/v1/AUTH_test", swift.uri()),
        })
        .mount(&swift)
        .await;
    Mock::given(method("PUT"))
        .respond_with(Objects {
            first_seen: first_seen.clone(),
        })
        .mount(&swift)
        .await;

    let mut config = AppConfig::parse(
        include_str!("../examples/invoice_dispatcher/config.json"),
        Format::Json,
    )
    .expect("the example's config parses");
    config.swift.auth_url = Some(format!("{}/auth/v1.0", swift.uri()));
    config.swift.user = Some("u0".into());
    config.swift.key = Some("k0".into());
    config.swift.retries = 0;
    let running = app::start_with_admin(
        config,
        "127.0.0.1:0",
        None,
        Some(AdminSettings {
            addr: "127.0.0.1:0".into(),
            token: TOKEN.to_owned().into(),
        }),
    )
    .await
    .expect("the example starts");
    let base = format!("http://{}", running.http.local_addr());
    let admin = format!(
        "http://{}",
        running.admin.as_ref().expect("admin").local_addr()
    );
    let client = reqwest::Client::new();

    // The load: clients posting invoices on the JSON channel, which stays active throughout.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let mut load = Vec::new();
    for _ in 0..CLIENTS {
        let (stop, sent, failures, client) =
            (stop.clone(), sent.clone(), failures.clone(), client.clone());
        let url = format!("{base}/invoice.dispatcher?target=CRM&target=Billing");
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let resp = client.post(&url).body(r#"{"id":"123"}"#).send().await;
                sent.fetch_add(1, Ordering::Relaxed);
                match resp {
                    Ok(r) if r.status() == 200 => {}
                    Ok(r) => {
                        let status = r.status();
                        let body = r.text().await.unwrap_or_default();
                        failures
                            .lock()
                            .expect("failures")
                            .push(format!("{status} {body}"));
                    }
                    Err(e) => failures.lock().expect("failures").push(e.to_string()),
                }
            }
        }));
    }

    let patch = |path: &str, body: serde_json::Value| {
        client
            .patch(format!("{admin}{path}"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    let status_of = |url: String| {
        let client = client.clone();
        async move {
            client
                .post(url)
                .body(r#"{"id":"123"}"#)
                .send()
                .await
                .expect("answer")
                .status()
                .as_u16()
        }
    };
    let mut latencies = Vec::new();
    for i in 1..=EDITS {
        let written = Instant::now();
        let resp = patch(
            "/api/outgoing/swift/Invoice%20Dispatcher",
            json!({"user": format!("u{i}"), "key": format!("k{i}"), "pool_size": 2 + i % 5}),
        )
        .await
        .expect("admin answers");
        assert_eq!(
            resp.status(),
            200,
            "edit {i}: {}",
            resp.text().await.unwrap_or_default()
        );
        // The new pool authenticates with the new credentials on its first checkout.
        let token = format!("tok-u{i}");
        let seen = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                if let Some(at) = first_seen.lock().expect("first seen").get(&token) {
                    break *at;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("edit {i}: Swift never saw the new credentials"));
        latencies.push(seen.saturating_duration_since(written));

        match i {
            10 => {
                let resp = client
                    .post(format!("{admin}/api/channels/http"))
                    .bearer_auth(TOKEN)
                    .json(&json!({"name": "dispatch.v2", "url_path": "/v2/dispatch", "service": "invoice.dispatcher"}))
                    .send()
                    .await
                    .expect("admin answers");
                assert_eq!(resp.status(), 201);
                assert_eq!(
                    status_of(format!("{base}/v2/dispatch?target=CRM")).await,
                    200
                );
            }
            20 => {
                let resp = patch(
                    "/api/channels/http/dispatch.v2",
                    json!({"is_active": false}),
                )
                .await
                .expect("admin answers");
                assert_eq!(resp.status(), 200);
                assert_eq!(
                    status_of(format!("{base}/v2/dispatch?target=CRM")).await,
                    503
                );
            }
            30 => {
                assert_eq!(
                    status_of(format!("{base}/v2/dispatch?target=CRM")).await,
                    503
                );
                let resp = patch("/api/channels/http/dispatch.v2", json!({"is_active": true}))
                    .await
                    .expect("admin answers");
                assert_eq!(resp.status(), 200);
                assert_eq!(
                    status_of(format!("{base}/v2/dispatch?target=CRM")).await,
                    200
                );
            }
            _ => {}
        }
    }
    // Thousands of requests in all.
    let deadline = Instant::now() + Duration::from_secs(120);
    while sent.load(Ordering::Relaxed) < MIN_REQUESTS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.expect("a load client");
    }
    let failures = failures.lock().expect("failures").clone();
    let total = sent.load(Ordering::Relaxed);
    assert!(total >= MIN_REQUESTS, "only {total} requests were sent");
    assert!(
        failures.is_empty(),
        "{} of {total} failed, first: {:?}",
        failures.len(),
        failures.first()
    );

    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{total} requests, 0 failed; {EDITS} edits: admin write to the new pool serving: median {:.1} ms, max {:.1} ms",
        ms(latencies[latencies.len() / 2]),
        ms(latencies[latencies.len() - 1]),
    );
    let generation = running
        .platform
        .outgoing()
        .get::<zato::swift::SwiftConnection>(app::CONNECTION)
        .expect("the connection")
        .stats()
        .generation;
    assert_eq!(generation, u64::from(EDITS) + 1, "one new pool per edit");
    running.shutdown().await;
}

//! The InvoiceDispatcher with 10 targets against a Swift that takes 20 ms to answer each PUT
//! (wiremock), one dispatch after another: with its writes one at a time (a pool of 1 client,
//! as the dispatcher stored before its writes ran concurrently) and concurrently (the example's
//! pool of 5, at most 4 writes at once), in the same run.
//!
//! Run with `cargo bench --bench dispatch_latency`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "a bench panics on any setup error"
)]

use invoice_dispatcher as app;

use std::time::{Duration, Instant};

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TARGETS: usize = 10;
const DISPATCHES: usize = 30;
const LATENCY: Duration = Duration::from_millis(20);

async fn swift() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/auth/v1.0"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-Storage-Url", format!("{}/v1/AUTH_test", server.uri()))
                .insert_header("X-Auth-Token", "tk-1"),
        )
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(201).set_delay(LATENCY))
        .mount(&server)
        .await;
    server
}

/// Milliseconds per dispatch, median and mean, with a pool of `pool_size` clients.
async fn measure(server: &MockServer, pool_size: u32) -> (f64, f64) {
    let mut config = app::AppConfig::parse(
        include_str!("../examples/invoice_dispatcher/config.json"),
        zato::config::Format::Json,
    )
    .unwrap();
    config.swift.auth_url = Some(format!("{}/auth/v1.0", server.uri()));
    config.swift.user = Some("test:tester".into());
    config.swift.key = Some("testing".into());
    config.swift.pool_size = pool_size;
    let running = app::start(config, "127.0.0.1:0", None).await.unwrap();
    let query: Vec<String> = (0..TARGETS).map(|i| format!("target=T{i}")).collect();
    let url = format!(
        "http://{}/invoice.dispatcher?{}",
        running.http.local_addr(),
        query.join("&")
    );
    let client = reqwest::Client::new();
    let mut took = Vec::with_capacity(DISPATCHES);
    for i in 0..=DISPATCHES {
        let started = Instant::now();
        let resp = client
            .post(&url)
            .body(format!(r#"{{"id":"{i}"}}"#))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        // The first dispatch authenticates and opens the connections: not counted.
        if i > 0 {
            took.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    running.shutdown().await;
    took.sort_by(f64::total_cmp);
    let mean = took.iter().sum::<f64>() / took.len() as f64;
    (took[took.len() / 2], mean)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = swift().await;
        println!(
            "{DISPATCHES} dispatches of one invoice to {TARGETS} targets, each PUT answered after {} ms",
            LATENCY.as_millis()
        );
        let (seq_median, seq_mean) = measure(&server, 1).await;
        let (conc_median, conc_mean) = measure(&server, 5).await;
        println!("| writes | median ms per dispatch | mean ms |");
        println!("| --- | --- | --- |");
        println!("| one at a time (pool of 1) | {seq_median:.1} | {seq_mean:.1} |");
        println!("| concurrent, at most 4 (pool of 5) | {conc_median:.1} | {conc_mean:.1} |");
        println!("concurrent/one-at-a-time median ratio: {:.2}", conc_median / seq_median);
    });
}

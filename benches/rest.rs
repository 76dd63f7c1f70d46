//! GET of a small JSON reply from a local hyper server on loopback: through an outgoing REST
//! connection (`conn.get(..)`, with its pool slots, breaker and metrics) and through a raw
//! reqwest client, side by side in the same run, at 1 and 16 concurrent calls. The goal is the
//! connection ≥ 0.95× raw reqwest's requests per second.
//!
//! Run with `cargo bench --bench rest`; the last lines print each round's ratio and their median.
#![allow(
    clippy::unwrap_used,
    missing_docs,
    reason = "a bench panics on any setup error; criterion's macros generate undocumented items"
)]

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::task::JoinSet;
use zato::rest::{HttpConnection, RestConfig};

const CONCURRENCY: u64 = 16;

struct Setup {
    conn: Arc<HttpConnection>,
    raw: reqwest::Client,
    url: String,
}

/// A hyper HTTP/1.1 server answering every request with a small JSON body.
async fn server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let _ = tcp.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|_req| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                        br#"{"id":"123","stored":["CRM","Billing"]}"#,
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

async fn setup() -> Arc<Setup> {
    let base = server().await;
    let mut config = RestConfig::new("bench", base.clone());
    config.pool_size = CONCURRENCY as u32;
    let conn = Arc::new(HttpConnection::standalone(config).unwrap());
    let raw = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(CONCURRENCY as usize)
        .build()
        .unwrap();
    Arc::new(Setup {
        conn,
        raw,
        url: format!("{base}/invoices/123"),
    })
}

impl Setup {
    async fn call(&self, through_conn: bool) {
        let body = if through_conn {
            let r = self
                .conn
                .get("/invoices/{id}")
                .param("id", 123)
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            r.body().clone()
        } else {
            let r = self.raw.get(&self.url).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200);
            r.bytes().await.unwrap()
        };
        assert!(!body.is_empty());
    }
}

async fn run(s: &Arc<Setup>, through_conn: bool, iters: u64, concurrency: u64) -> Duration {
    let start = Instant::now();
    let mut set = JoinSet::new();
    for w in 0..concurrency {
        let s = s.clone();
        let n = iters / concurrency + u64::from(w < iters % concurrency);
        set.spawn(async move {
            for _ in 0..n {
                s.call(through_conn).await;
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let s = rt.block_on(setup());
    for (label, concurrency) in [("sequential", 1), ("concurrent16", CONCURRENCY)] {
        let mut group = c.benchmark_group(format!("rest_get/{label}"));
        group.throughput(Throughput::Elements(1));
        group.measurement_time(Duration::from_secs(5));
        for (name, through_conn) in [("raw_reqwest", false), ("outgoing_http", true)] {
            group.bench_function(name, |b| {
                b.iter_custom(|iters| rt.block_on(run(&s, through_conn, iters, concurrency)))
            });
        }
        group.finish();
    }
    // The ratio the issue asks for, in interleaved rounds so that a load change on the machine
    // hits both paths alike; the median of the rounds' ratios.
    const CALLS: u64 = 4000;
    for (label, concurrency) in [("sequential", 1), ("concurrent16", CONCURRENCY)] {
        let mut ratios = Vec::new();
        for round in 0..7 {
            let (raw, conn) = if round % 2 == 0 {
                let raw = rt.block_on(run(&s, false, CALLS, concurrency));
                (raw, rt.block_on(run(&s, true, CALLS, concurrency)))
            } else {
                let conn = rt.block_on(run(&s, true, CALLS, concurrency));
                (rt.block_on(run(&s, false, CALLS, concurrency)), conn)
            };
            let per_sec = |d: Duration| CALLS as f64 / d.as_secs_f64();
            println!(
                "rest_get/{label} round {round}: raw {:.0} req/s, outgoing.http {:.0} req/s, ratio {:.3}",
                per_sec(raw),
                per_sec(conn),
                raw.as_secs_f64() / conn.as_secs_f64()
            );
            ratios.push(raw.as_secs_f64() / conn.as_secs_f64());
        }
        ratios.sort_by(f64::total_cmp);
        println!(
            "rest_get/{label}: median ratio outgoing.http/raw = {:.3}",
            ratios[3]
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! What inbound security costs a request, as ratios against plain HTTP to an open channel
//! measured in the same run, round after round, the variants alternating:
//!
//! - `tls`: the same open channel over TLS, on kept-alive connections;
//! - `tls_handshake` against `plain_connect`: a new connection for every request, so each pays
//!   the TLS handshake (ECDSA P-256, TLS 1.3) or only the TCP connect;
//! - `jwt_hs256`, `jwt_rs256`: a channel checking an HS256 token, or an RS256 token against a
//!   JWKS (served by wiremock, fetched once and cached), over plain HTTP.
//!
//! ```sh
//! cargo bench -p zato-channels --bench inbound_security
//! ```
//!
//! Settings, from the environment: `ZATO_BENCH_ROUNDS` (5), `ZATO_BENCH_REQUESTS` per variant
//! and round (2000), `ZATO_BENCH_CONCURRENCY` (8). Server and client share one process and one
//! runtime: the figures are the cost of a request end to end on this machine, the client's
//! share included, which is why they are given only as ratios.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a bench fails loudly on what it did not expect"
)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use zato_channels::{HttpChannelConfig, HttpConfig, HttpServer, SecurityDef, TlsFiles};
use zato_core::{Platform, Request, ServiceError};
use zato_macros::service;

const SECRET: &str = "a-shared-secret-of-32-bytes-long";
const RSA1: &str = include_str!("../tests/fixtures/jwt/rsa1.pem");
const N1: &str = include_str!("../tests/fixtures/jwt/n1.txt");

#[service(name = "bench.ping", crate = "zato_core")]
async fn ping(_req: Request<()>) -> Result<(), ServiceError> {
    Ok(())
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn exp() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600
}

/// Sends `n` GETs of `url` with `token`, `concurrency` at a time; the time it took.
async fn load(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    n: usize,
    concurrency: usize,
) -> Duration {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, token) = (client.clone(), url.to_owned(), token.map(str::to_owned));
        let share = n / concurrency;
        tasks.push(tokio::spawn(async move {
            for _ in 0..share {
                let mut req = client.get(&url);
                if let Some(token) = &token {
                    req = req.bearer_auth(token);
                }
                let resp = req.send().await.unwrap();
                assert_eq!(resp.status(), 200);
                resp.bytes().await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    started.elapsed()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

fn main() {
    let rounds = env("ZATO_BENCH_ROUNDS", 5);
    let requests = env("ZATO_BENCH_REQUESTS", 2000);
    let concurrency = env("ZATO_BENCH_CONCURRENCY", 8).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let dir = std::env::temp_dir().join(format!("zato-bench-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();

        let idp = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::path("/jwks.json"))
            .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(json!({"keys": [
                {"kty": "RSA", "kid": "k1", "alg": "RS256", "n": N1.trim(), "e": "AQAB"}
            ]})))
            .mount(&idp)
            .await;
        let jwt = |name: &str, algorithm: &str, secret: Option<&str>, jwks: Option<String>| -> SecurityDef {
            serde_json::from_value(json!({"type": "jwt", "name": name, "algorithm": algorithm,
                "secret": secret, "jwks_url": jwks, "audience": "bench"}))
            .unwrap()
        };
        let security = vec![
            jwt("hs", "HS256", Some(SECRET), None),
            jwt("rs", "RS256", None, Some(format!("{}/jwks.json", idp.uri()))),
        ];
        let channels = vec![
            HttpChannelConfig::new("open", "/open", "bench.ping"),
            HttpChannelConfig::new("hs", "/hs", "bench.ping").with_security("hs"),
            HttpChannelConfig::new("rs", "/rs", "bench.ping").with_security("rs"),
        ];
        let serve = |tls: bool| {
            let (channels, security) = (channels.clone(), security.clone());
            let dir = dir.clone();
            async move {
                let platform = Platform::new();
                platform.services().deploy(ping).unwrap();
                let server = HttpServer::bind("127.0.0.1:0", platform).await.unwrap();
                if tls {
                    server
                        .set_tls(Some(TlsFiles::new(dir.join("cert.pem"), dir.join("key.pem"))))
                        .unwrap();
                }
                server.apply_config(HttpConfig::new(channels, security)).unwrap();
                server.start().await.unwrap();
                server
            }
        };
        let plain = serve(false).await;
        let tls = serve(true).await;
        let root = reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap();
        let client = |pooled: bool| {
            let mut b = reqwest::Client::builder()
                .use_rustls_tls()
                .tls_built_in_root_certs(false)
                .add_root_certificate(root.clone());
            if !pooled {
                b = b.pool_max_idle_per_host(0);
            }
            b.build().unwrap()
        };
        let (pooled, fresh) = (client(true), client(false));
        let plain_url = |path: &str| format!("http://127.0.0.1:{}{path}", plain.local_addr().port());
        let tls_url = format!("https://localhost:{}/open", tls.local_addr().port());
        let claims = json!({"sub": "bench", "aud": "bench", "exp": exp()});
        let hs = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap();
        let mut rs_header = Header::new(Algorithm::RS256);
        rs_header.kid = Some("k1".to_owned());
        let rs = jsonwebtoken::encode(&rs_header, &claims, &EncodingKey::from_rsa_pem(RSA1.as_bytes()).unwrap()).unwrap();

        // Warm-up: connections, the JWKS fetched once.
        load(&pooled, &plain_url("/rs"), Some(&rs), 64, 8).await;
        load(&pooled, &tls_url, None, 64, 8).await;

        let names = ["tls", "jwt_hs256", "jwt_rs256", "tls_handshake"];
        let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
        let n = requests;
        let c = concurrency;
        for round in 1..=rounds {
            let base = load(&pooled, &plain_url("/open"), None, n, c).await.as_secs_f64();
            let over_tls = load(&pooled, &tls_url, None, n, c).await.as_secs_f64();
            let hs_t = load(&pooled, &plain_url("/hs"), Some(&hs), n, c).await.as_secs_f64();
            let rs_t = load(&pooled, &plain_url("/rs"), Some(&rs), n, c).await.as_secs_f64();
            // Handshakes are slower: a quarter of the requests.
            let connect = load(&fresh, &plain_url("/open"), None, n / 4, c).await.as_secs_f64();
            let handshake = load(&fresh, &tls_url, None, n / 4, c).await.as_secs_f64();
            let per = |t: f64, k: usize| t / k as f64 * 1e6;
            println!(
                "round {round}: per request (µs): plain {:.1}, tls {:.1}, jwt_hs256 {:.1}, jwt_rs256 {:.1}; new connection: plain {:.1}, tls {:.1}",
                per(base, n), per(over_tls, n), per(hs_t, n), per(rs_t, n), per(connect, n / 4), per(handshake, n / 4)
            );
            for (i, r) in [over_tls / base, hs_t / base, rs_t / base, handshake / connect].into_iter().enumerate() {
                ratios[i].push(r);
            }
        }
        println!("median of per-round ratios over {rounds} rounds (1.00 = the baseline):");
        for (name, r) in names.iter().zip(ratios) {
            let base = if *name == "tls_handshake" { "plain_connect" } else { "plain" };
            println!("  {name} / {base}: {:.2}", median(r));
        }
        plain.platform().clone().shutdown().await;
        tls.platform().clone().shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
    });
}

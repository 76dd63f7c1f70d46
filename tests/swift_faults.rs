//! The InvoiceDispatcher under Swift faults, driven through its real HTTP channel: bursts of
//! 503, answers slower than the timeout, connection resets, a token expiring mid-run and an
//! exhausted pool. In each case the dispatcher either stores the invoice at every target, or
//! answers an error naming exactly which targets were stored, which were not and which are
//! unknown; nothing is reported stored that Swift did not accept. And a target or a Swift answer
//! holding CR/LF cannot forge a log line.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "helpers outside #[test] functions panic on what would fail the test anyway"
)]

use invoice_dispatcher as app;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::{AppConfig, Running};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, Request as MockRequest, ResponseTemplate};
use zato::swift::SwiftOutgoing;

const INVOICE: &str = r#"{"id":"123"}"#;
const ACCOUNT: &str = "/v1/AUTH_test";

/// The example's configuration against an auth v1.0 at `auth_base`, with small timeouts and
/// backoffs so each fault costs milliseconds.
fn config(auth_base: &str, retries: u32) -> AppConfig {
    let mut config = AppConfig::parse(
        include_str!("../examples/invoice_dispatcher/config.json"),
        zato::config::Format::Json,
    )
    .expect("the example's config parses");
    config.swift.auth_url = Some(format!("{auth_base}/auth/v1.0"));
    config.swift.user = Some("test:tester".into());
    config.swift.key = Some("testing".into());
    config.swift.retries = retries;
    config.swift.starting_backoff = 0.01;
    config.swift.max_backoff = 0.02;
    config.swift.timeout = 5.0;
    config
}

async fn start(config: AppConfig) -> (Running, String) {
    let running = app::start(config, "127.0.0.1:0", None)
        .await
        .expect("the example starts");
    let base = format!("http://{}", running.http.local_addr());
    (running, base)
}

/// Mounts auth v1.0 handing out `token` and a storage URL on `storage_base`.
async fn mount_auth(server: &MockServer, storage_base: &str, token: &str) {
    Mock::given(method("GET"))
        .and(path("/auth/v1.0"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-Storage-Url", format!("{storage_base}{ACCOUNT}"))
                .insert_header("X-Auth-Token", token),
        )
        .mount(server)
        .await;
}

async fn swift_mock() -> MockServer {
    let server = MockServer::start().await;
    mount_auth(&server, &server.uri(), "tk-1").await;
    server
}

fn object_path(target: &str) -> String {
    format!("{ACCOUNT}/{target}/{}", app::OBJECT)
}

async fn dispatch(base: &str, targets: &[&str]) -> (u16, serde_json::Value) {
    let query: Vec<String> = targets.iter().map(|t| format!("target={t}")).collect();
    let resp = reqwest::Client::new()
        .post(format!("{base}/invoice.dispatcher?{}", query.join("&")))
        .body(INVOICE)
        .send()
        .await
        .expect("request sent");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("a JSON answer"))
}

/// What a failed dispatch reported, target by target.
#[derive(Debug, Default, PartialEq)]
struct Report {
    stored: Vec<String>,
    not_stored: Vec<String>,
    unknown: Vec<String>,
}

impl Report {
    fn of(answer: &serde_json::Value) -> Report {
        let message = answer["message"].as_str().expect("an error message");
        let report = message
            .strip_prefix("outgoing connection `Invoice Dispatcher`: ")
            .expect("the connection is named");
        let (lists, _reasons) = report.split_once("; reasons: ").expect("reasons");
        let mut out = Report::default();
        for part in lists.split("; ") {
            let (label, names) = part.split_once(": ").expect("label: names");
            let names: Vec<String> = if names == "none" {
                Vec::new()
            } else {
                names
                    .split(", ")
                    .map(|n| n.trim_matches('"').to_owned())
                    .collect()
            };
            match label {
                "stored for" => out.stored = names,
                "not stored for" => out.not_stored = names,
                "unknown for" => out.unknown = names,
                other => panic!("unexpected part {other:?} in {message}"),
            }
        }
        out
    }
}

fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

fn puts_to<'a>(requests: &'a [MockRequest], target: &str) -> Vec<&'a MockRequest> {
    let p = object_path(target);
    requests
        .iter()
        .filter(|r| r.method.as_str() == "PUT" && r.url.path() == p)
        .collect()
}

#[tokio::test]
async fn a_burst_of_503s_is_retried_until_every_target_is_stored() {
    let server = swift_mock().await;
    Mock::given(method("PUT"))
        .and(path(object_path("CRM")))
        .respond_with(ResponseTemplate::new(503).set_body_string("overloaded"))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    let (running, base) = start(config(&server.uri(), 3)).await;
    let (status, answer) = dispatch(&base, &["CRM", "Billing"]).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, serde_json::json!({"stored": ["CRM", "Billing"]}));
    let requests = server.received_requests().await.unwrap();
    // Three 503s, then the 201.
    assert_eq!(puts_to(&requests, "CRM").len(), 4);
    assert_eq!(puts_to(&requests, "Billing").len(), 1);
    for put in puts_to(&requests, "CRM") {
        assert_eq!(&put.body[..], INVOICE.as_bytes());
    }
    running.shutdown().await;
}

#[tokio::test]
async fn retries_exhausted_by_503s_leave_exactly_that_target_not_stored() {
    let server = swift_mock().await;
    Mock::given(method("PUT"))
        .and(path(object_path("Billing")))
        .respond_with(ResponseTemplate::new(503).set_body_string("overloaded"))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    let (running, base) = start(config(&server.uri(), 2)).await;
    let (status, answer) = dispatch(&base, &["CRM", "Billing", "ERP"]).await;
    assert_eq!(status, 502, "{answer}");
    assert_eq!(
        Report::of(&answer),
        Report {
            stored: names(&["CRM", "ERP"]),
            not_stored: names(&["Billing"]),
            unknown: vec![],
        }
    );
    let message = answer["message"].as_str().unwrap();
    assert!(
        message.ends_with(
            r#"reasons: "Billing": swift answered 503 Service Unavailable to PUT object Billing/Invoice: overloaded"#
        ),
        "{message}"
    );
    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        puts_to(&requests, "Billing").len(),
        3,
        "one try, two retries"
    );
    assert_eq!(puts_to(&requests, "CRM").len(), 1);
    assert_eq!(puts_to(&requests, "ERP").len(), 1);
    running.shutdown().await;
}

#[tokio::test]
async fn an_answer_slower_than_the_timeout_leaves_that_target_unknown() {
    let server = swift_mock().await;
    Mock::given(method("PUT"))
        .and(path(object_path("Billing")))
        .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_secs(5)))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    let mut config = config(&server.uri(), 1);
    config.swift.timeout = 0.3;
    let (running, base) = start(config).await;
    let (status, answer) = tokio::time::timeout(
        Duration::from_secs(30),
        dispatch(&base, &["CRM", "Billing"]),
    )
    .await
    .expect("answered well before the slow Swift would have");
    assert_eq!(status, 504, "{answer}");
    // Swift received the invoice for Billing but never said it stored it: the dispatcher says
    // it does not know, rather than "stored" or "not stored".
    assert_eq!(
        Report::of(&answer),
        Report {
            stored: names(&["CRM"]),
            not_stored: vec![],
            unknown: names(&["Billing"]),
        }
    );
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .ends_with(r#"reasons: "Billing": request timed out after 300ms"#),
        "{answer}"
    );
    let requests = server.received_requests().await.unwrap();
    assert_eq!(puts_to(&requests, "Billing").len(), 2, "one try, one retry");
    assert_eq!(puts_to(&requests, "CRM").len(), 1);
    running.shutdown().await;
}

/// A storage endpoint that reads each request whole, then resets the connection for paths
/// containing `Reset`, and for the first `flaky_resets` requests to paths containing `Flaky`;
/// every other request gets a 201. It records the path of every request it read.
struct ResettingStorage {
    addr: std::net::SocketAddr,
    received: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ResettingStorage {
    async fn start(flaky_resets: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let seen = received.clone();
        let task = tokio::spawn(async move {
            let mut flaky_left = flaky_resets;
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let Some(path) = read_request(&mut stream).await else {
                    continue;
                };
                seen.lock().unwrap().push(path.clone());
                let reset = path.contains("Reset")
                    || (path.contains("Flaky") && flaky_left > 0 && {
                        flaky_left -= 1;
                        true
                    });
                if reset {
                    // SO_LINGER 0: closing sends a RST instead of a FIN.
                    let _ = stream.set_zero_linger();
                    drop(stream);
                } else {
                    let _ = stream
                        .write_all(
                            b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        )
                        .await;
                    let _ = stream.shutdown().await;
                }
            }
        });
        ResettingStorage {
            addr,
            received,
            task,
        }
    }

    fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn received(&self, target: &str) -> usize {
        let p = object_path(target);
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| **r == p)
            .count()
    }
}

impl Drop for ResettingStorage {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request (head and `Content-Length` body) and returns its path.
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    head.split(' ').nth(1).map(str::to_owned)
}

#[tokio::test]
async fn a_connection_reset_is_retried_and_the_invoice_stored() {
    let storage = ResettingStorage::start(1).await;
    let auth = MockServer::start().await;
    mount_auth(&auth, &storage.uri(), "tk-1").await;
    let (running, base) = start(config(&auth.uri(), 2)).await;
    let (status, answer) = dispatch(&base, &["CRM", "Flaky"]).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, serde_json::json!({"stored": ["CRM", "Flaky"]}));
    assert_eq!(storage.received("Flaky"), 2, "reset once, then stored");
    assert_eq!(storage.received("CRM"), 1);
    running.shutdown().await;
}

#[tokio::test]
async fn connection_resets_beyond_the_retries_leave_that_target_unknown() {
    let storage = ResettingStorage::start(0).await;
    let auth = MockServer::start().await;
    mount_auth(&auth, &storage.uri(), "tk-1").await;
    let (running, base) = start(config(&auth.uri(), 1)).await;
    let (status, answer) = dispatch(&base, &["CRM", "Reset"]).await;
    assert!(
        status == 502 || status == 504,
        "a broken Swift is not the caller's fault: {status} {answer}"
    );
    // The request was read whole before the reset: it may have been carried out.
    assert_eq!(
        Report::of(&answer),
        Report {
            stored: names(&["CRM"]),
            not_stored: vec![],
            unknown: names(&["Reset"]),
        }
    );
    assert_eq!(storage.received("Reset"), 2, "one try, one retry");
    assert_eq!(storage.received("CRM"), 1);
    running.shutdown().await;
}

#[tokio::test]
async fn a_token_expiring_mid_run_is_renewed_once_and_every_target_stored() {
    let server = MockServer::start().await;
    // The first authentication hands out tk-1, every later one tk-2.
    Mock::given(method("GET"))
        .and(path("/auth/v1.0"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-Storage-Url", format!("{}{ACCOUNT}", server.uri()))
                .insert_header("X-Auth-Token", "tk-1"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_auth(&server, &server.uri(), "tk-2").await;
    // tk-1 stores one object, then expires.
    Mock::given(method("PUT"))
        .and(header("x-auth-token", "tk-1"))
        .respond_with(ResponseTemplate::new(201))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(header("x-auth-token", "tk-1"))
        .respond_with(ResponseTemplate::new(401))
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(header("x-auth-token", "tk-2"))
        .and(path_regex(r"^/v1/AUTH_test/[^/]+/Invoice$"))
        .respond_with(ResponseTemplate::new(201))
        .with_priority(3)
        .mount(&server)
        .await;
    let (running, base) = start(config(&server.uri(), 0)).await;
    let targets = ["CRM", "Billing", "ERP", "Shipping", "Audit"];
    let (status, answer) = dispatch(&base, &targets).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, serde_json::json!({ "stored": targets }));

    let requests = server.received_requests().await.unwrap();
    let auths = requests
        .iter()
        .filter(|r| r.url.path() == "/auth/v1.0")
        .count();
    assert_eq!(auths, 2, "one authentication, one renewal");
    // Each target got its 201: the first tk-1 PUT, or a tk-2 PUT.
    let token = |r: &MockRequest| r.headers["x-auth-token"].to_str().unwrap().to_owned();
    let puts: Vec<&MockRequest> = requests
        .iter()
        .filter(|r| r.method.as_str() == "PUT")
        .collect();
    let first_tk1 = puts
        .iter()
        .find(|r| token(r) == "tk-1")
        .expect("a tk-1 PUT");
    for target in targets {
        let p = object_path(target);
        let accepted = first_tk1.url.path() == p
            || puts.iter().any(|r| r.url.path() == p && token(r) == "tk-2");
        assert!(accepted, "{target} was reported stored but never accepted");
    }
    running.shutdown().await;
}

#[tokio::test]
async fn an_exhausted_pool_is_a_503_naming_what_was_not_stored() {
    let server = swift_mock().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_millis(1500)))
        .mount(&server)
        .await;
    let mut config = config(&server.uri(), 0);
    config.swift.pool_size = 1;
    config.swift.pool_wait = 0.2;
    let (running, base) = start(config).await;

    // The pool's only client is taken: nothing can be stored, and the answer says so.
    let conn = running
        .platform
        .outgoing()
        .swift(app::CONNECTION)
        .expect("the connection exists");
    let held = conn.client().await.expect("a client");
    let (status, answer) = dispatch(&base, &["CRM", "Billing"]).await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(
        Report::of(&answer),
        Report {
            stored: vec![],
            not_stored: names(&["CRM", "Billing"]),
            unknown: vec![],
        }
    );
    assert!(
        answer["message"].as_str().unwrap().ends_with(
            r#"reasons: "CRM", "Billing": no free swift client within 200ms (pool size 1)"#
        ),
        "{answer}"
    );
    assert!(puts_to(&server.received_requests().await.unwrap(), "CRM").is_empty());
    drop(held);

    // Concurrent requests compete for the one client: whatever each answer says matches what
    // Swift received, and the pool's client is never lost.
    let targets = ["A", "B", "C", "D"];
    let answers = futures_util::future::join_all(targets.map(|t| {
        let base = base.clone();
        async move { (t, dispatch(&base, &[t]).await) }
    }))
    .await;
    let requests = server.received_requests().await.unwrap();
    let mut stored = 0;
    for (target, (status, answer)) in answers {
        match status {
            200 => {
                stored += 1;
                assert_eq!(answer, serde_json::json!({ "stored": [target] }));
                assert_eq!(puts_to(&requests, target).len(), 1, "{target}");
            }
            503 => {
                assert_eq!(Report::of(&answer).not_stored, names(&[target]));
                assert!(puts_to(&requests, target).is_empty(), "{target}");
            }
            other => panic!("{target}: unexpected {other} {answer}"),
        }
    }
    assert!(stored >= 1, "the pool's client served at least one request");
    let (status, answer) = dispatch(&base, &["After"]).await;
    assert_eq!(status, 200, "{answer}");
    running.shutdown().await;
}

/// A writer into a shared buffer, for capturing what tracing writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn crlf_in_a_target_or_in_swifts_answer_cannot_forge_a_log_line() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_ansi(false)
        .without_time()
        .with_writer(move || writer.clone())
        .finish();
    // This test's runtime is single-threaded: every task it spawns logs on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);
    // With a single dispatcher registered, tracing decides whether an event is enabled from the
    // dispatcher of whichever thread reaches it first, and caches that for every thread: another
    // test of this binary reaching `service failed` first, on a thread with no subscriber, would
    // disable it here too. A second dispatcher alive makes tracing ask every dispatcher.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());

    let server = swift_mock().await;
    Mock::given(method("PUT"))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("content-type", "text/plain")
                .set_body_string("busy\r\nERROR forged from swift\n"),
        )
        .mount(&server)
        .await;
    let (running, base) = start(config(&server.uri(), 1)).await;
    let client = reqwest::Client::new();
    // A target with CR/LF is refused (it cannot be a container name) without a raw line break
    // anywhere; a Swift error body with CR/LF is logged (retry warning, service failure) on
    // one line.
    for query in [
        "target=CRM%0D%0AERROR%20forged%20from%20target",
        "target=CRM&target=Billing",
    ] {
        let resp = client
            .post(format!("{base}/invoice.dispatcher?{query}"))
            .body(INVOICE)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_client_error() || resp.status().is_server_error());
        let text = resp.text().await.unwrap();
        assert!(!text.contains('\r'), "{text}");
    }
    running.shutdown().await;

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("retrying"), "the retries were logged: {log}");
    assert!(
        log.contains("service failed"),
        "the failure was logged: {log}"
    );
    assert!(!log.contains('\r'), "{log}");
    for line in log.lines() {
        let level = line.trim_start().split(' ').next().unwrap_or_default();
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level),
            "a line that is not an event of its own: {line:?}"
        );
        assert!(
            !line.trim_start().starts_with("ERROR forged"),
            "a forged line: {line:?}"
        );
    }
}

//! The bad-input corpus: every file in the workspace's `tests/bad_input/` is one hostile request,
//! sent over a raw TCP connection to a live listener serving JSON, XML and SOAP channels whose
//! service takes every element type. Each must get the status and error kind its file expects,
//! with the cid, never a 5xx; afterwards the listener must still serve a correct request.
//!
//! The file format is described in `tests/bad_input/README.md`. A case marked `# needs: NAME`
//! depends on work not merged yet: when it fails it is reported as pending, not as a failure.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test runner: anything unexpected fails the test loudly"
)]

mod support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate};
use rust_decimal::Decimal;
use support::read_response;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use uuid::Uuid;
use zato_channels::{HttpChannelConfig, HttpConfig, HttpServer};
use zato_core::sio::{Csv, Secret};
use zato_core::{DataFormat, Platform, Request, ServiceError};
use zato_macros::{SimpleIo, service};

/// How long the test listener waits for headers, for a body and for the service: short, so the
/// slow cases stay fast.
const SHORT: Duration = Duration::from_secs(1);

/// How long the runner waits for an answer: generous, for a loaded two-core machine.
const GENEROUS: Duration = Duration::from_secs(30);

/// The largest body the corpus channels take: larger than 100,000 levels of nesting, smaller
/// than the oversized-body cases.
const MAX_BODY: u64 = 1024 * 1024;

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Customer {
    name: String,
    vip: Option<bool>,
}

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Line {
    sku: String,
    qty: u32,
}

/// Every element type, each required but `note` and `customer.vip`.
#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Order {
    text: String,
    int: i64,
    small: i8,
    unsigned: u32,
    float: f64,
    flag: bool,
    amount: Decimal,
    day: NaiveDate,
    at: DateTime<FixedOffset>,
    id: Uuid,
    tags: Vec<String>,
    codes: Csv<u16>,
    note: Option<String>,
    password: Secret,
    customer: Customer,
    lines: Vec<Line>,
}

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Accepted {
    text: String,
    lines: u64,
}

#[service(name = "corpus.order", crate = "zato_core")]
async fn order(req: Request<Order>) -> Result<Accepted, ServiceError> {
    let o = req.input;
    Ok(Accepted {
        text: o.text,
        lines: u64::try_from(o.lines.len()).unwrap_or(u64::MAX),
    })
}

#[service(name = "corpus.ping", crate = "zato_core")]
async fn ping(_req: Request<()>) -> Result<(), ServiceError> {
    Ok(())
}

/// One file of the corpus.
#[derive(Debug)]
struct Case {
    name: String,
    status: u16,
    /// The error's `code`; `None` for an answer with no body to read (hyper's own).
    kind: Option<String>,
    /// Whether the answer carries X-Zato-CID (everything but hyper's own answers).
    cid: bool,
    needs: Option<String>,
    /// Send the body one byte per this many milliseconds.
    trickle: Option<Duration>,
    /// The connection must be closed after the answer.
    then_close: bool,
    /// Text the answer's body must hold.
    body_contains: Option<String>,
    bytes: Vec<u8>,
    body_start: usize,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/bad_input")
}

/// Expands `{{repeat N TEXT}}` and `\xNN`.
fn expand(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("{{repeat ") {
            let end = after.find("}}").expect("an unclosed {{repeat");
            let (count, unit) = after[..end]
                .split_once(' ')
                .expect("{{repeat N TEXT}} needs a count and a text");
            let count: usize = count.parse().expect("a repeat count");
            let unit = expand(unit);
            for _ in 0..count {
                out.extend_from_slice(&unit);
            }
            rest = &after[end + 2..];
        } else if let Some(after) = rest.strip_prefix("\\x") {
            let byte = u8::from_str_radix(&after[..2], 16).expect("\\xNN with two hex digits");
            out.push(byte);
            rest = &after[2..];
        } else {
            let c = rest.chars().next().unwrap();
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

fn parse_case(path: &Path) -> Case {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.split_inclusive('\n').peekable();
    let (mut status, mut kind, mut cid, mut needs, mut trickle, mut then_close) =
        (None, None, true, None, None, false);
    let mut body_contains = None;
    while let Some(line) = lines.next_if(|l| l.starts_with('#')) {
        let directive = line.trim_start_matches('#').trim();
        let Some((key, value)) = directive.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "expect" => {
                let (code, k) = value.split_once(' ').unwrap_or((value, "-"));
                status = Some(code.parse::<u16>().expect("expect: STATUS KIND"));
                kind = (k.trim() != "-").then(|| k.trim().to_owned());
            }
            "cid" => cid = !value.starts_with("none"),
            "needs" => needs = Some(value.to_owned()),
            "trickle-ms" => trickle = Some(Duration::from_millis(value.parse().unwrap())),
            "then" => then_close = value == "close",
            "body-contains" => body_contains = Some(value.to_owned()),
            _ => {}
        }
    }
    let request: String = lines.collect();
    let (head, body) = match request.split_once("\n\n") {
        Some((head, body)) => (head, body.strip_suffix('\n').unwrap_or(body)),
        None => (request.trim_end_matches('\n'), ""),
    };
    let body = expand(body);
    let head = head.replace("{{len}}", &body.len().to_string());
    let mut bytes = Vec::new();
    for line in head.split('\n') {
        bytes.extend_from_slice(&expand(line));
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"\r\n");
    let body_start = bytes.len();
    bytes.extend_from_slice(&body);
    Case {
        status: status.unwrap_or_else(|| panic!("{name}: no `# expect:` line")),
        name,
        kind,
        cid,
        needs,
        trickle,
        then_close,
        body_contains,
        bytes,
        body_start,
    }
}

async fn serve() -> HttpServer {
    let platform = Platform::new();
    platform.services().deploy(order).unwrap();
    platform.services().deploy(ping).unwrap();
    let channel = |name: &str, path: &str, format| {
        HttpChannelConfig::new(name, path, "corpus.order")
            .with_data_format(format)
            .with_methods(["POST"])
            .with_timeout(SHORT)
            .with_max_body_size(MAX_BODY)
    };
    let config = HttpConfig::new(
        vec![
            channel("json", "/json", DataFormat::Json),
            channel("xml", "/xml", DataFormat::Xml),
            channel("soap", "/soap", DataFormat::Soap),
            HttpChannelConfig::new("ping", "/ping", "corpus.ping").with_timeout(SHORT),
        ],
        vec![],
    );
    let server = HttpServer::bind("127.0.0.1:0", platform).await.unwrap();
    server.apply_config(config).unwrap();
    server.set_header_read_timeout(Some(SHORT));
    server.start().await.unwrap();
    server
}

/// The `code` of an error body: the JSON field, or the `<code>` element of XML and SOAP.
fn error_code(body: &str) -> Option<String> {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        return v["code"].as_str().map(str::to_owned);
    }
    let start = body.find("<code>")? + "<code>".len();
    let end = body[start..].find("</code>")?;
    Some(body[start..start + end].to_owned())
}

/// Sends the case and checks its answer; `Err` says what was wrong.
async fn run(addr: std::net::SocketAddr, case: &Case) -> Result<(), String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let bytes = case.bytes.clone();
    let (body_start, trickle) = (case.body_start, case.trickle);
    // Written on its own task, so an answer given before the whole request is sent is read;
    // write errors are the server closing early, which the answer explains.
    let writer = tokio::spawn(async move {
        match trickle {
            None => {
                let _ = write.write_all(&bytes).await;
            }
            Some(pause) => {
                if write.write_all(&bytes[..body_start]).await.is_err() {
                    return;
                }
                for b in &bytes[body_start..] {
                    if write.write_all(std::slice::from_ref(b)).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(pause).await;
                }
            }
        }
        std::future::pending::<()>().await;
    });
    let answer = tokio::time::timeout(GENEROUS, read_response(&mut read)).await;
    let outcome = check(case, answer, &mut read).await;
    writer.abort();
    outcome
}

async fn check(
    case: &Case,
    answer: Result<Option<(u16, Vec<String>, String)>, tokio::time::error::Elapsed>,
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> Result<(), String> {
    let (status, headers, body) = answer
        .map_err(|_| "no answer in time".to_owned())?
        .ok_or("the connection closed without an answer")?;
    let mut wrong = String::new();
    if status >= 500 {
        let _ = write!(wrong, "a 5xx ({status}); ");
    }
    if status != case.status {
        let _ = write!(wrong, "status {status}, expected {}; ", case.status);
    }
    let cid = headers
        .iter()
        .find_map(|h| h.strip_prefix("x-zato-cid:"))
        .map(str::trim);
    match (case.cid, cid) {
        (true, None) => wrong.push_str("no X-Zato-CID; "),
        (false, Some(_)) => wrong.push_str("an X-Zato-CID where hyper answers; "),
        (true, Some(cid))
            if status >= 400 && !body.is_empty() && !body.to_ascii_lowercase().contains(cid) =>
        {
            wrong.push_str("the body does not name the cid; ");
        }
        _ => {}
    }
    if let Some(kind) = &case.kind {
        let got = error_code(&body);
        if got.as_deref() != Some(kind) {
            let _ = write!(wrong, "kind {got:?}, expected {kind}; ");
        }
    }
    if let Some(text) = &case.body_contains
        && !body.contains(text.as_str())
    {
        let _ = write!(wrong, "the body does not hold `{text}`; ");
    }
    if case.then_close {
        match tokio::time::timeout(GENEROUS, read_response(read)).await {
            Ok(None) => {}
            Ok(Some((s, ..))) => {
                let _ = write!(
                    wrong,
                    "a second answer ({s}) on a connection that must close; "
                );
            }
            Err(_) => wrong.push_str("the connection stayed open; "),
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        let excerpt: String = body.chars().take(300).collect();
        Err(format!("{wrong}body: {excerpt}"))
    }
}

/// A correct request of every format, answered 200.
async fn assert_still_serving(addr: std::net::SocketAddr) {
    for file in [
        "ok_json.req",
        "ok_xml.req",
        "ok_soap11.req",
        "ok_soap12.req",
    ] {
        let mut case = parse_case(&corpus_dir().join("valid").join(file));
        case.status = 200;
        case.kind = None;
        run(addr, &case)
            .await
            .unwrap_or_else(|e| panic!("valid/{file}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_is_the_callers_fault_and_the_listener_keeps_serving() {
    let server = serve().await;
    let addr = server.local_addr();
    assert_still_serving(addr).await;

    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "req"))
        .collect();
    files.sort();
    assert!(files.len() >= 100, "only {} cases", files.len());
    let cases: Vec<Arc<Case>> = files.iter().map(|f| Arc::new(parse_case(f))).collect();

    // The cases run concurrently, a few at a time: the slow ones wait out the short timeouts.
    let mut results = Vec::new();
    for chunk in cases.chunks(8) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|case| {
                let case = Arc::clone(case);
                tokio::spawn(async move { run(addr, &case).await })
            })
            .collect();
        for task in tasks {
            results.push(task.await.unwrap());
        }
    }

    let (mut failed, mut pending, mut passed) = (Vec::new(), Vec::new(), 0);
    for (case, result) in cases.iter().zip(results) {
        match (result, &case.needs) {
            (Ok(()), None) => passed += 1,
            (Ok(()), Some(needs)) => {
                println!("passes now, remove `# needs: {needs}`: {}", case.name);
                passed += 1;
            }
            (Err(e), Some(needs)) => pending.push(format!("{} (needs {needs}): {e}", case.name)),
            (Err(e), None) => failed.push(format!("{}: {e}", case.name)),
        }
    }
    println!(
        "bad-input corpus: {passed} passed, {} pending, {} failed",
        pending.len(),
        failed.len()
    );
    for p in &pending {
        println!("pending: {p}");
    }
    assert_still_serving(addr).await;
    server.shutdown().await;
    assert!(
        failed.is_empty(),
        "{} cases failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

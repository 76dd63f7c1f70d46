//! The limits that keep a listener alive under hostile clients: the channel timeout covering a
//! body that trickles in, the connection cap, and the body memory budget.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers outside #[test] functions fail the test loudly on what it did not expect"
)]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::{RawConn, platform, read_response};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::task::JoinHandle;
use zato_channels::{DEFAULT_TIMEOUT, HttpChannelConfig, HttpConfig, HttpServer};

/// Long enough for a loaded two-core machine; never the figure a test is about.
const GENEROUS: Duration = Duration::from_secs(30);

/// Binds, configures with `tune`, then starts serving `channels`.
async fn serve(channels: Vec<HttpChannelConfig>, tune: impl FnOnce(&HttpServer)) -> HttpServer {
    let server = HttpServer::bind("127.0.0.1:0", platform()).await.unwrap();
    server
        .apply_config(HttpConfig::new(channels, vec![]))
        .unwrap();
    tune(&server);
    server.start().await.unwrap();
    server
}

fn header<'h>(headers: &'h [String], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find_map(|h| h.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

/// A POST head declaring `len` body bytes.
fn post_head(path: &str, len: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n"
    )
}

/// A JSON body of exactly `len` bytes that the `demo.lookup` service accepts.
fn lookup_body(len: usize) -> String {
    let body = r#"{"id":"slow"}"#;
    format!("{body}{}", " ".repeat(len - body.len()))
}

#[test]
fn every_channel_has_a_timeout_by_default() {
    let channel = HttpChannelConfig::new("a", "/a", "s");
    assert_eq!(channel.timeout, Some(Duration::from_secs(30)));
    assert_eq!(DEFAULT_TIMEOUT, Duration::from_secs(30));
    assert_eq!(channel.without_timeout().timeout, None);
}

/// Sends `bytes` one at a time, `pause` apart, until all are sent or the server stops reading.
fn trickle(mut write: OwnedWriteHalf, bytes: Vec<u8>, pause: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        for b in bytes {
            if write.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(pause).await;
        }
        // Held open: only the server may end this connection.
        std::future::pending::<()>().await;
    })
}

/// Asserts a JSON error of `status` and `code` whose cid is the X-Zato-CID header's.
fn assert_error(answer: &(u16, Vec<String>, String), status: u16, code: &str) {
    let (got, headers, body) = answer;
    assert_eq!(*got, status, "{headers:?} {body}");
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["code"], code, "{body}");
    let cid = header(headers, "x-zato-cid").expect("no X-Zato-CID");
    assert_eq!(v["cid"].as_str().unwrap().to_ascii_lowercase(), cid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_trickling_in_slower_than_the_timeout_is_a_408_and_the_connection_closes() {
    let server = serve(
        vec![
            HttpChannelConfig::new("lookup", "/lookup", "demo.lookup")
                .with_timeout(Duration::from_millis(500)),
        ],
        |_| {},
    )
    .await;
    let (mut read, mut write) = RawConn::connect(server.local_addr()).await.unwrap().split();
    let body = lookup_body(100);
    write
        .write_all(post_head("/lookup", body.len()).as_bytes())
        .await
        .unwrap();
    // One byte every 100 ms: the whole body would take 10 s, twenty times the timeout.
    let sender = trickle(write, body.into_bytes(), Duration::from_millis(100));
    let answer = tokio::time::timeout(GENEROUS, read_response(&mut read))
        .await
        .expect("the timeout did not cover the body")
        .expect("the connection closed without an answer");
    assert_error(&answer, 408, "request_timeout");
    assert_eq!(header(&answer.1, "connection"), Some("close"));
    let after = tokio::time::timeout(GENEROUS, read_response(&mut read)).await;
    assert!(matches!(after, Ok(None)), "{after:?}");
    sender.abort();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_until_one_closes() {
    let server = serve(
        vec![HttpChannelConfig::new("empty", "/empty", "demo.empty")],
        |s| {
            s.set_max_connections(2);
        },
    )
    .await;
    assert_eq!(server.max_connections(), 2);
    let addr: SocketAddr = server.local_addr();
    let mut first = RawConn::connect(addr).await.unwrap();
    let mut second = RawConn::connect(addr).await.unwrap();
    assert_eq!(first.get("/empty").await.unwrap().0, 204);
    assert_eq!(second.get("/empty").await.unwrap().0, 204);

    // The kernel completes the handshake, but the server does not accept: no answer.
    let mut third = RawConn::connect(addr).await.unwrap();
    third
        .send(b"GET /empty HTTP/1.1\r\nhost: test\r\n\r\n")
        .await;
    let early = tokio::time::timeout(Duration::from_millis(500), third.read_response()).await;
    assert!(early.is_err(), "a third connection was served: {early:?}");

    // Both open ones still work; once one closes, the third is served.
    assert_eq!(second.get("/empty").await.unwrap().0, 204);
    drop(first);
    let late = tokio::time::timeout(GENEROUS, third.read_response())
        .await
        .expect("the third connection was never served")
        .unwrap();
    assert_eq!(late.0, 204);
    drop((second, third));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_past_the_memory_budget_are_refused_with_503_and_retry_after() {
    let server = serve(
        vec![
            HttpChannelConfig::new("lookup", "/lookup", "demo.lookup"),
            HttpChannelConfig::new("empty", "/empty", "demo.empty"),
        ],
        |s| s.set_body_memory_budget(1000),
    )
    .await;
    let addr = server.local_addr();

    // Two slow uploads declare 400 bytes each, send 10 and stop: 800 of 1000 held.
    let mut slow = Vec::new();
    for _ in 0..2 {
        let (read, mut write) = RawConn::connect(addr).await.unwrap().split();
        let body = lookup_body(400);
        write
            .write_all(post_head("/lookup", 400).as_bytes())
            .await
            .unwrap();
        write.write_all(&body.as_bytes()[..10]).await.unwrap();
        slow.push((read, write, body));
    }
    tokio::time::timeout(GENEROUS, async {
        while server.body_memory_in_use() < 800 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the two uploads never held their declared lengths");
    assert_eq!(server.body_memory_in_use(), 800);

    // A third declared body would pass the budget: refused before it is read.
    let mut third = RawConn::connect(addr).await.unwrap();
    third.send(post_head("/lookup", 400).as_bytes()).await;
    let refused = tokio::time::timeout(GENEROUS, third.read_response())
        .await
        .unwrap()
        .unwrap();
    assert_error(&refused, 503, "unavailable");
    assert_eq!(header(&refused.1, "retry-after"), Some("5"));
    assert_eq!(header(&refused.1, "connection"), Some("close"));

    // A chunked body is counted as it arrives: 300 bytes do not fit in the 200 left.
    let mut chunked = RawConn::connect(addr).await.unwrap();
    let chunk = "x".repeat(300);
    chunked
        .send(
            format!(
                "POST /lookup HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n",
                chunk.len()
            )
            .as_bytes(),
        )
        .await;
    let refused = tokio::time::timeout(GENEROUS, chunked.read_response())
        .await
        .unwrap()
        .unwrap();
    assert_error(&refused, 503, "unavailable");

    // A request without a body is still served.
    let mut plain = RawConn::connect(addr).await.unwrap();
    assert_eq!(plain.get("/empty").await.unwrap().0, 204);

    // The first slow upload completes and is answered; its share is given back.
    let (mut read, mut write, body) = slow.remove(0);
    write.write_all(&body.as_bytes()[10..]).await.unwrap();
    let done = tokio::time::timeout(GENEROUS, read_response(&mut read))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.0, 200, "{done:?}");
    assert_eq!(server.body_memory_in_use(), 400);
    let mut fourth = RawConn::connect(addr).await.unwrap();
    let body = lookup_body(400);
    fourth
        .send(format!("{}{body}", post_head("/lookup", 400)).as_bytes())
        .await;
    let served = tokio::time::timeout(GENEROUS, fourth.read_response())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(served.0, 200, "{served:?}");
    drop(slow);
    server.shutdown().await;
}

/// Sends `body` in pieces of `piece` bytes, with a pause now and then so that the server reads
/// it as many frames, declared by `Content-Length` or chunked.
async fn send_in_pieces(conn: &mut RawConn, body: &[u8], piece: usize, chunked: bool) {
    let head = if chunked {
        "POST /lookup HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n".to_owned()
    } else {
        post_head("/lookup", body.len())
    };
    conn.send(head.as_bytes()).await;
    for (i, part) in body.chunks(piece).enumerate() {
        if chunked {
            let mut framed = format!("{:x}\r\n", part.len()).into_bytes();
            framed.extend_from_slice(part);
            framed.extend_from_slice(b"\r\n");
            conn.send(&framed).await;
        } else {
            conn.send(part).await;
        }
        if i % 64 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    if chunked {
        conn.send(b"0\r\n\r\n").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_of_several_mib_arriving_in_pieces_reaches_the_service_whole() {
    let server = serve(
        vec![
            HttpChannelConfig::new("lookup", "/lookup", "demo.lookup").with_max_body_size(8 << 20),
        ],
        |_| {},
    )
    .await;
    // An id of 3 MiB and some, every character in its place: the body spans several of the
    // blocks a body in pieces is gathered in, and a piece out of order would show.
    let id: String = (0..(3 << 20) + 777)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let body = format!(r#"{{"id":"{id}"}}"#);
    for (piece, chunked) in [(4096, false), (65_537, true), (1000, true)] {
        let mut conn = RawConn::connect(server.local_addr()).await.unwrap();
        send_in_pieces(&mut conn, body.as_bytes(), piece, chunked).await;
        let (status, _, answer) = tokio::time::timeout(GENEROUS, conn.read_response())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(status, 200, "{piece} {chunked}");
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert!(
            answer["id"] == id.as_str(),
            "{piece} {chunked}: the id came back changed"
        );
    }
}

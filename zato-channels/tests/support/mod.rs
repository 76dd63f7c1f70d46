//! Shared by the integration tests: services, a server on 127.0.0.1:0, a real HTTP client, and a
//! raw HTTP/1.1 connection for what a client library hides (chunked bodies, kept-alive sockets).

#![allow(
    dead_code,
    unreachable_pub,
    reason = "test helpers, each used by some tests"
)]
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] functions; a test fails loudly on what it did not expect"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Semaphore;
use zato_channels::{HttpChannelConfig, HttpConfig, HttpServer, SecurityDef};
use zato_core::{
    Context, OutgoingError, OutgoingErrorKind, Platform, Request, Response, Service, ServiceError,
};
use zato_macros::{SimpleIo, service};

/// The seed's input.
#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
pub struct Dispatch {
    pub target: Vec<String>,
    pub id: Option<String>,
}

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
pub struct Dispatched {
    pub stored: Vec<String>,
    pub id: Option<String>,
}

/// Echoes the targets and the invoice id: the seed's service without Swift.
#[service(name = "invoice.dispatcher", crate = "zato_core")]
pub async fn invoice_dispatcher(req: Request<Dispatch>) -> Result<Dispatched, ServiceError> {
    Ok(Dispatched {
        stored: req.input.target,
        id: req.input.id,
    })
}

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
pub struct Lookup {
    pub id: String,
}

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
pub struct Found {
    pub id: String,
    pub channel: String,
}

/// Answers with the `id` it was given and the channel it came through.
#[service(name = "demo.lookup", crate = "zato_core")]
pub async fn lookup(req: Request<Lookup>) -> Result<Found, ServiceError> {
    Ok(Found {
        id: req.input.id,
        channel: req.channel.name.to_string(),
    })
}

#[service(name = "demo.create", crate = "zato_core")]
pub async fn create(req: Request<Lookup>) -> Result<Response<Found>, ServiceError> {
    let out = Found {
        id: req.input.id,
        channel: req.channel.name.to_string(),
    };
    Ok(Response::new(out).with_status(http::StatusCode::CREATED))
}

#[service(name = "demo.empty", crate = "zato_core")]
pub async fn empty(_req: Request<()>) -> Result<Response<()>, ServiceError> {
    Ok(Response::new(()).with_status(http::StatusCode::NO_CONTENT))
}

#[service(name = "demo.forever", crate = "zato_core")]
pub async fn forever(_req: Request<()>) -> Result<(), ServiceError> {
    std::future::pending::<()>().await;
    Ok(())
}

#[service(name = "demo.swift.down", crate = "zato_core")]
pub async fn swift_down(_req: Request<()>) -> Result<(), ServiceError> {
    Err(OutgoingError::new(
        "Invoice Swift",
        OutgoingErrorKind::Unavailable,
        "no free connection",
    )
    .into())
}

#[service(name = "demo.swift.slow", crate = "zato_core")]
pub async fn swift_slow(_req: Request<()>) -> Result<(), ServiceError> {
    Err(OutgoingError::new(
        "Invoice Swift",
        OutgoingErrorKind::Timeout,
        "no answer in 5s",
    )
    .into())
}

#[service(name = "demo.swift.refused", crate = "zato_core")]
pub async fn swift_refused(_req: Request<()>) -> Result<(), ServiceError> {
    Err(OutgoingError::new(
        "Invoice Swift",
        OutgoingErrorKind::BadGateway,
        "401 from auth",
    )
    .into())
}

#[service(name = "demo.fail", crate = "zato_core")]
pub async fn fail(_req: Request<()>) -> Result<(), ServiceError> {
    let cause = std::io::Error::other("disk on fire at /var/secret/path");
    Err(ServiceError::internal_from(
        "could not file the invoice",
        cause,
    ))
}

/// Counts its calls: proof that a service ran, or did not.
#[derive(Debug, Default, Clone)]
pub struct Counter(pub Arc<AtomicUsize>);

impl Counter {
    pub fn calls(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Service for Counter {
    const NAME: &'static str = "demo.counter";
    type Input = ();
    type Output = ();

    async fn handle(&self, _: Request<()>, _: &Context) -> Result<Response<()>, ServiceError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(()))
    }
}

/// A service that tells when a request entered it and finishes only when the test says so.
#[derive(Debug, Clone)]
pub struct Gate {
    pub entered: Arc<Semaphore>,
    pub release: Arc<Semaphore>,
}

impl Gate {
    pub fn new() -> Self {
        Gate {
            entered: Arc::new(Semaphore::new(0)),
            release: Arc::new(Semaphore::new(0)),
        }
    }

    /// Waits until `n` requests are inside the service.
    pub async fn wait_entered(&self, n: u32) {
        self.entered.acquire_many(n).await.unwrap().forget();
    }

    /// Lets `n` requests out.
    pub fn open(&self, n: usize) {
        self.release.add_permits(n);
    }
}

impl Service for Gate {
    const NAME: &'static str = "demo.gate";
    type Input = ();
    type Output = ();

    async fn handle(&self, _: Request<()>, _: &Context) -> Result<Response<()>, ServiceError> {
        self.entered.add_permits(1);
        self.release.acquire().await.unwrap().forget();
        Ok(Response::new(()))
    }
}

/// A platform with every stateless service above deployed.
pub fn platform() -> Platform {
    let p = Platform::new();
    let s = p.services();
    s.deploy(invoice_dispatcher).unwrap();
    s.deploy(lookup).unwrap();
    s.deploy(create).unwrap();
    s.deploy(empty).unwrap();
    s.deploy(forever).unwrap();
    s.deploy(swift_down).unwrap();
    s.deploy(swift_slow).unwrap();
    s.deploy(swift_refused).unwrap();
    s.deploy(fail).unwrap();
    p
}

/// A running server and a client for it.
#[derive(Debug)]
pub struct TestServer {
    pub server: HttpServer,
    pub client: reqwest::Client,
    pub base: String,
}

impl TestServer {
    /// Serves `channels` and `security` on 127.0.0.1:0.
    pub async fn start(
        platform: Platform,
        channels: Vec<HttpChannelConfig>,
        security: Vec<SecurityDef>,
    ) -> TestServer {
        let server = HttpServer::bind("127.0.0.1:0", platform).await.unwrap();
        server
            .apply_config(HttpConfig::new(channels, security))
            .unwrap();
        server.start().await.unwrap();
        let base = format!("http://{}", server.local_addr());
        TestServer {
            server,
            client: reqwest::Client::new(),
            base,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Reply {
        Reply::from(self.client.get(self.url(path)).send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, content_type: &str, body: &str) -> Reply {
        let resp = self
            .client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        Reply::from(resp).await
    }

    pub async fn stop(self) {
        self.server.shutdown().await;
    }
}

/// GETs `url` with `client`.
pub async fn get(client: &reqwest::Client, url: &str) -> Reply {
    Reply::from(client.get(url).send().await.unwrap()).await
}

/// A reply as a test checks it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub async fn from(resp: reqwest::Response) -> Reply {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_else(|| panic!("no {name} header in {self:?}"))
    }

    pub fn cid(&self) -> &str {
        let cid = self.header("x-zato-cid");
        assert_eq!(cid.len(), 26, "{cid}");
        cid
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// Asserts a JSON error body of this status whose cid is the header's.
    pub fn assert_json_error(&self, status: u16, code: &str) -> serde_json::Value {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.header("content-type"), "application/json");
        let v = self.json();
        assert_eq!(v["status"], status, "{}", self.body);
        assert_eq!(v["code"], code, "{}", self.body);
        assert_eq!(v["cid"], self.cid(), "{}", self.body);
        v
    }
}

/// Reads one response with a Content-Length body (or none): (status, lowercase header lines,
/// body); `None` when the connection closes first.
pub async fn read_response<R>(stream: &mut R) -> Option<(u16, Vec<String>, String)>
where
    R: AsyncBufRead + Unpin,
{
    let mut status_line = String::new();
    if stream.read_line(&mut status_line).await.ok()? == 0 {
        return None;
    }
    let status = status_line.split(' ').nth(1)?.parse().ok()?;
    let mut headers = Vec::new();
    let mut len = 0;
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).await.ok()?;
        let line = line.trim_end().to_ascii_lowercase();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("content-length:") {
            len = v.trim().parse().ok()?;
        }
        headers.push(line);
    }
    let mut body = vec![0; len];
    stream.read_exact(&mut body).await.ok()?;
    Some((status, headers, String::from_utf8(body).ok()?))
}

/// One kept-alive HTTP/1.1 connection, spoken by hand.
#[derive(Debug)]
pub struct RawConn {
    stream: BufReader<TcpStream>,
}

impl RawConn {
    pub async fn connect(addr: std::net::SocketAddr) -> std::io::Result<RawConn> {
        Ok(RawConn {
            stream: BufReader::new(TcpStream::connect(addr).await?),
        })
    }

    /// Sends raw bytes.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.get_mut().write_all(bytes).await.unwrap();
    }

    /// Reads one response with a Content-Length body: (status, lowercase header lines, body).
    pub async fn read_response(&mut self) -> Option<(u16, Vec<String>, String)> {
        read_response(&mut self.stream).await
    }

    /// The connection's two halves, to write while a response may already be coming back.
    pub fn split(self) -> (BufReader<OwnedReadHalf>, OwnedWriteHalf) {
        let (read, write) = self.stream.into_inner().into_split();
        (BufReader::new(read), write)
    }

    /// Sends a GET and reads its response.
    pub async fn get(&mut self, path: &str) -> Option<(u16, Vec<String>, String)> {
        let req = format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n");
        self.send(req.as_bytes()).await;
        self.read_response().await
    }
}

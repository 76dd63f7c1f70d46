//! A test kit for your services (feature `testing`, meant for `[dev-dependencies]`): a node in
//! memory, typed and raw invocations, a test double for each outgoing kind under the name the
//! service uses, and time moved by hand.
//!
//! ```toml
//! [dev-dependencies]
//! zato = { version = "0.1", features = ["testing"] }
//! ```
//!
//! A [`TestNode`] runs in the test's own Tokio runtime: no listener, no file, no server, no
//! network beyond loopback (the Swift double is the local endpoint on `127.0.0.1`). A test takes
//! milliseconds.
//!
//! # A service, its Swift connection and a failing container
//!
//! ```
//! use zato::prelude::*;
//! use zato::testing::{Fault, TestNode};
//!
//! #[derive(SimpleIo, Debug)]
//! struct Store { target: String }
//!
//! #[service(name = "invoice.store")]
//! async fn store(req: Request<Store>, ctx: &Context) -> Result<(), ServiceError> {
//!     let swift = ctx.outgoing().swift("Invoices")?;
//!     let client = swift.client().await?;
//!     client.create_container(&req.input.target, &Default::default()).await?;
//!     client
//!         .put_object(&req.input.target, "invoice", "{}", &Default::default())
//!         .await?;
//!     Ok(())
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let node = TestNode::new().deploy(store);
//! let swift = node.swift("Invoices").await;
//! node.invoke::<store>(Store { target: "CRM".into() }).await.output();
//! assert_eq!(swift.object("CRM", "invoice").as_deref(), Some(&b"{}"[..]));
//!
//! // Swift answering 503 after the retry is a bad gateway, naming the connection.
//! swift.fail(Some("Billing"), Fault::Status(503));
//! let err = node.invoke::<store>(Store { target: "Billing".into() }).await.error();
//! assert_eq!(err.status().as_u16(), 502);
//! assert!(err.to_string().contains("`Invoices`"), "{err}");
//! # });
//! ```
//!
//! # A raw request, in any data format
//!
//! ```
//! use zato::prelude::*;
//! use zato::testing::TestNode;
//!
//! #[derive(SimpleIo, Debug)]
//! struct Hello { name: String }
//! #[derive(SimpleIo, Debug)]
//! struct Greeting { text: String }
//!
//! #[service(name = "hello")]
//! async fn hello(req: Request<Hello>, _ctx: &Context) -> Result<Greeting, ServiceError> {
//!     Ok(Greeting { text: format!("Hello, {}", req.input.name) })
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let node = TestNode::new().deploy(hello);
//! let reply = node.request("hello").xml("<request><name>Ann</name></request>").send().await;
//! assert_eq!(reply.status, 200);
//! assert!(reply.text().contains("<text>Hello, Ann</text>"));
//!
//! // Channel parameters, as a query string or an HTTP path gives them, and a bad request.
//! let reply = node.request("hello").query("name=Bob").send().await;
//! assert_eq!(reply.json()["text"], "Hello, Bob");
//! assert_eq!(node.request("hello").json("{}").send().await.status, 400);
//! # });
//! ```
//!
//! # Scheduled jobs, on a clock moved by hand
//!
//! ```
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//! use zato::prelude::*;
//! use zato::testing::TestNode;
//!
//! static RUNS: AtomicU32 = AtomicU32::new(0);
//!
//! #[service(name = "reports.hourly")]
//! async fn hourly(_req: Request<()>, _ctx: &Context) -> Result<(), ServiceError> {
//!     RUNS.fetch_add(1, Ordering::SeqCst);
//!     Ok(())
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let node = TestNode::new().deploy(hourly);
//! node.config(r#"{"channels": {"scheduler": [{"name": "hourly", "type": "interval",
//!     "hours": 1, "service": "reports.hourly"}]}}"#).await;
//! node.advance(Duration::from_secs(3 * 3600)).await;
//! // Jumped three hours at once: the latest run due fires, missed ones are not replayed.
//! assert_eq!(RUNS.load(Ordering::SeqCst), 1);
//! node.advance(Duration::from_secs(3600)).await;
//! assert_eq!(RUNS.load(Ordering::SeqCst), 2);
//! # });
//! ```
//!
//! # Background invocations, awaited
//!
//! ```
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use zato::prelude::*;
//! use zato::testing::TestNode;
//!
//! static AUDITED: AtomicBool = AtomicBool::new(false);
//!
//! #[service(name = "audit")]
//! async fn audit(_req: Request<()>, _ctx: &Context) -> Result<(), ServiceError> {
//!     tokio::time::sleep(std::time::Duration::from_millis(20)).await;
//!     AUDITED.store(true, Ordering::SeqCst);
//!     Ok(())
//! }
//!
//! #[service(name = "order")]
//! async fn order(_req: Request<()>, ctx: &Context) -> Result<(), ServiceError> {
//!     ctx.invoke_async("audit", serde_json::json!({}))?;
//!     Ok(())
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let node = TestNode::new().deploy(audit).deploy(order);
//! node.invoke::<order>(()).await.output();
//! node.settle().await;
//! assert!(AUDITED.load(Ordering::SeqCst));
//! # });
//! ```
#![cfg_attr(
    feature = "amqp",
    doc = r#"
# AMQP, recorded

```
use zato::prelude::*;
use zato::channels::amqp::AmqpMessage;
use zato::testing::TestNode;

#[service(name = "notify")]
async fn notify(_req: Request<()>, ctx: &Context) -> Result<(), ServiceError> {
    let broker = ctx.outgoing().amqp("Billing")?;
    broker.publish(&AmqpMessage::new("", "invoices", "{}")).await?;
    Ok(())
}

# tokio::runtime::Runtime::new().unwrap().block_on(async {
let node = TestNode::new().deploy(notify);
let sent = node.amqp("Billing");
node.invoke::<notify>(()).await.output();
assert_eq!(sent.messages()[0].routing_key, "invoices");

sent.fail(zato::OutgoingErrorKind::Unavailable, "the broker is down");
assert_eq!(node.invoke::<notify>(()).await.error().status().as_u16(), 503);
# });
```
"#
)]

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};
use zato_core::config::{
    ConfigDocument, ConfigRuntime, Format, ImportOptions, MemoryStore, ObjectKey, PutMode, Section,
};
use zato_core::kind;
use zato_core::{
    ChannelInfo, ChannelKind, Cid, DataFormat, Platform, RawRequest, Response, Service,
    ServiceError, Transport,
};
use zato_scheduler::{ManualClock, Scheduler, SchedulerKind};
use zato_swift::SwiftKind;
use zato_swift::local::{LocalSwift, LocalSwiftConfig};

#[cfg(feature = "amqp")]
pub use zato_channels::amqp::Recording;
pub use zato_swift::local::Fault;

/// How long [`TestNode::settle`] waits for background invocations and due jobs.
pub const SETTLE_LIMIT: Duration = Duration::from_secs(10);

/// The time a [`TestNode`]'s clock shows when it starts: `2026-01-01T00:00:00Z`.
pub const START_TIME: &str = "2026-01-01T00:00:00Z";

/// A node in memory for testing services: a platform with the services under test, a
/// configuration runtime on a memory store (the Swift and scheduler kinds registered), the
/// scheduler on a [`ManualClock`], and the test doubles it made.
pub struct TestNode {
    platform: Platform,
    runtime: ConfigRuntime,
    scheduler: Scheduler,
    clock: Arc<ManualClock>,
    doubles: Mutex<Vec<Arc<LocalSwift>>>,
    started: AtomicBool,
}

impl fmt::Debug for TestNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestNode")
            .field("services", &self.platform.services().list().len())
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Default for TestNode {
    fn default() -> Self {
        Self::new()
    }
}

impl TestNode {
    /// A node with no services, its clock at [`START_TIME`].
    pub fn new() -> TestNode {
        let platform = Platform::new();
        let runtime = ConfigRuntime::new(platform.clone(), Arc::new(MemoryStore::new()));
        let start = START_TIME.parse().unwrap_or_default();
        let clock = Arc::new(ManualClock::new(start));
        let scheduler = match Scheduler::attach_with_clock(&platform, clock.clone()) {
            Ok(scheduler) => scheduler,
            Err(e) => panic!("a new platform takes a scheduler: {e}"),
        };
        runtime.register(kind::live(SwiftKind::new(&platform)));
        runtime.register(kind::live(SchedulerKind::new(scheduler.clone())));
        TestNode {
            platform,
            runtime,
            scheduler,
            clock,
            doubles: Mutex::new(Vec::new()),
            started: AtomicBool::new(false),
        }
    }

    /// The node with `service` deployed.
    ///
    /// # Panics
    ///
    /// When a service of that name is deployed already.
    #[must_use]
    pub fn deploy<S: Service>(self, service: S) -> TestNode {
        if let Err(e) = self.platform.services().deploy(service) {
            panic!("cannot deploy {}: {e}", S::NAME);
        }
        self
    }

    /// The platform, for what the kit does not wrap.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// The configuration runtime: objects created, changed and removed as the admin API would.
    pub fn runtime(&self) -> &ConfigRuntime {
        &self.runtime
    }

    /// The scheduler, on the node's clock.
    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    /// The clock the scheduler reads, moved only by [`advance`](Self::advance) or by hand.
    pub fn clock(&self) -> &ManualClock {
        &self.clock
    }

    /// Applies a config document (JSON, or TOML when it does not start with `{`): scheduled
    /// jobs, Swift connections (which [`swift`](Self::swift) then points at its double), your
    /// own config file. Kinds other than Swift and the scheduler are not known to the node.
    ///
    /// # Panics
    ///
    /// When the document does not read or is refused, with every problem.
    pub async fn config(&self, document: &str) {
        let format = if document.trim_start().starts_with('{') {
            Format::Json
        } else {
            Format::Toml
        };
        let doc = match ConfigDocument::parse(document, format) {
            Ok(doc) => doc,
            Err(e) => panic!("the document does not read: {e}"),
        };
        if let Err(e) = self
            .runtime
            .import(&doc, ImportOptions::default(), "test")
            .await
        {
            panic!("the document is refused: {e}");
        }
    }

    /// Starts a Swift double, the local endpoint in memory, and points the outgoing Swift
    /// connection `name` at it (creating the connection, or changing the address and
    /// credentials of one a document defined). Its retries are short (one retry, 10 ms
    /// backoff, a 2 s timeout), so a fault costs milliseconds.
    ///
    /// # Panics
    ///
    /// When the endpoint cannot listen on loopback or the connection is refused.
    pub async fn swift(&self, name: &str) -> SwiftDouble {
        let local = match LocalSwift::start(LocalSwiftConfig::default()).await {
            Ok(local) => Arc::new(local),
            Err(e) => panic!("the local Swift endpoint cannot start: {e}"),
        };
        let key = ObjectKey::new(Section::Outgoing, "swift", name);
        let fields = json!({
            "name": name,
            "auth_url": local.auth_url(),
            "auth_version": "1.0",
            "user": local.user(),
            "key": local.key(),
            "preauth_url": null,
            "preauth_token": null,
            "retries": 1,
            "starting_backoff": 0.01,
            "max_backoff": 0.02,
            "timeout": 2.0,
            "pool_wait": 2.0,
        });
        let mode = match self.runtime.get(&key).await {
            Ok(Some(_)) => PutMode::Patch,
            _ => PutMode::Upsert,
        };
        if let Err(e) = self.runtime.put(&key, fields, mode, None, "test").await {
            panic!("the Swift connection {name:?} is refused: {e}");
        }
        self.doubles
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::clone(&local));
        SwiftDouble { local }
    }

    /// Registers an AMQP double as the outgoing AMQP connection `name`: it connects to no
    /// broker, and records what services publish; it can be told to fail.
    #[cfg(feature = "amqp")]
    pub fn amqp(&self, name: &str) -> Arc<Recording> {
        use zato_channels::amqp::{AmqpConnection, AmqpOutgoing};
        let (conn, recording) = AmqpConnection::recording(name);
        self.platform.outgoing().add_amqp(conn);
        recording
    }

    /// Invokes the service of type `S` with typed input, as another service would, with a new
    /// cid.
    pub async fn invoke<S: Service>(&self, input: S::Input) -> Called<S::Output> {
        let ctx = self.platform.context();
        let cid = ctx.cid();
        let result = ctx.invoke_typed::<S>(input).await;
        Called { cid, result }
    }

    /// A raw request to the service named `service`, as a channel hands it over: a body in any
    /// data format (JSON unless told), channel parameters, a media type. [`TestRequest::send`]
    /// answers as a channel would, errors rendered.
    pub fn request(&self, service: &str) -> TestRequest<'_> {
        TestRequest {
            node: self,
            service: service.to_owned(),
            format: DataFormat::Json,
            body: Bytes::new(),
            query: None,
            params: Vec::new(),
            content_type: None,
        }
    }

    /// Waits until no background invocation runs and every scheduled job due by the clock has
    /// run.
    ///
    /// # Panics
    ///
    /// When they are still running after [`SETTLE_LIMIT`].
    pub async fn settle(&self) {
        if !self.platform.wait_background(SETTLE_LIMIT).await {
            panic!("background invocations still ran after {SETTLE_LIMIT:?}");
        }
        if !self.scheduler.settle(SETTLE_LIMIT).await {
            panic!("scheduled jobs still ran after {SETTLE_LIMIT:?}");
        }
        if !self.platform.wait_background(SETTLE_LIMIT).await {
            panic!("background invocations still ran after {SETTLE_LIMIT:?}");
        }
    }

    /// Moves the clock forward by `by`, then [`settle`](Self::settle)s: every job due in
    /// between has run (the latest due run of each, as after a clock set forward).
    pub async fn advance(&self, by: Duration) {
        // The scheduler's timers start with the platform's channels; they are idle until then.
        if !self.started.swap(true, Ordering::SeqCst)
            && let Err(e) = self.platform.start().await
        {
            panic!("the scheduler does not start: {e}");
        }
        self.clock.advance(by);
        self.settle().await;
    }
}

/// A typed invocation's outcome, with its cid: [`TestNode::invoke`].
#[derive(Debug)]
pub struct Called<T> {
    /// The invocation's cid.
    pub cid: Cid,
    /// What the service returned.
    pub result: Result<Response<T>, ServiceError>,
}

impl<T: fmt::Debug> Called<T> {
    /// The output.
    ///
    /// # Panics
    ///
    /// When the service failed, with its error.
    #[track_caller]
    pub fn output(self) -> T {
        match self.result {
            Ok(response) => response.output,
            Err(e) => panic!("{} failed: {e}", self.cid),
        }
    }

    /// The error.
    ///
    /// # Panics
    ///
    /// When the service succeeded, with its output.
    #[track_caller]
    pub fn error(self) -> ServiceError {
        match self.result {
            Ok(response) => panic!("{} succeeded: {:?}", self.cid, response.output),
            Err(e) => e,
        }
    }
}

/// A raw request being built: [`TestNode::request`].
#[derive(Debug)]
pub struct TestRequest<'a> {
    node: &'a TestNode,
    service: String,
    format: DataFormat,
    body: Bytes,
    query: Option<String>,
    params: Vec<(String, String)>,
    content_type: Option<String>,
}

impl TestRequest<'_> {
    /// A JSON body.
    #[must_use]
    pub fn json(self, body: impl Into<Bytes>) -> Self {
        self.body(DataFormat::Json, body)
    }

    /// An XML body.
    #[must_use]
    pub fn xml(self, body: impl Into<Bytes>) -> Self {
        self.body(DataFormat::Xml, body)
    }

    /// A SOAP 1.1 or 1.2 envelope; the reply is a SOAP envelope of the same version.
    #[must_use]
    pub fn soap(self, body: impl Into<Bytes>) -> Self {
        self.body(DataFormat::Soap, body)
    }

    /// A form (`application/x-www-form-urlencoded`) body.
    #[must_use]
    pub fn form(self, body: impl Into<Bytes>) -> Self {
        self.body(DataFormat::Form, body)
    }

    /// A body in `format`.
    #[must_use]
    pub fn body(mut self, format: DataFormat, body: impl Into<Bytes>) -> Self {
        self.format = format;
        self.body = body.into();
        self
    }

    /// A query string, `target=CRM&target=Billing`, merged with the body as an HTTP channel
    /// merges it.
    #[must_use]
    pub fn query(mut self, query: &str) -> Self {
        self.query = Some(query.to_owned());
        self
    }

    /// A channel parameter, as an HTTP path parameter or an AMQP header gives it.
    #[must_use]
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.params.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The request's media type.
    #[must_use]
    pub fn content_type(mut self, content_type: &str) -> Self {
        self.content_type = Some(content_type.to_owned());
        self
    }

    /// Invokes the service and answers as a channel would: the service's reply, or its error
    /// rendered in the request's format.
    pub async fn send(self) -> Reply {
        let cid = Cid::new();
        let channel = Arc::new(ChannelInfo::new(
            "test",
            ChannelKind::new("test"),
            self.format,
        ));
        let raw = RawRequest::new(cid, channel, self.body).with_transport(TestTransport {
            query: self.query,
            params: self.params,
            content_type: self.content_type,
        });
        let reply = self.node.platform.dispatch(&self.service, raw).await;
        Reply {
            cid,
            status: reply.status,
            content_type: reply.content_type.into_owned(),
            body: reply.body,
        }
    }
}

/// What a channel would have answered: [`TestRequest::send`].
#[derive(Debug, Clone)]
pub struct Reply {
    /// The request's cid.
    pub cid: Cid,
    /// The status.
    pub status: StatusCode,
    /// The body's media type.
    pub content_type: String,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    ///
    /// # Panics
    ///
    /// When it is not JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        match serde_json::from_slice(&self.body) {
            Ok(v) => v,
            Err(e) => panic!("the reply is not JSON ({e}): {}", self.text()),
        }
    }
}

/// What a test request's transport tells: a query string, parameters, a media type.
#[derive(Debug)]
struct TestTransport {
    query: Option<String>,
    params: Vec<(String, String)>,
    content_type: Option<String>,
}

impl Transport for TestTransport {
    fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    fn params(&self) -> &[(String, String)] {
        &self.params
    }

    fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }
}

/// The Swift double: the local endpoint a connection points at, with what was stored and faults
/// to inject. [`TestNode::swift`].
#[derive(Debug, Clone)]
pub struct SwiftDouble {
    local: Arc<LocalSwift>,
}

impl SwiftDouble {
    /// An object's content, if it is stored.
    pub fn object(&self, container: &str, object: &str) -> Option<Bytes> {
        self.local.object(container, object)
    }

    /// The content type an object was stored with.
    pub fn content_type(&self, container: &str, object: &str) -> Option<String> {
        self.local.content_type(container, object)
    }

    /// The names of a container's objects, sorted; none for a container that does not exist.
    pub fn objects(&self, container: &str) -> Vec<String> {
        self.local.object_names(container)
    }

    /// Makes every request to `container` (to every container with `None`) meet `fault`, until
    /// [`heal`](Self::heal).
    pub fn fail(&self, container: Option<&str>, fault: Fault) {
        self.local.inject(container, fault, None);
    }

    /// Makes the next `times` requests to `container` meet `fault`.
    pub fn fail_times(&self, container: Option<&str>, fault: Fault, times: u32) {
        self.local.inject(container, fault, Some(times));
    }

    /// Rejects every token handed out, so the next request gets a 401 and authenticates again.
    pub fn expire_tokens(&self) {
        self.local.revoke_tokens();
    }

    /// Removes every fault.
    pub fn heal(&self) {
        self.local.clear_faults();
    }

    /// The endpoint itself.
    pub fn local(&self) -> &LocalSwift {
        &self.local
    }
}

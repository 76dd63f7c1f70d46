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
#![cfg_attr(
    feature = "nats",
    doc = r#"
# NATS, recorded, with a scripted reply

```
use zato::prelude::*;
use zato::testing::TestNode;

#[derive(SimpleIo, Debug)]
struct Rate { eur: String }

#[service(name = "announce")]
async fn announce(_req: Request<()>, ctx: &Context) -> Result<Rate, ServiceError> {
    let bus = ctx.outgoing().nats("Bus")?;
    bus.publish("invoices.stored", "{}").await?;
    let reply = bus.request("rates.eur", "").await?;
    Ok(Rate { eur: String::from_utf8_lossy(&reply.payload).into_owned() })
}

# tokio::runtime::Runtime::new().unwrap().block_on(async {
let node = TestNode::new().deploy(announce);
let sent = node.nats("Bus");
sent.reply_with("1.08");
assert_eq!(node.invoke::<announce>(()).await.output().eur, "1.08");
assert_eq!(sent.messages()[0].subject, "invoices.stored");

sent.fail(zato::OutgoingErrorKind::Timeout, "no acknowledgement");
assert_eq!(node.invoke::<announce>(()).await.error().status().as_u16(), 504);
# });
```
"#
)]
#![cfg_attr(
    feature = "amqp10",
    doc = r#"
# AMQP 1.0 (IBM MQ, Artemis, …), recorded

```
use zato::prelude::*;
use zato::amqp10::Amqp10Message;
use zato::testing::TestNode;

#[service(name = "forward")]
async fn forward(_req: Request<()>, ctx: &Context) -> Result<(), ServiceError> {
    let mq = ctx.outgoing().amqp10("MQ")?;
    mq.send("INVOICES", Amqp10Message::text("{}")).await?;
    Ok(())
}

# tokio::runtime::Runtime::new().unwrap().block_on(async {
let node = TestNode::new().deploy(forward);
let sent = node.amqp10("MQ");
node.invoke::<forward>(()).await.output();
assert_eq!(sent.messages()[0].address, "INVOICES");

sent.fail(zato::OutgoingErrorKind::Unavailable, "the queue manager is down");
assert_eq!(node.invoke::<forward>(()).await.error().status().as_u16(), 503);
# });
```
"#
)]
#![cfg_attr(
    feature = "mqtt",
    doc = r#"
# MQTT, recorded

```
use zato::prelude::*;
use zato::testing::TestNode;

#[service(name = "telemetry")]
async fn telemetry(_req: Request<()>, ctx: &Context) -> Result<(), ServiceError> {
    let broker = ctx.outgoing().mqtt("Plant")?;
    broker.publish(&MqttMessage::new("plant/line-1/state", "running").retained()).await?;
    Ok(())
}

# tokio::runtime::Runtime::new().unwrap().block_on(async {
let node = TestNode::new().deploy(telemetry);
let sent = node.mqtt("Plant");
node.invoke::<telemetry>(()).await.output();
assert!(sent.messages()[0].retain);

sent.fail(zato::OutgoingErrorKind::Unavailable, "the broker is down");
assert_eq!(node.invoke::<telemetry>(()).await.error().status().as_u16(), 503);
# });
```
"#
)]
#![cfg_attr(
    feature = "redis",
    doc = r#"
# Redis, in memory

```
use std::time::Duration;
use zato::prelude::*;
use zato::testing::TestNode;

#[derive(SimpleIo, Debug)]
struct Counted { invoices: i64 }

#[service(name = "count")]
async fn count(_req: Request<()>, ctx: &Context) -> Result<Counted, ServiceError> {
    let cache = ctx.outgoing().redis("Cache")?;
    cache.set("last", "now", Some(Duration::from_secs(60))).await?;
    Ok(Counted { invoices: cache.incr("invoices", 1).await? })
}

# tokio::runtime::Runtime::new().unwrap().block_on(async {
let node = TestNode::new().deploy(count);
let memory = node.redis("Cache");
assert_eq!(node.invoke::<count>(()).await.output().invoices, 1);
assert_eq!(node.invoke::<count>(()).await.output().invoices, 2);
assert_eq!(memory.value("last").as_deref(), Some(&b"now"[..]));

memory.fail(zato::redis::RedisErrorKind::Unreachable, "the server is down");
assert_eq!(node.invoke::<count>(()).await.error().status().as_u16(), 503);
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

/// wiremock, which scripts the REST double ([`TestNode::http`]).
#[cfg(feature = "rest")]
pub use wiremock;
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
    /// The plug-ins attached on first use (they attach asynchronously): REST, SQL.
    attached: tokio::sync::OnceCell<()>,
    /// SQLite files of the SQL doubles, removed with the node.
    files: Mutex<Vec<std::path::PathBuf>>,
}

impl fmt::Debug for TestNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestNode")
            .field("services", &self.platform.services().list().len())
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        let files = std::mem::take(&mut *self.files.lock().unwrap_or_else(PoisonError::into_inner));
        for file in files {
            for suffix in ["", "-wal", "-shm"] {
                let mut name = file.clone().into_os_string();
                name.push(suffix);
                let _ = std::fs::remove_file(name);
            }
        }
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
            attached: tokio::sync::OnceCell::new(),
            files: Mutex::new(Vec::new()),
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

    /// Attaches, once, the plug-ins whose kinds attach asynchronously (outgoing REST and SQL,
    /// as the build has them).
    async fn attach(&self) {
        self.attached
            .get_or_init(|| async {
                let plugins: Vec<Arc<dyn kind::Plugin>> = vec![
                    #[cfg(feature = "rest")]
                    Arc::new(zato_rest::plugin()),
                    #[cfg(feature = "sql")]
                    Arc::new(zato_sql::plugin()),
                ];
                for plugin in plugins {
                    match plugin.attach(&self.platform).await {
                        Ok(kinds) => kinds.into_iter().for_each(|k| self.runtime.register(k)),
                        Err(e) => panic!("the {} plug-in does not attach: {e}", plugin.name()),
                    }
                }
            })
            .await;
    }

    /// Applies a config document (JSON, or TOML when it does not start with `{`): scheduled
    /// jobs, outgoing connections (which [`swift`](Self::swift), [`http`](Self::http) and
    /// [`sql`](Self::sql) then point at their doubles), your own config file. The node knows
    /// the Swift, scheduler, REST and SQL kinds.
    ///
    /// # Panics
    ///
    /// When the document does not read or is refused, with every problem.
    pub async fn config(&self, document: &str) {
        self.attach().await;
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
        self.attach().await;
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
        self.point(&key, fields).await;
        self.doubles
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::clone(&local));
        SwiftDouble { local }
    }

    /// Creates the object `key` with `fields`, or changes those fields of the one a document
    /// defined.
    async fn point(&self, key: &ObjectKey, fields: Value) {
        let mode = match self.runtime.get(key).await {
            Ok(Some(_)) => PutMode::Patch,
            _ => PutMode::Upsert,
        };
        if let Err(e) = self.runtime.put(key, fields, mode, None, "test").await {
            panic!("{key} is refused: {e}");
        }
    }

    /// Starts a REST double, a wiremock server on loopback, and points the outgoing REST
    /// connection `name` at it (creating it, or changing the address of one a document
    /// defined). Script it as wiremock is: mount mocks on [`HttpDouble::server`], read what it
    /// received.
    ///
    /// # Examples
    ///
    /// ```
    /// use zato::prelude::*;
    /// use zato::testing::TestNode;
    /// use zato::testing::wiremock::{Mock, ResponseTemplate, matchers};
    ///
    /// #[service(name = "crm.notify")]
    /// async fn notify(_req: Request<()>, ctx: &Context) -> Result<(), ServiceError> {
    ///     let crm = ctx.outgoing().http("CRM")?;
    ///     crm.post("/invoices/{id}", &serde_json::json!({"paid": true}))
    ///         .param("id", 7)
    ///         .await?
    ///         .error_for_status()?;
    ///     Ok(())
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let node = TestNode::new().deploy(notify);
    /// let crm = node.http("CRM").await;
    /// Mock::given(matchers::path("/invoices/7"))
    ///     .respond_with(ResponseTemplate::new(204))
    ///     .mount(crm.server())
    ///     .await;
    /// node.invoke::<notify>(()).await.output();
    /// assert_eq!(crm.received().await[0].body, br#"{"paid":true}"#);
    ///
    /// // Told to fail: the service gets a typed error naming the connection, a bad gateway.
    /// crm.fail(503).await;
    /// let err = node.invoke::<notify>(()).await.error();
    /// assert_eq!(err.status().as_u16(), 502, "{err}");
    /// assert!(err.to_string().contains("`CRM`"), "{err}");
    /// # });
    /// ```
    #[cfg(feature = "rest")]
    pub async fn http(&self, name: &str) -> HttpDouble {
        self.attach().await;
        let server = wiremock::MockServer::start().await;
        let key = ObjectKey::new(Section::Outgoing, "http", name);
        let fields = json!({
            "name": name,
            "address": server.uri(),
            "retries": 0,
            "timeout": 2.0,
        });
        self.point(&key, fields).await;
        HttpDouble { server }
    }

    /// Points the outgoing SQL connection `name` at a new SQLite database of its own (a file
    /// in the system's temporary directory, removed with the node), creating the connection or
    /// changing one a document defined. The service queries it as it would its real database;
    /// the test reads it back through [`SqlDouble::handle`], and can make it unreachable.
    ///
    /// # Examples
    ///
    /// ```
    /// use zato::prelude::*;
    /// use zato::testing::TestNode;
    ///
    /// #[service(name = "log.write")]
    /// async fn write(_req: Request<()>, ctx: &Context) -> Result<(), ServiceError> {
    ///     let db = ctx.outgoing().sql("Log")?;
    ///     db.execute("CREATE TABLE IF NOT EXISTS log (what TEXT)", &[]).await?;
    ///     db.execute("INSERT INTO log (what) VALUES ('sent')", &[]).await?;
    ///     Ok(())
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let node = TestNode::new().deploy(write);
    /// let db = node.sql("Log").await;
    /// node.invoke::<write>(()).await.output();
    /// let rows = db.handle().fetch_json("SELECT what FROM log", &[]).await.unwrap();
    /// assert_eq!(rows.len(), 1);
    /// assert_eq!(rows[0]["what"], "sent");
    ///
    /// db.fail().await;
    /// assert_eq!(node.invoke::<write>(()).await.error().status().as_u16(), 502);
    /// # });
    /// ```
    #[cfg(feature = "sql")]
    pub async fn sql(&self, name: &str) -> SqlDouble {
        use std::sync::atomic::AtomicU64;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        self.attach().await;
        let path = std::env::temp_dir().join(format!(
            "zato-test-{}-{}.sqlite",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        self.files
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(path.clone());
        let key = ObjectKey::new(Section::Outgoing, "sql", name);
        let fields = sqlite_fields(name, &path);
        self.point(&key, fields).await;
        SqlDouble {
            name: name.to_owned(),
            key,
            path,
            runtime: self.runtime.clone(),
        }
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

    /// Registers a NATS double as the outgoing NATS connection `name`: it connects to no
    /// server, records what services publish and request, answers requests as told, and can be
    /// told to fail.
    #[cfg(feature = "nats")]
    pub fn nats(&self, name: &str) -> Arc<zato_nats::NatsRecording> {
        use zato_nats::{NatsConnection, NatsOutgoing};
        let (conn, recording) = NatsConnection::recording(name);
        self.platform.outgoing().add_nats(conn);
        recording
    }

    /// Registers an AMQP 1.0 double as the outgoing AMQP 1.0 connection `name`: it connects to
    /// no broker, records what services send and request, answers requests as told, and can be
    /// told to fail.
    #[cfg(feature = "amqp10")]
    pub fn amqp10(&self, name: &str) -> Arc<zato_amqp10::Amqp10Recording> {
        use zato_amqp10::{Amqp10Connection, Amqp10Outgoing};
        let (conn, recording) = Amqp10Connection::recording(name);
        self.platform.outgoing().add_amqp10(conn);
        recording
    }

    /// Registers an MQTT double as the outgoing MQTT connection `name`: it connects to no
    /// broker, and records what services publish; it can be told to fail.
    #[cfg(feature = "mqtt")]
    pub fn mqtt(&self, name: &str) -> Arc<zato_mqtt::MqttRecording> {
        use zato_mqtt::{MqttConnection, MqttOutgoing};
        let (conn, recording) = MqttConnection::recording(name);
        self.platform.outgoing().add_mqtt(conn);
        recording
    }

    /// Registers a Redis double as the outgoing Redis connection `name`: a keyspace in memory
    /// that answers the key-value, counter, expiry and hash commands, which a test can read and
    /// tell to fail.
    #[cfg(feature = "redis")]
    pub fn redis(&self, name: &str) -> Arc<zato_redis::RedisMemory> {
        use zato_redis::{RedisConnection, RedisOutgoing};
        let (conn, memory) = RedisConnection::in_memory(name);
        self.platform.outgoing().add_redis(conn);
        memory
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

/// The REST double: a wiremock server the connection points at. [`TestNode::http`].
#[cfg(feature = "rest")]
#[derive(Debug)]
pub struct HttpDouble {
    server: wiremock::MockServer,
}

#[cfg(feature = "rest")]
impl HttpDouble {
    /// The server, to mount mocks on.
    pub fn server(&self) -> &wiremock::MockServer {
        &self.server
    }

    /// The requests it received, in order.
    pub async fn received(&self) -> Vec<wiremock::Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    /// Makes every request get `status` from now on, before any mock mounted earlier.
    pub async fn fail(&self, status: u16) {
        wiremock::Mock::given(wiremock::matchers::any())
            .respond_with(wiremock::ResponseTemplate::new(status))
            .with_priority(1)
            .mount(&self.server)
            .await;
    }

    /// Removes every mock, those of [`fail`](Self::fail) and the test's own.
    pub async fn heal(&self) {
        self.server.reset().await;
    }
}

/// The object of an SQLite connection to `path`.
#[cfg(feature = "sql")]
fn sqlite_fields(name: &str, path: &std::path::Path) -> Value {
    json!({
        "name": name,
        "engine": "sqlite",
        "host": "",
        "port": 0,
        "database": path.to_string_lossy(),
        "user": "",
        "password": null,
        "pool_wait": 2.0,
    })
}

/// The SQL double: the connection's own SQLite database. [`TestNode::sql`].
#[cfg(feature = "sql")]
#[derive(Debug)]
pub struct SqlDouble {
    name: String,
    key: ObjectKey,
    path: std::path::PathBuf,
    runtime: ConfigRuntime,
}

#[cfg(feature = "sql")]
impl SqlDouble {
    /// A handle on the connection as it is now, to read what the service wrote or to prepare
    /// tables.
    ///
    /// # Panics
    ///
    /// When the connection was deleted.
    pub fn handle(&self) -> zato_sql::SqlHandle {
        use zato_sql::SqlOutgoing;
        match self.runtime.platform().outgoing().sql(&self.name) {
            Ok(handle) => handle,
            Err(e) => panic!("no SQL connection {:?}: {e}", self.name),
        }
    }

    /// The SQLite file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Makes the database unreachable: the connection is pointed at a PostgreSQL server where
    /// none listens, so every query is a 502 naming it, as with a server down.
    pub async fn fail(&self) {
        let fields = json!({
            "engine": "postgres",
            "host": "127.0.0.1",
            "port": 9,
            "database": "gone",
            "user": "zato",
            "pool_wait": 1.0,
        });
        if let Err(e) = self
            .runtime
            .put(&self.key, fields, PutMode::Patch, None, "test")
            .await
        {
            panic!("{} is refused: {e}", self.key);
        }
    }

    /// Points the connection back at its SQLite file, as it was.
    pub async fn heal(&self) {
        let fields = sqlite_fields(&self.name, &self.path);
        if let Err(e) = self
            .runtime
            .put(&self.key, fields, PutMode::Patch, None, "test")
            .await
        {
            panic!("{} is refused: {e}", self.key);
        }
    }
}

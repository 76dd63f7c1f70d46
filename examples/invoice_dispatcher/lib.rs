//! The InvoiceDispatcher of the seed article: the service, the document helpers that add its
//! other channels, and a node built around it with [`zato::Node`].
//!
//! `main.rs` runs it (`cargo run --example invoice_dispatcher`); the facade's tests drive it end
//! to end through [`start_local_node`] and [`start_node`].
//!
//! Besides the node's own variables (see [`zato::Node`]), `main` reads:
//! - `ZATO_SWIFT_INBOX` (`invoices-in`): also poll that container every 5 s; each object is an
//!   invoice naming its own targets, dispatched as an HTTP call would be, then moved to
//!   `invoices-archive` (or, when it fails, to `invoices-error` with the error in its metadata);
//! - `ZATO_AMQP_URL` (`amqp://guest:guest@127.0.0.1:5672/%2f`, built with `--features amqp`):
//!   also consume the queue `invoices` (declared durable when missing, dead letters in
//!   `invoices.dead`);
//! - `ZATO_NATS_URL` (`nats://127.0.0.1:4222`, built with `--features nats`): also take the
//!   invoices published to the NATS subject `invoices`, through the JetStream stream `INVOICES`
//!   (created when missing, dead letters in `invoices.dead`);
//! - `ZATO_MQTT_URL` (`mqtt://127.0.0.1:1883`, built with `--features mqtt`): also subscribe to
//!   the MQTT topic `invoices` at QoS 1 in a persistent session (dead letters to
//!   `invoices/dead`);
//! - `ZATO_AMQP10_URL` (`amqp://guest:guest@127.0.0.1:5672`, built with `--features amqp10`):
//!   also consume invoices over AMQP 1.0 from the address `ZATO_AMQP10_ADDRESS` (by default
//!   `invoices`; RabbitMQ 3's plugin wants `/queue/invoices`), each accepted once dispatched;
//! - `ZATO_ZMQ_PULL_ADDRESS` (`tcp://127.0.0.1:11225`, built with `--features zmq`): also bind a
//!   ZeroMQ PULL socket there, taking the same messages.
//!
//! Without Swift credentials (in the file or in `ZATO_SWIFT_AUTH_URL`…), it starts a local
//! Swift-compatible endpoint and keeps the objects under `swift/` in the node's data directory
//! (`ZATO_DATA_DIR`, by default `zato-data/` in the current directory).

use std::error::Error;
use std::path::PathBuf;

use futures_util::{StreamExt, stream};
use zato::admin::AdminServer;
use zato::channels::HttpServer;
use zato::config::{ConfigDocument, ConfigError, ConfigRuntime, Format};
use zato::prelude::*;
use zato::swift::local::{LocalSwift, LocalSwiftConfig};
use zato::swift::{ContainerName, Metadata, PutOptions, SwiftClient, SwiftConfig, SwiftError};
use zato::{OutgoingError, OutgoingErrorKind, Payload};

mod invoice_log;
pub use invoice_log::{INVOICE_LOG, INVOICE_LOG_TABLE};

/// The config document the example ships, read unless `ZATO_CONFIG` names another (`config.toml`
/// beside it is its twin).
pub const CONFIG_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config.json");

/// The outgoing connection the service stores invoices through.
pub const CONNECTION: &str = "Invoice Dispatcher";
/// The outgoing REST connection told of each invoice stored, when it is active: a POST of
/// `{"cid": …, "stored": [targets]}` to its address. Inactive in the shipped config.
pub const WEBHOOK: &str = "Invoice Webhook";
/// The object each invoice is stored as, in the container named after its target.
pub const OBJECT: &str = "Invoice";

/// The input: the applications to send the invoice to. The invoice itself is the raw body.
///
/// SimpleIO holds `target` to its rules before the service runs, whatever channel the request
/// came through (HTTP, AMQP, NATS, ZeroMQ, the scheduler, the Swift inbox): one target at least and
/// [`MAX_TARGETS`] at most, each a name Swift takes as a container (`ContainerName`). So the
/// generated OpenAPI document states them all, and a request it calls valid is accepted.
#[derive(SimpleIo, Debug)]
pub struct Dispatch {
    /// The applications to send the invoice to: each is a Swift container.
    #[sio(min_items = 1, max_items = 100)]
    pub target: Vec<ContainerName>,
}

/// The output: the targets the invoice was stored for.
#[derive(SimpleIo, Debug)]
pub struct Dispatched {
    /// The applications the invoice was stored for.
    pub stored: Vec<String>,
}

/// The most targets one request may name: each is a write to Swift.
pub const MAX_TARGETS: usize = 100;
/// How many targets of one request are written at once, each with its own pooled client; never
/// more than the pool holds.
pub const CONCURRENT_WRITES: u32 = 4;

/// Stores the raw request as the object [`OBJECT`] in one container per target.
///
/// Targets are checked first (at least one, at most [`MAX_TARGETS`], each a valid container
/// name: by SimpleIO, see [`Dispatch`]), so a bad request writes nothing. A target named twice
/// is stored once: the duplicates are dropped, the first occurrence keeps its place, and the
/// reply lists each target once.
///
/// Targets are written concurrently, at most [`CONCURRENT_WRITES`] at a time (and no more than
/// the pool's size); each write checks out its own client and returns it when done, so a slow
/// target delays no other, and one request never holds more than that many clients.
///
/// On success the reply lists every target; otherwise the error names the targets stored, those
/// not stored, and those whose outcome is unknown (no answer came), with the reasons. Either
/// way the dispatch is recorded in the [`INVOICE_LOG`] (its cid, targets, outcome and time).
#[service(name = "invoice.dispatcher")]
pub async fn invoice_dispatcher(
    req: Request<Dispatch>,
    ctx: &Context,
) -> Result<Dispatched, ServiceError> {
    let targets = check_targets(&req.input.target)?;
    // The invoice itself: a SOAP envelope's request element, any other body as it came.
    let invoice = req.payload()?;
    let logged = targets.clone();
    let conn = ctx.outgoing().swift(CONNECTION)?;
    let width = CONCURRENT_WRITES.min(conn.config().pool_size).max(1) as usize;
    // Each write owns what it uses, so the writes can run side by side in this task.
    let writes = targets.into_iter().enumerate().map(|(i, target)| {
        let conn = conn.clone();
        let invoice = invoice.clone();
        async move {
            let result = match conn.client().await {
                Ok(client) => store(&client, &target, invoice).await,
                Err(e) => Err(e),
            };
            (i, target, result)
        }
    });
    let mut results: Vec<_> = stream::iter(writes).buffer_unordered(width).collect().await;
    results.sort_by_key(|(i, _, _)| *i);

    let mut outcome = Outcome::default();
    for (_, target, result) in results {
        match result {
            Ok(()) => outcome.stored.push(target),
            Err(e) => outcome.failed.push((target, e)),
        }
    }
    let result = if outcome.failed.is_empty() {
        match notify(ctx, req.cid, &outcome.stored).await {
            Ok(()) => publish_stored(ctx, &outcome.stored)
                .await
                .map(|()| Dispatched {
                    stored: outcome.stored,
                }),
            Err(e) => Err(e),
        }
    } else {
        Err(outcome.into_error())
    };
    let said = result.as_ref().map_or_else(|e| e.code(), |_| "stored");
    invoice_log::record(ctx, &logged, said).await;
    result
}

/// Tells the webhook [`WEBHOOK`] which targets the invoice was stored for, when it is defined
/// and active. Its failure is the request's (a 502, 503 or 504 naming it, saying the invoice
/// was stored), so the caller may send the invoice again: storing it again is harmless.
async fn notify(ctx: &Context, cid: zato::Cid, stored: &[String]) -> Result<(), ServiceError> {
    let Ok(hook) = ctx.outgoing().http(WEBHOOK) else {
        return Ok(());
    };
    if !hook.config().is_active {
        return Ok(());
    }
    let body = serde_json::json!({"cid": cid.to_string(), "stored": stored});
    let sent = hook
        .post("", &body)
        .await
        .and_then(|r| r.error_for_status());
    sent.map(drop).map_err(|e| {
        let kind = match e.status().as_u16() {
            503 => OutgoingErrorKind::Unavailable,
            504 => OutgoingErrorKind::Timeout,
            _ => OutgoingErrorKind::BadGateway,
        };
        let message = format!("stored for: {}; not notified: {}", quoted(stored), e.kind());
        OutgoingError::new(WEBHOOK, kind, message).into()
    })
}

/// The topic each successful dispatch is published to: `{"cid": …, "stored": [targets]}`.
pub const STORED_TOPIC: &str = "invoices.stored";

/// Publishes the dispatch to [`STORED_TOPIC`] for whoever subscribes (the audit trail, a
/// partner's webhook), when the node has publish/subscribe and the topic. A publication refused
/// (a full topic) is the request's failure, naming it, so the caller may send the invoice again.
/// A store that cannot be reached (the cluster's database away) does not stop dispatching: the
/// invoices are stored, and the event's loss is logged as an error with the cid.
async fn publish_stored(ctx: &Context, stored: &[String]) -> Result<(), ServiceError> {
    let Ok(pubsub) = ctx.pubsub() else {
        return Ok(());
    };
    if pubsub.topic(STORED_TOPIC).is_none() {
        return Ok(());
    }
    let event = serde_json::json!({"cid": ctx.cid().to_string(), "stored": stored});
    match ctx.publish(STORED_TOPIC, &event).await {
        Ok(_) => Ok(()),
        Err(e) if e.status().as_u16() == 503 => {
            tracing::error!(cid = %ctx.cid(), error = %e, topic = STORED_TOPIC, "dispatched, but the event was not published");
            Ok(())
        }
        Err(e) => Err(ServiceError::Unavailable(format!(
            "stored for: {}; not published to {STORED_TOPIC}: {e}",
            quoted(stored)
        ))),
    }
}

/// The service subscription `invoice.audit` delivers each [`STORED_TOPIC`] message to: it
/// keeps the audit trail ([`audit_trail`]: the latest [`AUDIT_TRAIL_SIZE`] events) and logs it.
#[service(name = "invoice.audit")]
pub async fn invoice_audit(req: Request<()>, _ctx: &Context) -> Result<(), ServiceError> {
    let event = String::from_utf8_lossy(&req.raw_request).into_owned();
    let msg_id = req
        .channel_params
        .iter()
        .find(|(k, _)| k == "msg_id")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    tracing::info!(%msg_id, event = %event, "invoice audit");
    if let Ok(mut trail) = AUDIT_TRAIL.lock() {
        if trail.len() == AUDIT_TRAIL_SIZE {
            trail.pop_front();
        }
        trail.push_back(event);
    }
    Ok(())
}

/// How many events the audit trail keeps.
pub const AUDIT_TRAIL_SIZE: usize = 1000;

static AUDIT_TRAIL: std::sync::Mutex<std::collections::VecDeque<String>> =
    std::sync::Mutex::new(std::collections::VecDeque::new());

/// The events `invoice.audit` recorded in this process, oldest first.
pub fn audit_trail() -> Vec<String> {
    AUDIT_TRAIL
        .lock()
        .map(|t| t.iter().cloned().collect())
        .unwrap_or_default()
}

/// Checks the number of targets and returns them without duplicates, in order, so a bad request
/// writes nothing. From a channel, SimpleIO has checked them already (`min_items`, `max_items`,
/// and each a [`ContainerName`]); a caller handing typed input over (`invoke_typed`) meets these
/// checks instead.
fn check_targets(targets: &[ContainerName]) -> Result<Vec<String>, ServiceError> {
    if targets.is_empty() {
        return Err(ServiceError::bad_request("at least one target is required"));
    }
    if targets.len() > MAX_TARGETS {
        return Err(ServiceError::bad_request(format!(
            "too many values of `target`: {}, at most {MAX_TARGETS}",
            targets.len()
        )));
    }
    let mut unique: Vec<String> = Vec::with_capacity(targets.len());
    for t in targets {
        if !unique.iter().any(|u| u == t.as_str()) {
            unique.push(t.to_string());
        }
    }
    Ok(unique)
}

// The field's `max_items` is a literal: it must say what the constant says.
const _: () = assert!(MAX_TARGETS == 100);

/// Stores the invoice in `container` with its media type, creating the container when it is
/// missing.
async fn store(client: &SwiftClient, container: &str, invoice: Payload) -> Result<(), SwiftError> {
    let opts = PutOptions::default().content_type(invoice.content_type);
    match client
        .put_object(container, OBJECT, invoice.body.clone(), &opts)
        .await
    {
        Err(e) if e.is_not_found() => {
            client.create_container(container, &Metadata::new()).await?;
            client
                .put_object(container, OBJECT, invoice.body, &opts)
                .await?;
            Ok(())
        }
        other => other.map(drop),
    }
}

/// What a dispatch did, target by target, in the order of the request.
#[derive(Default)]
struct Outcome {
    stored: Vec<String>,
    failed: Vec<(String, SwiftError)>,
}

impl Outcome {
    /// The error naming every target: `stored for: "CRM"; not stored for: "Billing"; unknown
    /// for: "ERP"; reasons: "Billing": …; "ERP": …`. Names are quoted and escaped, so the list
    /// is exact whatever they hold. A target is "unknown" when its write got no answer (it may
    /// have been stored); "not stored" when Swift refused it or it was never sent. The status
    /// is that of the first failure in the request's order (502, 503 or 504).
    fn into_error(self) -> ServiceError {
        let kind = self
            .failed
            .first()
            .map_or(OutgoingErrorKind::BadGateway, |(_, e)| e.outgoing_kind());
        let (unknown, not_stored): (Vec<_>, Vec<_>) =
            self.failed.iter().partition(|(_, e)| e.outcome_unknown());
        let mut message = format!(
            "stored for: {}; not stored for: {}",
            quoted(&self.stored),
            quoted(not_stored.iter().map(|(t, _)| t)),
        );
        if !unknown.is_empty() {
            message.push_str("; unknown for: ");
            message.push_str(&quoted(unknown.iter().map(|(t, _)| t)));
        }
        // Targets failing for the same reason share it (a pool or an unreachable Swift fails
        // every target alike).
        let mut reasons: Vec<(String, Vec<&String>)> = Vec::new();
        for (target, e) in &self.failed {
            let reason = e.to_string();
            match reasons.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, targets)) => targets.push(target),
                None => reasons.push((reason, vec![target])),
            }
        }
        let reasons: Vec<String> = reasons
            .into_iter()
            .map(|(reason, targets)| format!("{}: {reason}", quoted(targets)))
            .collect();
        message.push_str("; reasons: ");
        message.push_str(&reasons.join("; "));
        OutgoingError::new(CONNECTION, kind, message).into()
    }
}

/// `"CRM", "Billing"`, each name quoted and escaped; `none` for no name.
fn quoted<'a>(names: impl IntoIterator<Item = &'a String>) -> String {
    let list: Vec<String> = names.into_iter().map(|n| format!("{n:?}")).collect();
    if list.is_empty() {
        "none".to_owned()
    } else {
        list.join(", ")
    }
}

/// The example's configuration: a node's config document (its HTTP channels and its Swift
/// connection), with the Swift connection also as a typed value, which `main` fills from the
/// environment and tests point at their own Swift.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The whole document.
    pub document: ConfigDocument,
    /// The connection named [`CONNECTION`], as the document holds it.
    pub swift: SwiftConfig,
}

impl AppConfig {
    /// Reads a config document holding the connection named [`CONNECTION`].
    pub fn parse(text: &str, format: Format) -> Result<AppConfig, ConfigError> {
        AppConfig::from_document(ConfigDocument::parse(text, format)?)
    }

    /// A config document holding the connection named [`CONNECTION`].
    pub fn from_document(document: ConfigDocument) -> Result<AppConfig, ConfigError> {
        let found = document
            .outgoing
            .get("swift")
            .and_then(|list| list.iter().find(|o| o["name"] == CONNECTION));
        let Some(object) = found else {
            return Err(ConfigError::one(
                "outgoing.swift",
                format!("the example needs a Swift connection named `{CONNECTION}`"),
            ));
        };
        // serde's message could quote a secret: the checker reports the details.
        let swift = serde_json::from_value(object.clone()).map_err(|_| {
            zato::config::checker()
                .check(&document)
                .err()
                .unwrap_or_else(|| ConfigError::one("outgoing.swift", "cannot be read"))
        })?;
        Ok(AppConfig { document, swift })
    }

    /// The document, with the typed connection written back into it.
    pub fn into_document(self) -> ConfigDocument {
        let mut document = self.document;
        let mut object = serde_json::to_value(&self.swift).unwrap_or_default();
        // A `Secret` writes itself as `***`: the document keeps the secret itself.
        if let Some(map) = object.as_object_mut() {
            for (field, secret) in [
                ("key", &self.swift.key),
                ("preauth_token", &self.swift.preauth_token),
            ] {
                let value = secret
                    .as_ref()
                    .map_or(serde_json::Value::Null, |s| s.expose().clone().into());
                map.insert(field.to_owned(), value);
            }
        }
        let list = document.outgoing.entry("swift".to_owned()).or_default();
        match list.iter_mut().find(|o| o["name"] == CONNECTION) {
            Some(slot) => *slot = object,
            None => list.push(object),
        }
        document
    }
}

/// The broker connection the example consumes invoices through, given `ZATO_AMQP_URL`.
pub const AMQP_CONNECTION: &str = "broker";
/// The queue the example consumes, and whose dead letters go to `<queue>.dead`.
pub const AMQP_QUEUE: &str = "invoices";

impl AppConfig {
    /// The same configuration, consuming `queue` at the broker at `url` into the service: the
    /// queue is declared durable when missing, with its dead letters in `<queue>.dead`. A
    /// message is the invoice JSON naming its own targets, `{"id":"300","target":["CRM"]}`,
    /// and the stored object is the whole message, as over HTTP.
    pub fn with_amqp(mut self, url: &str, queue: &str) -> AppConfig {
        self.document
            .outgoing
            .entry("amqp".to_owned())
            .or_default()
            .push(serde_json::json!({"name": AMQP_CONNECTION, "url": url}));
        self.document
            .channels
            .entry("amqp".to_owned())
            .or_default()
            .push(serde_json::json!({
                "name": format!("{queue}.amqp"),
                "connection": AMQP_CONNECTION,
                "queue": queue,
                "service": "invoice.dispatcher",
                "declare": true,
            }));
        self
    }
}

/// The NATS connection the example takes invoices through, given `ZATO_NATS_URL`.
pub const NATS_CONNECTION: &str = "nats";
/// The NATS subject the example takes invoices from; dead letters go to `<subject>.dead`.
pub const NATS_SUBJECT: &str = "invoices";
/// The JetStream stream that keeps them until they are dispatched.
pub const NATS_STREAM: &str = "INVOICES";

impl AppConfig {
    /// The same configuration, taking the invoices published to `subject` at the NATS server
    /// at `url` into the service, through a durable consumer of the JetStream stream `stream`
    /// (created when missing, with the dead letters' subject `<subject>.dead`). A message is the
    /// invoice JSON naming its own targets, `{"id":"300","target":["CRM"]}`, and the stored
    /// object is the whole message, as over HTTP.
    pub fn with_nats(mut self, url: &str, subject: &str, stream: &str) -> AppConfig {
        self.document
            .outgoing
            .entry("nats".to_owned())
            .or_default()
            .push(serde_json::json!({"name": NATS_CONNECTION, "url": url}));
        self.document
            .channels
            .entry("nats".to_owned())
            .or_default()
            .push(serde_json::json!({
                "name": format!("{subject}.nats"),
                "connection": NATS_CONNECTION,
                "stream": stream,
                "subject": subject,
                "service": "invoice.dispatcher",
                "declare": true,
            }));
        self
    }
}

/// The broker connection the example subscribes through, given `ZATO_MQTT_URL`.
pub const MQTT_CONNECTION: &str = "mqtt-broker";
/// The topic the example subscribes to.
pub const MQTT_TOPIC: &str = "invoices";

impl AppConfig {
    /// The same configuration, subscribing to `topic` at QoS 1 at the broker at `url`, in a
    /// persistent session, into the service; dead letters go to `<topic>/dead`. A message is
    /// the invoice JSON naming its own targets, `{"id":"300","target":["CRM"]}`, and the stored
    /// object is the whole message, as over HTTP.
    pub fn with_mqtt(mut self, url: &str, topic: &str) -> AppConfig {
        self.document
            .outgoing
            .entry("mqtt".to_owned())
            .or_default()
            .push(serde_json::json!({"name": MQTT_CONNECTION, "url": url}));
        self.document
            .channels
            .entry("mqtt".to_owned())
            .or_default()
            .push(serde_json::json!({
                "name": format!("{topic}.mqtt"),
                "connection": MQTT_CONNECTION,
                "topics": [topic],
                "qos": 1,
                "service": "invoice.dispatcher",
                "dead_letter_topic": format!("{topic}/dead"),
            }));
        self
    }
}

/// The AMQP 1.0 connection the example takes invoices through, given `ZATO_AMQP10_URL`.
pub const AMQP10_CONNECTION: &str = "amqp10";
/// The AMQP 1.0 address the example consumes unless `ZATO_AMQP10_ADDRESS` names another.
pub const AMQP10_ADDRESS: &str = "invoices";

impl AppConfig {
    /// The same configuration, consuming the invoices at the AMQP 1.0 `address` of the broker
    /// at `url` (credentials may be in it; they move to the connection's secret fields) into
    /// the service. A message is the invoice JSON naming its own targets,
    /// `{"id":"300","target":["CRM"]}`, as a JMS text or bytes message, and the stored object is
    /// the whole message, as over HTTP. It is accepted once dispatched; a failed one is released
    /// for redelivery (every broker takes that, RabbitMQ 3 nothing else), and rejected after its
    /// fifth failure for the broker's dead-lettering.
    pub fn with_amqp10(mut self, url: &str, address: &str) -> AppConfig {
        self.document
            .outgoing
            .entry("amqp10".to_owned())
            .or_default()
            .push(serde_json::json!({"name": AMQP10_CONNECTION, "url": url}));
        self.document
            .channels
            .entry("amqp10".to_owned())
            .or_default()
            .push(serde_json::json!({
                "name": "invoices.amqp10",
                "connection": AMQP10_CONNECTION,
                "address": address,
                "service": "invoice.dispatcher",
                "failed_outcome": "released",
            }));
        self
    }
}

/// The Swift inbox channel [`AppConfig::with_swift_inbox`] adds.
pub const INBOX_CHANNEL: &str = "invoices.inbox";
/// Where the inbox channel moves the invoices it dispatched.
pub const INBOX_ARCHIVE: &str = "invoices-archive";
/// Where the inbox channel moves the invoices it could not dispatch, with the error.
pub const INBOX_ERRORS: &str = "invoices-error";

impl AppConfig {
    /// The same configuration, polling the container `inbox` through the Swift connection
    /// [`CONNECTION`] every 5 s at most: each object is an invoice JSON naming its own targets,
    /// `{"id":"300","target":["CRM"]}`, decoded as JSON whatever its content type, and
    /// dispatched as an HTTP call would be. Dispatched objects go to [`INBOX_ARCHIVE`], failed
    /// ones to [`INBOX_ERRORS`]; the containers are created when missing.
    pub fn with_swift_inbox(mut self, inbox: &str) -> AppConfig {
        self.document
            .channels
            .entry("swift_inbox".to_owned())
            .or_default()
            .push(serde_json::json!({
                "name": INBOX_CHANNEL,
                "connection": CONNECTION,
                "container": inbox,
                "service": "invoice.dispatcher",
                "poll_interval": 5.0,
                "data_format": "json",
                "archive_container": INBOX_ARCHIVE,
                "error_container": INBOX_ERRORS,
                "create_containers": true,
            }));
        self
    }
}

/// A running InvoiceDispatcher.
#[derive(Debug)]
pub struct Running {
    /// The node's platform.
    pub platform: Platform,
    /// Its HTTP listener.
    pub http: HttpServer,
    /// The node's configuration, live: what the admin API changes.
    pub runtime: ConfigRuntime,
    /// The admin API, when a token was given.
    pub admin: Option<AdminServer>,
    /// The local Swift-compatible endpoint, when no Swift credentials were configured.
    pub local: Option<LocalSwift>,
    /// This node's membership of a cluster, when it joined one.
    pub cluster: Option<zato::ClusterMembership>,
    node: zato::RunningNode,
    data: PathBuf,
}

/// How a node joins a cluster.
pub use zato::ClusterSettings;

impl Running {
    /// Stops the node (the cluster, the admin API, the channels, finishing requests in flight),
    /// then the local endpoint.
    pub async fn shutdown(self) {
        self.node.shutdown().await;
        if let Some(local) = self.local {
            local.shutdown().await;
        }
        let _ = std::fs::remove_dir_all(&self.data);
    }

    /// Serves until Ctrl-C, then shuts down.
    pub async fn run_until_ctrl_c(self) {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing requests in flight");
        self.shutdown().await;
    }
}

/// The auth URL the shipped config names: the local Swift-compatible endpoint, which the
/// example serves itself on this address (test account `test:tester`, key `testing`, as Swift's
/// own TempAuth sample). `ZATO_SWIFT_AUTH_URL` and the other `ZATO_SWIFT_*` variables point the
/// connection at a real Swift instead.
pub const LOCAL_SWIFT_AUTH_URL: &str = "http://127.0.0.1:11226/auth/v1.0";

/// Whether the Swift connection is meant for the local endpoint: it names
/// [`LOCAL_SWIFT_AUTH_URL`], or no credentials at all.
fn wants_local(swift: &SwiftConfig) -> bool {
    let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    swift.auth_url.as_deref().map(str::trim) == Some(LOCAL_SWIFT_AUTH_URL)
        || !(set(&swift.auth_url) || set(&swift.preauth_url))
}

/// Where the admin API listens and the token callers must present.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// The listening address.
    pub addr: String,
    /// The bearer token.
    pub token: Secret<String>,
}

/// Deploys the service, connects to Swift (or, with no credentials, starts the local endpoint
/// keeping objects in `local_dir`), and serves the HTTP channels on `addr`.
pub async fn start(
    config: AppConfig,
    addr: &str,
    local_dir: Option<PathBuf>,
) -> Result<Running, Box<dyn Error + Send + Sync>> {
    start_with_admin(config, addr, local_dir, None).await
}

/// The example as it ships (`config.json`, the local endpoint in memory), on ports of its own,
/// with the admin API taking `token`: the node the tests drive. Returns it with the base URLs of
/// its HTTP channels and of its admin API.
pub async fn start_local_node(
    token: &str,
) -> Result<(Running, String, String), Box<dyn Error + Send + Sync>> {
    let config = AppConfig::parse(include_str!("config.json"), Format::Json)?;
    let running = start_with_admin(
        config,
        "127.0.0.1:0",
        None,
        Some(AdminSettings {
            addr: "127.0.0.1:0".into(),
            token: token.to_owned().into(),
        }),
    )
    .await?;
    let base = format!("http://{}", running.http.local_addr());
    let admin = match &running.admin {
        Some(admin) => format!("http://{}", admin.local_addr()),
        None => return Err("the admin API did not start".into()),
    };
    Ok((running, base, admin))
}

/// Like [`start`], with the admin API on `admin.addr` when `admin` is given.
pub async fn start_with_admin(
    config: AppConfig,
    addr: &str,
    local_dir: Option<PathBuf>,
    admin: Option<AdminSettings>,
) -> Result<Running, Box<dyn Error + Send + Sync>> {
    start_node(config, addr, local_dir, admin, None).await
}

/// When the document's Swift connection names the local endpoint ([`LOCAL_SWIFT_AUTH_URL`]) or
/// has no credentials, starts the local Swift-compatible endpoint (keeping objects in
/// `local_dir`, or in memory) on a free port, and points the connection at it.
pub async fn local_swift_if_needed(
    doc: &mut ConfigDocument,
    local_dir: Option<PathBuf>,
) -> Result<Option<LocalSwift>, Box<dyn Error + Send + Sync>> {
    start_local_swift(doc, local_dir, None).await
}

/// Like [`local_swift_if_needed`], on `addr` when the connection names the local endpoint.
async fn start_local_swift(
    doc: &mut ConfigDocument,
    local_dir: Option<PathBuf>,
    addr: Option<std::net::SocketAddr>,
) -> Result<Option<LocalSwift>, Box<dyn Error + Send + Sync>> {
    let mut config = AppConfig::from_document(std::mem::take(doc))?;
    if !wants_local(&config.swift) {
        *doc = config.into_document();
        return Ok(None);
    }
    let named = config.swift.auth_url.as_deref().map(str::trim) == Some(LOCAL_SWIFT_AUTH_URL);
    let local = LocalSwift::start(LocalSwiftConfig {
        dir: local_dir.clone(),
        addr: addr.filter(|_| named),
        ..LocalSwiftConfig::default()
    })
    .await
    .map_err(|e| format!("the local Swift endpoint cannot start: {e}"))?;
    config.swift = SwiftConfig {
        auth_url: Some(local.auth_url()),
        user: Some(local.user().to_owned()),
        key: Some(local.key().into()),
        auth_version: zato::swift::AuthVersion::V1,
        ..config.swift
    };
    match &local_dir {
        Some(dir) => tracing::info!(
            auth_url = %local.auth_url(),
            objects = %dir.join("data").display(),
            "started the local Swift-compatible endpoint for the Swift connection; \
             each invoice is the file <objects>/<target>/{OBJECT}"
        ),
        None => tracing::info!(
            auth_url = %local.auth_url(),
            "started the local Swift-compatible endpoint for the Swift connection, in memory"
        ),
    }
    *doc = config.into_document();
    Ok(Some(local))
}

/// The document as `main` runs it: the channels `ZATO_SWIFT_INBOX`, `ZATO_AMQP_URL`,
/// `ZATO_NATS_URL`, `ZATO_MQTT_URL`, `ZATO_AMQP10_URL` and `ZATO_ZMQ_PULL_ADDRESS` ask for added,
/// and the local Swift endpoint started on the address of [`LOCAL_SWIFT_AUTH_URL`] when the
/// connection names it (or on a free port when it has no credentials).
pub async fn prepare_from_env(
    doc: &mut ConfigDocument,
    local_dir: Option<PathBuf>,
) -> Result<Option<LocalSwift>, Box<dyn Error + Send + Sync>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let mut config = AppConfig::from_document(std::mem::take(doc))?;
    if let Some(inbox) = env("ZATO_SWIFT_INBOX") {
        config = config.with_swift_inbox(inbox.trim());
    }
    if let Some(url) = env("ZATO_AMQP_URL") {
        config = config.with_amqp(&url, AMQP_QUEUE);
    }
    if let Some(url) = env("ZATO_NATS_URL") {
        config = config.with_nats(url.trim(), NATS_SUBJECT, NATS_STREAM);
    }
    if let Some(url) = env("ZATO_MQTT_URL") {
        config = config.with_mqtt(url.trim(), MQTT_TOPIC);
    }
    if let Some(url) = env("ZATO_AMQP10_URL") {
        let address = env("ZATO_AMQP10_ADDRESS").unwrap_or_else(|| AMQP10_ADDRESS.to_owned());
        config = config.with_amqp10(url.trim(), address.trim());
    }
    if let Some(address) = env("ZATO_ZMQ_PULL_ADDRESS") {
        config = config.with_zmq_pull(&address);
    }
    *doc = config.into_document();
    let authority = LOCAL_SWIFT_AUTH_URL
        .trim_start_matches("http://")
        .split('/')
        .next();
    let addr = authority.and_then(|a| a.parse().ok());
    start_local_swift(doc, local_dir, addr).await
}

/// Like [`start_with_admin`], joining the cluster `cluster` describes when given. The first node
/// of an empty cluster database seeds it from `config`; from then on the database is
/// authoritative, and later nodes ignore `config`.
pub async fn start_node(
    config: AppConfig,
    addr: &str,
    local_dir: Option<PathBuf>,
    admin: Option<AdminSettings>,
    cluster: Option<ClusterSettings>,
) -> Result<Running, Box<dyn Error + Send + Sync>> {
    let mut doc = config.into_document();
    let local = local_swift_if_needed(&mut doc, local_dir).await?;
    // What the node keeps on disk (its pub/sub store) in a directory of this node's own, so that
    // nodes started side by side (as tests do) share nothing; removed when the node stops.
    static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let data = std::env::temp_dir().join(format!(
        "zato-invoice-dispatcher-{}-{}",
        std::process::id(),
        STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let mut node = zato::Node::new()
        .http_addr(addr)
        .document(doc)
        .with_data_dir(data.clone());
    if let Some(admin) = admin {
        node = node.admin(admin.addr, admin.token.expose().clone());
    }
    if let Some(cluster) = cluster {
        node = node.cluster(cluster);
    }
    let started = match node
        .deploy(invoice_dispatcher)
        .and_then(|n| n.deploy(invoice_audit))
    {
        Ok(node) => node.start().await,
        Err(e) => Err(e),
    };
    let node = match started {
        Ok(node) => node,
        Err(e) => {
            if let Some(local) = local {
                local.shutdown().await;
            }
            return Err(e.into());
        }
    };
    Ok(Running {
        platform: node.platform().clone(),
        http: node.http().clone(),
        runtime: node.runtime().clone(),
        admin: node.admin().cloned(),
        local,
        cluster: node.cluster().cloned(),
        node,
        data,
    })
}

/// The name of the PULL channel [`AppConfig::with_zmq_pull`] adds.
pub const ZMQ_PULL_CHANNEL: &str = "invoice.dispatcher.zmq";

impl AppConfig {
    /// The same configuration with a ZeroMQ PULL channel, [`ZMQ_PULL_CHANNEL`], binding
    /// `address` (`tcp://127.0.0.1:11225`) and feeding the service: a message is the invoice
    /// JSON naming its own targets, `{"id":"300","target":["CRM"]}`, and the stored object is
    /// the whole message, as over HTTP.
    pub fn with_zmq_pull(mut self, address: &str) -> AppConfig {
        self.document
            .channels
            .entry("zmq".to_owned())
            .or_default()
            .push(serde_json::json!({
                "name": ZMQ_PULL_CHANNEL,
                "socket_type": "pull",
                "socket_method": "bind",
                "address": address,
                "service": "invoice.dispatcher",
            }));
        self
    }
}

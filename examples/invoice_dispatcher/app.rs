//! The InvoiceDispatcher of the seed article: the service, and the platform around it (its HTTP
//! channels and its Swift connection), built from configuration.
//!
//! `main.rs` runs it; `tests/invoice_dispatcher.rs` drives it end to end.

#![allow(
    unreachable_pub,
    reason = "public for the test crate that includes this file too"
)]

use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use zato::admin::AdminServer;
use zato::channels::HttpServer;
use zato::config::{
    ConfigDocument, ConfigError, ConfigRuntime, Format, ImportOptions, MemoryStore,
};
use zato::prelude::*;
use zato::swift::local::{LocalSwift, LocalSwiftConfig};
use zato::swift::{
    ContainerName, Metadata, PutOptions, SwiftClient, SwiftConfig, SwiftError, SwiftKind,
};
use zato::{OutgoingError, OutgoingErrorKind};

/// The outgoing connection the service stores invoices through.
pub const CONNECTION: &str = "Invoice Dispatcher";
/// The object each invoice is stored as, in the container named after its target.
pub const OBJECT: &str = "Invoice";

/// The input: the applications to send the invoice to. The invoice itself is the raw body.
///
/// SimpleIO holds `target` to its rules before the service runs, whatever channel the request
/// came through (HTTP, AMQP, ZeroMQ, the scheduler, the Swift inbox): one target at least and
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
/// not stored, and those whose outcome is unknown (no answer came), with the reasons.
#[service(name = "invoice.dispatcher")]
pub async fn invoice_dispatcher(
    req: Request<Dispatch>,
    ctx: &Context,
) -> Result<Dispatched, ServiceError> {
    let targets = check_targets(&req.input.target)?;
    let conn = ctx.outgoing().swift(CONNECTION)?;
    let width = CONCURRENT_WRITES.min(conn.config().pool_size).max(1) as usize;
    // Each write owns what it uses, so the writes can run side by side in this task.
    let writes = targets.into_iter().enumerate().map(|(i, target)| {
        let conn = conn.clone();
        let invoice = req.raw_request.clone();
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
    if outcome.failed.is_empty() {
        Ok(Dispatched {
            stored: outcome.stored,
        })
    } else {
        Err(outcome.into_error())
    }
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

/// Stores the invoice in `container`, creating the container when it is missing.
async fn store(client: &SwiftClient, container: &str, invoice: Bytes) -> Result<(), SwiftError> {
    let opts = PutOptions::default();
    match client
        .put_object(container, OBJECT, invoice.clone(), &opts)
        .await
    {
        Err(e) if e.is_not_found() => {
            client.create_container(container, &Metadata::new()).await?;
            client.put_object(container, OBJECT, invoice, &opts).await?;
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
        let document = ConfigDocument::parse(text, format)?;
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
#[cfg(feature = "amqp")]
pub const AMQP_CONNECTION: &str = "broker";
/// The queue the example consumes, and whose dead letters go to `<queue>.dead`.
#[cfg(feature = "amqp")]
pub const AMQP_QUEUE: &str = "invoices";

#[cfg(feature = "amqp")]
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
    pub platform: Platform,
    pub http: HttpServer,
    /// The node's configuration, live: what the admin API changes.
    pub runtime: ConfigRuntime,
    /// The admin API, when a token was given.
    pub admin: Option<AdminServer>,
    /// The local Swift-compatible endpoint, when no Swift credentials were configured.
    pub local: Option<LocalSwift>,
    /// This node's membership of a cluster, when it joined one.
    #[cfg(feature = "cluster")]
    pub cluster: Option<zato::cluster::ClusterNode>,
}

/// How a node joins a cluster: `ZATO_CLUSTER_DB`, `ZATO_SECRET_KEY` and `ZATO_NODE_NAME`.
#[cfg(feature = "cluster")]
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// The PostgreSQL URL.
    pub db: Secret<String>,
    /// The passphrase the secrets in the database are encrypted under.
    pub secret_key: Secret<String>,
    /// The node's name.
    pub node: String,
    /// The schema of the cluster's tables (`zato`; tests use their own).
    pub schema: String,
}

impl Running {
    /// Stops the admin API, the platform's channels (finishing requests in flight), then the
    /// local endpoint.
    pub async fn shutdown(self) {
        #[cfg(feature = "cluster")]
        if let Some(node) = &self.cluster {
            node.leave();
        }
        if let Some(admin) = &self.admin {
            admin.shutdown().await;
        }
        self.platform.shutdown().await;
        if let Some(local) = self.local {
            local.shutdown().await;
        }
    }
}

fn has_credentials(swift: &SwiftConfig) -> bool {
    let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    set(&swift.auth_url) || set(&swift.preauth_url)
}

/// Where the admin API listens and the token callers must present.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    pub addr: String,
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

/// What a node in a cluster is not told by its own config: the cluster's store, and whether the
/// node seeds it.
#[cfg(not(feature = "cluster"))]
pub type ClusterSettings = std::convert::Infallible;

/// Like [`start_with_admin`], joining the cluster `cluster` describes when given. The first node
/// of an empty cluster database seeds it from `config`; from then on the database is
/// authoritative, and later nodes ignore `config`.
pub async fn start_node(
    mut config: AppConfig,
    addr: &str,
    local_dir: Option<PathBuf>,
    admin: Option<AdminSettings>,
    cluster: Option<ClusterSettings>,
) -> Result<Running, Box<dyn Error + Send + Sync>> {
    let platform = Platform::new();
    platform.services().deploy(invoice_dispatcher)?;

    #[cfg(feature = "cluster")]
    let joined = match &cluster {
        Some(c) => {
            let settings = zato::cluster::PgSettings::new(
                c.db.expose().clone(),
                c.secret_key.expose().clone(),
            )
            .with_schema(c.schema.clone());
            let store = Arc::new(zato::cluster::PgStore::connect(settings).await?);
            let seeds = store.latest_version().await? == 0;
            Some((store, seeds))
        }
        None => None,
    };
    #[cfg(not(feature = "cluster"))]
    let joined: Option<((), bool)> = cluster.map(|never| match never {});
    let seeds = joined.as_ref().is_none_or(|(_, seeds)| *seeds);
    if !seeds {
        tracing::info!(
            "the cluster database is authoritative: this node takes its configuration from it and ignores its config file and ZATO_SWIFT_* variables"
        );
    }

    let local = if !seeds || has_credentials(&config.swift) {
        None
    } else {
        let local = LocalSwift::start(LocalSwiftConfig {
            dir: local_dir.clone(),
            ..LocalSwiftConfig::default()
        })
        .await?;
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
                "no Swift credentials configured: started the local Swift-compatible endpoint; \
                 each invoice is the file <objects>/<target>/{OBJECT}"
            ),
            None => tracing::info!(
                auth_url = %local.auth_url(),
                "no Swift credentials configured: started the local Swift-compatible endpoint, in memory"
            ),
        }
        Some(local)
    };

    let http = HttpServer::bind(addr, platform.clone()).await?;
    #[cfg(feature = "cluster")]
    let store: Arc<dyn zato::config::ConfigStore> = match &joined {
        Some((pg, _)) => pg.clone(),
        None => Arc::new(MemoryStore::new()),
    };
    #[cfg(not(feature = "cluster"))]
    let store: Arc<dyn zato::config::ConfigStore> = Arc::new(MemoryStore::new());
    let runtime = ConfigRuntime::new(platform.clone(), store);
    for kind in http.config_kinds() {
        runtime.register(kind);
    }
    runtime.register(zato::kind::live(SwiftKind::new(&platform)));
    // Built with AMQP, the node takes AMQP connections and channels, from its file or live.
    #[cfg(feature = "amqp")]
    let amqp = {
        let amqp = zato::channels::amqp::AmqpAdapter::attach(&platform)?;
        for kind in amqp.config_kinds(&platform) {
            runtime.register(kind);
        }
        amqp
    };
    #[cfg(feature = "zmq")]
    let zmq = zmq_channels(&platform, &runtime)?;
    // Swift inbox channels, from the file or live: containers polled for invoices.
    let inbox = zato::channels::swift_inbox::SwiftInboxAdapter::attach(&platform)?;
    runtime.register(inbox.config_kind());
    // Scheduled jobs, from the file or live; in a cluster each due run runs on one node.
    let scheduler = zato::scheduler::Scheduler::attach(&platform)?;
    runtime.register(scheduler.config_kind());
    let seeded =
        if seeds {
            match runtime
                .import(
                    &config.into_document(),
                    ImportOptions {
                        dry_run: false,
                        replace: true,
                    },
                    "config file",
                )
                .await
            {
                // Another node seeded the cluster first: take its configuration.
                Err(zato::config::ChangeError::Store(zato::config::StoreError::Stale {
                    ..
                })) if joined.is_some() => runtime.load().await.map(drop),
                other => other.map(drop),
            }
        } else {
            runtime.load().await.map(drop)
        };
    if let Err(e) = seeded {
        platform.shutdown().await;
        return Err(e.into());
    }
    #[cfg(feature = "cluster")]
    let cluster_node = match (&joined, &cluster) {
        (Some((store, _)), Some(c)) => {
            let node = zato::cluster::ClusterNode::join(
                store.clone(),
                runtime.clone(),
                c.node.clone(),
                http.local_addr().to_string(),
            )
            .await?;
            runtime.set_replication(Arc::new(node.clone()));
            Some(node)
        }
        _ => None,
    };
    // Channels start in the order AMQP, ZeroMQ, Swift inbox, then HTTP: an open HTTP port
    // means every channel is consuming.
    #[cfg(feature = "amqp")]
    zato::channels::ChannelAdapter::start(&amqp).await?;
    #[cfg(feature = "zmq")]
    zato::channels::ChannelAdapter::start(&zmq).await?;
    zato::channels::ChannelAdapter::start(&inbox).await?;
    zato::channels::ChannelAdapter::start(&scheduler).await?;
    http.start().await?;
    let admin = match admin {
        Some(settings) => {
            Some(AdminServer::serve(&settings.addr, runtime.clone(), settings.token).await?)
        }
        None => None,
    };
    Ok(Running {
        platform,
        http,
        runtime,
        admin,
        local,
        #[cfg(feature = "cluster")]
        cluster: cluster_node,
    })
}

/// The name of the PULL channel [`AppConfig::with_zmq_pull`] adds.
#[cfg(feature = "zmq")]
pub const ZMQ_PULL_CHANNEL: &str = "invoice.dispatcher.zmq";

#[cfg(feature = "zmq")]
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

/// The ZeroMQ adapter of the platform, with `channels.zmq` and `outgoing.zmq` registered on the
/// runtime; its sockets read once it is started.
#[cfg(feature = "zmq")]
fn zmq_channels(
    platform: &Platform,
    runtime: &ConfigRuntime,
) -> Result<zato::channels::ZmqAdapter, Box<dyn Error + Send + Sync>> {
    let zmq = zato::channels::ZmqAdapter::new(platform)?;
    runtime.register(zmq.config_kind());
    runtime.register(Arc::new(zato::channels::ZmqOutgoingKind::new(platform)));
    Ok(zmq)
}

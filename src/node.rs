//! [`Node`]: a whole node assembled in one place, from a config document and the environment.
//!
//! A node is a [`Platform`] with the HTTP channels on one listener, the config runtime over a
//! store (in memory, or PostgreSQL for a cluster), every channel and connection kind this build
//! compiles in (and any [`Plugin`] the host adds), and the admin API and web admin when a token
//! is given. A host application's `main` deploys its services and runs it:
//!
//! ```no_run
//! use zato::prelude::*;
//!
//! #[service(name = "demo.hello")]
//! async fn hello(_req: Request<()>, _ctx: &Context) -> Result<(), ServiceError> {
//!     Ok(())
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), zato::NodeError> {
//!     let node = zato::Node::from_env()?.deploy(hello)?;
//!     node.start().await?.run_until_ctrl_c().await;
//!     Ok(())
//! }
//! ```
//!
//! # Environment
//!
//! [`Node::from_env`] reads these variables; unset and blank are the same.
//!
//! | variable | what it sets | default |
//! | --- | --- | --- |
//! | `ZATO_CONFIG` | the config document (JSON, TOML or YAML by its extension) | the file given to [`Node::default_config`], else none |
//! | `ZATO_HTTP_ADDR` | the HTTP channels' listening address | `127.0.0.1:11223` |
//! | `ZATO_HTTP_TLS_CERT`, `ZATO_HTTP_TLS_KEY` | PEM files: the HTTP listener serves TLS with them, reloaded when they change | plain HTTP |
//! | `ZATO_ADMIN_TOKEN` | the admin API's bearer token (8 characters at least); without it the admin API does not start | none |
//! | `ZATO_ADMIN_ADDR` | the admin API's listening address | `127.0.0.1:11224` |
//! | `ZATO_CLUSTER_DB` | a PostgreSQL URL: the node joins the cluster whose configuration it holds (feature `cluster`) | none |
//! | `ZATO_SECRET_KEY` | with `ZATO_CLUSTER_DB`: the passphrase (32 characters at least) the secrets in the database are encrypted under | none |
//! | `ZATO_NODE_NAME` | the node's name in the cluster | host name and HTTP port |
//! | `ZATO_CLUSTER_SCHEMA` | the schema of the cluster's tables | `zato` |
//! | `ZATO_DATA_DIR` | the directory for what the node keeps on disk ([`Node::data_dir`]) | `zato-data`, in the current directory |
//!
//! Each plug-in may read its own before the document seeds the node; the Swift plug-in reads
//! `ZATO_SWIFT_AUTH_URL`, `ZATO_SWIFT_USER`, `ZATO_SWIFT_KEY`, `ZATO_SWIFT_AUTH_VERSION` and
//! `ZATO_SWIFT_API_KEY` ([`Node::env_vars`] lists them all).
//!
//! # Kinds
//!
//! The kinds a node applies come from its plug-ins: those this build compiles in by features
//! ([`compiled_in`](crate::compiled_in)), and those given to [`Node::plugin`]. The config check, the admin API, the
//! CLI, enmasse and the web admin learn them from the node.

use std::error::Error;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use zato_core::config::{
    ChangeError, ConfigDocument, ConfigRuntime, ConfigStore, Format, ImportOptions, MemoryStore,
    StoreError,
};
use zato_core::kind::Plugin;
use zato_core::{Platform, Service};

#[cfg(feature = "admin")]
use zato_admin::{ADMIN_ADDR_ENV, ADMIN_TOKEN_ENV, AdminServer, DEFAULT_ADMIN_ADDR};
use zato_channels::HttpServer;

/// Where the HTTP channels listen unless `ZATO_HTTP_ADDR` says otherwise.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:11223";

/// Where the node keeps its data unless `ZATO_DATA_DIR` says otherwise, relative to the
/// current directory.
pub const DEFAULT_DATA_DIR: &str = "zato-data";

/// Why a node could not be built or started: what was wrong, and the error beneath it.
#[derive(Debug)]
pub struct NodeError {
    message: String,
    source: Option<Box<dyn Error + Send + Sync>>,
}

impl NodeError {
    fn new(message: impl Into<String>) -> Self {
        NodeError {
            message: message.into(),
            source: None,
        }
    }

    fn with(message: impl Into<String>, source: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        NodeError {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for NodeError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

/// How a node joins a cluster: the PostgreSQL holding its configuration.
#[derive(Clone)]
pub struct ClusterSettings {
    /// The PostgreSQL URL.
    pub db: zato_core::Secret<String>,
    /// The passphrase the secrets in the database are encrypted under.
    pub secret_key: zato_core::Secret<String>,
    /// The node's name.
    pub node: String,
    /// The schema of the cluster's tables (`zato`; tests use their own).
    pub schema: String,
}

impl fmt::Debug for ClusterSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterSettings")
            .field("node", &self.node)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// A node to start: its platform (deploy services into it), its document, its listeners and
/// its plug-ins.
pub struct Node {
    platform: Platform,
    config_path: Option<PathBuf>,
    document: Option<ConfigDocument>,
    http_addr: String,
    http_tls: Option<zato_channels::TlsFiles>,
    admin: Option<(String, zato_core::Secret<String>)>,
    cluster: Option<ClusterSettings>,
    plugins: Vec<Arc<dyn Plugin>>,
    data_dir: PathBuf,
    env: bool,
    /// Whether the plug-ins' environment has been applied to `document`.
    prepared: bool,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The document holds secrets: only where it comes from shows.
        f.debug_struct("Node")
            .field("config_path", &self.config_path)
            .field("has_document", &self.document.is_some())
            .field("http_addr", &self.http_addr)
            .field("admin_addr", &self.admin.as_ref().map(|(addr, _)| addr))
            .field("cluster", &self.cluster)
            .field("plugins", &self.plugins)
            .finish_non_exhaustive()
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Default for Node {
    fn default() -> Self {
        Node::new()
    }
}

impl Node {
    /// A node with no document, listening on [`DEFAULT_HTTP_ADDR`], with the kinds this build
    /// compiles in, no admin API and no cluster: set them with the other methods.
    pub fn new() -> Node {
        Node {
            platform: Platform::new(),
            config_path: None,
            document: None,
            http_addr: DEFAULT_HTTP_ADDR.to_owned(),
            http_tls: None,
            admin: None,
            cluster: None,
            plugins: crate::compiled_in(),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            env: false,
            prepared: false,
        }
    }

    /// A node set by the environment (the module's documentation lists the variables).
    ///
    /// # Errors
    ///
    /// A [`NodeError`] naming a variable that is set wrong, or one this build cannot honour
    /// (`ZATO_CLUSTER_DB` without the `cluster` feature).
    pub fn from_env() -> Result<Node, NodeError> {
        let mut node = Node::new();
        node.env = true;
        node.config_path = env_var("ZATO_CONFIG").map(PathBuf::from);
        if let Some(addr) = env_var("ZATO_HTTP_ADDR") {
            node.http_addr = addr;
        }
        let (cert_env, key_env) = (
            zato_channels::HTTP_TLS_CERT_ENV,
            zato_channels::HTTP_TLS_KEY_ENV,
        );
        match (env_var(cert_env), env_var(key_env)) {
            (Some(cert), Some(key)) => {
                node.http_tls = Some(zato_channels::TlsFiles::new(cert, key));
            }
            (None, None) => {}
            _ => {
                return Err(NodeError::new(format!(
                    "{cert_env} and {key_env} go together: set both for TLS, or neither"
                )));
            }
        }
        if let Some(dir) = env_var("ZATO_DATA_DIR") {
            node.data_dir = PathBuf::from(dir);
        }
        node = node.admin_from_env();
        if let Some(db) = env_var("ZATO_CLUSTER_DB") {
            if !cfg!(feature = "cluster") {
                return Err(NodeError::new(
                    "ZATO_CLUSTER_DB is set, but this build has no cluster: build with the `cluster` feature",
                ));
            }
            let Some(secret_key) = env_var("ZATO_SECRET_KEY") else {
                return Err(NodeError::new(
                    "ZATO_CLUSTER_DB is set but ZATO_SECRET_KEY is not: a node of a cluster needs the passphrase (at least 32 characters) its secrets are encrypted under",
                ));
            };
            let node_name = env_var("ZATO_NODE_NAME").unwrap_or_else(|| {
                let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .map(|h| h.trim().to_owned())
                    .unwrap_or_else(|_| "node".to_owned());
                let port = node.http_addr.rsplit(':').next().unwrap_or("0");
                format!("{host}:{port}")
            });
            node.cluster = Some(ClusterSettings {
                db: db.into(),
                secret_key: secret_key.into(),
                node: node_name,
                schema: env_var("ZATO_CLUSTER_SCHEMA").unwrap_or_else(|| "zato".to_owned()),
            });
        }
        Ok(node)
    }

    #[cfg(feature = "admin")]
    fn admin_from_env(mut self) -> Node {
        match env_var(ADMIN_TOKEN_ENV) {
            Some(token) => {
                let addr = env_var(ADMIN_ADDR_ENV).unwrap_or_else(|| DEFAULT_ADMIN_ADDR.to_owned());
                self.admin = Some((addr, token.into()));
            }
            None => tracing::info!(
                "admin API not started: set {ADMIN_TOKEN_ENV} to start it (it never runs open)"
            ),
        }
        self
    }

    #[cfg(not(feature = "admin"))]
    fn admin_from_env(self) -> Node {
        self
    }

    /// The config document read from `path` when `ZATO_CONFIG` names none.
    pub fn default_config(mut self, path: impl AsRef<Path>) -> Node {
        if self.config_path.is_none() {
            self.config_path = Some(path.as_ref().to_owned());
        }
        self
    }

    /// The node seeded from `document` rather than a file.
    pub fn document(mut self, document: ConfigDocument) -> Node {
        self.document = Some(document);
        self.config_path = None;
        self
    }

    /// The document the node will be seeded from, read from its file the first time, with
    /// what the plug-ins read from the environment applied (for a node made by
    /// [`from_env`](Self::from_env)), to be adjusted before [`start`](Self::start).
    ///
    /// # Errors
    ///
    /// A [`NodeError`] when the file cannot be read or is not a config document, or an
    /// environment variable is wrong.
    pub fn document_mut(&mut self) -> Result<&mut ConfigDocument, NodeError> {
        let mut doc = match self.document.take() {
            Some(doc) => doc,
            None => match &self.config_path {
                Some(path) => read_document(path)?,
                None => ConfigDocument::default(),
            },
        };
        if self.env && !self.prepared {
            for plugin in &self.plugins {
                plugin
                    .prepare(&mut doc, &env_var_sync)
                    .map_err(|e| NodeError::with("the environment is wrong", e))?;
            }
            self.prepared = true;
        }
        Ok(self.document.insert(doc))
    }

    /// The HTTP channels listen on `addr` (`127.0.0.1:0` takes a free port).
    pub fn http_addr(mut self, addr: impl Into<String>) -> Node {
        self.http_addr = addr.into();
        self
    }

    /// The HTTP channels are served TLS with the certificate and key in `files`, reloaded when
    /// the files change (what `ZATO_HTTP_TLS_CERT` and `ZATO_HTTP_TLS_KEY` set). A
    /// `channels.http_tls` object of the document takes precedence while it exists.
    pub fn http_tls(mut self, files: zato_channels::TlsFiles) -> Node {
        self.http_tls = Some(files);
        self
    }

    /// The admin API and web admin listen on `addr`, for callers presenting `token`.
    #[cfg(feature = "admin")]
    pub fn admin(mut self, addr: impl Into<String>, token: impl Into<String>) -> Node {
        self.admin = Some((addr.into(), token.into().into()));
        self
    }

    /// The node joins the cluster `settings` describes (feature `cluster`).
    pub fn cluster(mut self, settings: ClusterSettings) -> Node {
        self.cluster = Some(settings);
        self
    }

    /// The node also applies the kinds of `plugin`: a kind of the host's own crate.
    pub fn plugin(mut self, plugin: impl Plugin) -> Node {
        self.plugins.push(Arc::new(plugin));
        self
    }

    /// Deploys a service.
    ///
    /// # Errors
    ///
    /// A [`NodeError`] when a service of that name is deployed already.
    pub fn deploy<S: Service>(self, service: S) -> Result<Node, NodeError> {
        self.platform
            .services()
            .deploy(service)
            .map_err(|e| NodeError::with("cannot deploy the service", e))?;
        Ok(self)
    }

    /// The platform the node runs: services, outgoing connections, channel adapters, metrics.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// The directory for what the node and the host application keep on disk (the example
    /// keeps its local Swift endpoint's objects in `swift/` there): `ZATO_DATA_DIR`, else
    /// [`DEFAULT_DATA_DIR`] in the current directory. Never a path fixed when the binary was
    /// built, so a copied binary writes where it runs.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The same node keeping its data in `dir`.
    pub fn with_data_dir(mut self, dir: impl Into<PathBuf>) -> Node {
        self.data_dir = dir.into();
        self
    }

    /// Every environment variable the node and its plug-ins read, with what each does.
    pub fn env_vars(&self) -> Vec<(&'static str, &'static str)> {
        let mut vars = vec![
            ("ZATO_CONFIG", "the config document"),
            ("ZATO_HTTP_ADDR", "the HTTP channels' listening address"),
            (
                "ZATO_HTTP_TLS_CERT",
                "the HTTP listener's certificate chain (PEM file)",
            ),
            (
                "ZATO_HTTP_TLS_KEY",
                "the HTTP listener's private key (PEM file)",
            ),
            ("ZATO_ADMIN_TOKEN", "the admin API's bearer token"),
            ("ZATO_ADMIN_ADDR", "the admin API's listening address"),
            ("ZATO_CLUSTER_DB", "the cluster's PostgreSQL URL"),
            ("ZATO_SECRET_KEY", "the passphrase of the cluster's secrets"),
            ("ZATO_NODE_NAME", "the node's name in the cluster"),
            ("ZATO_CLUSTER_SCHEMA", "the schema of the cluster's tables"),
            (
                "ZATO_DATA_DIR",
                "the directory for what the node keeps on disk",
            ),
        ];
        for plugin in &self.plugins {
            vars.extend(plugin.env());
        }
        vars
    }

    /// A checker knowing every kind of this node: what `zato config check` runs offline.
    pub fn checker(&self) -> zato_core::config::Checker {
        crate::config::checker_of(&self.plugins)
    }

    /// Builds and starts the node: binds the HTTP listener, attaches every plug-in, seeds the
    /// configuration from the document (or, in a cluster that has one, loads the cluster's),
    /// starts every channel (HTTP last, so an open HTTP port means every channel is taking
    /// work), then the admin API.
    ///
    /// # Errors
    ///
    /// A [`NodeError`] saying which step failed; what was started is stopped again.
    pub async fn start(mut self) -> Result<RunningNode, NodeError> {
        let document = self.document_mut()?.clone();
        let platform = self.platform.clone();
        let joined = join_store(self.cluster.as_ref()).await?;
        let seeds = joined.as_ref().is_none_or(|(_, seeds)| *seeds);
        if !seeds {
            tracing::info!(
                "the cluster database is authoritative: this node takes its configuration from it and ignores its config file"
            );
        }
        let http = HttpServer::bind(self.http_addr.as_str(), platform.clone())
            .await
            .map_err(|e| NodeError::with("the HTTP channels cannot listen", e))?;
        if let Some(files) = self.http_tls.take()
            && let Err(e) = http.set_tls(Some(files))
        {
            platform.shutdown().await;
            return Err(NodeError::with(
                "the HTTP listener's TLS cannot be loaded",
                e,
            ));
        }
        let store: Arc<dyn ConfigStore> = match &joined {
            Some((store, _)) => store.clone(),
            None => Arc::new(MemoryStore::new()),
        };
        let runtime = ConfigRuntime::new(platform.clone(), store);
        for kind in http.config_kinds() {
            runtime.register(kind);
        }
        #[cfg(feature = "pubsub")]
        platform.outgoing().insert(
            zato_pubsub::StoreLocation::KEY,
            Arc::new(match &self.cluster {
                Some(c) => zato_pubsub::StoreLocation::Postgres {
                    url: c.db.clone(),
                    schema: c.schema.clone(),
                },
                None => zato_pubsub::StoreLocation::in_data_dir(&self.data_dir),
            }),
        );
        for plugin in &self.plugins {
            match plugin.attach(&platform).await {
                Ok(kinds) => kinds.into_iter().for_each(|k| runtime.register(k)),
                Err(e) => {
                    platform.shutdown().await;
                    return Err(NodeError::with(
                        format!("the {} plug-in cannot attach", plugin.name()),
                        e,
                    ));
                }
            }
        }
        let seeded = if seeds {
            let options = ImportOptions {
                dry_run: false,
                replace: true,
            };
            match runtime.import(&document, options, "config file").await {
                // Another node seeded the cluster first: take its configuration.
                Err(ChangeError::Store(StoreError::Stale { .. })) if joined.is_some() => {
                    runtime.load().await.map(drop)
                }
                other => other.map(drop),
            }
        } else {
            runtime.load().await.map(drop)
        };
        if let Err(e) = seeded {
            platform.shutdown().await;
            return Err(NodeError::with("the configuration cannot be applied", e));
        }
        let cluster = match (joined, &self.cluster) {
            (Some((store, _)), Some(settings)) => {
                Some(join(store, &runtime, settings, &http).await?)
            }
            _ => None,
        };
        let started = async {
            for adapter in platform.channels().adapters() {
                if adapter.name() != zato_core::ChannelAdapter::name(&http) {
                    adapter.start().await?;
                }
            }
            http.start().await
        };
        if let Err(e) = started.await {
            platform.shutdown().await;
            return Err(NodeError::with("a channel cannot start", e));
        }
        #[cfg(feature = "admin")]
        let admin = match self.admin.take() {
            Some((addr, token)) => match AdminServer::serve(&addr, runtime.clone(), token).await {
                Ok(admin) => Some(admin),
                Err(e) => {
                    platform.shutdown().await;
                    return Err(NodeError::with("the admin API cannot start", e));
                }
            },
            None => None,
        };
        Ok(RunningNode {
            platform,
            http,
            runtime,
            #[cfg(feature = "admin")]
            admin,
            cluster,
        })
    }
}

fn env_var_sync(name: &str) -> Option<String> {
    env_var(name)
}

fn read_document(path: &Path) -> Result<ConfigDocument, NodeError> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| NodeError::with(format!("cannot read {shown}"), e))?;
    let format = Format::from_path(path)
        .map_err(|e| NodeError::with(format!("{shown}: unknown format"), e))?;
    ConfigDocument::parse(&text, format)
        .map_err(|e| NodeError::with(format!("invalid config {shown}"), e))
}

#[cfg(feature = "cluster")]
type Joined = Option<(Arc<zato_cluster::PgStore>, bool)>;
#[cfg(not(feature = "cluster"))]
type Joined = Option<(Arc<MemoryStore>, bool)>;

/// The cluster's store, and whether this node seeds it (its database holds no version yet).
#[cfg(feature = "cluster")]
async fn join_store(cluster: Option<&ClusterSettings>) -> Result<Joined, NodeError> {
    let Some(c) = cluster else {
        return Ok(None);
    };
    let settings =
        zato_cluster::PgSettings::new(c.db.expose().clone(), c.secret_key.expose().clone())
            .with_schema(c.schema.clone());
    let store = zato_cluster::PgStore::connect(settings)
        .await
        .map_err(|e| NodeError::with("cannot reach the cluster's database", e))?;
    let seeds = store
        .latest_version()
        .await
        .map_err(|e| NodeError::with("cannot read the cluster's database", e))?
        == 0;
    Ok(Some((Arc::new(store), seeds)))
}

#[cfg(not(feature = "cluster"))]
async fn join_store(cluster: Option<&ClusterSettings>) -> Result<Joined, NodeError> {
    match cluster {
        Some(_) => Err(NodeError::new(
            "a cluster was asked for, but this build has no cluster: build with the `cluster` feature",
        )),
        None => Ok(None),
    }
}

/// A node's membership of a cluster: [`zato::cluster::ClusterNode`](zato_cluster::ClusterNode)
/// with the `cluster` feature; without it, there is none.
#[cfg(feature = "cluster")]
pub type ClusterMembership = zato_cluster::ClusterNode;
/// A node's membership of a cluster: with the `cluster` feature, `zato::cluster::ClusterNode`;
/// without it, there is none.
#[cfg(not(feature = "cluster"))]
pub type ClusterMembership = std::convert::Infallible;

#[cfg(feature = "cluster")]
async fn join(
    store: Arc<zato_cluster::PgStore>,
    runtime: &ConfigRuntime,
    settings: &ClusterSettings,
    http: &HttpServer,
) -> Result<ClusterMembership, NodeError> {
    let node = zato_cluster::ClusterNode::join(
        store,
        runtime.clone(),
        settings.node.clone(),
        http.local_addr().to_string(),
    )
    .await
    .map_err(|e| NodeError::with("cannot join the cluster", e))?;
    runtime.set_replication(Arc::new(node.clone()));
    Ok(node)
}

#[cfg(not(feature = "cluster"))]
async fn join(
    _store: Arc<MemoryStore>,
    _runtime: &ConfigRuntime,
    _settings: &ClusterSettings,
    _http: &HttpServer,
) -> Result<ClusterMembership, NodeError> {
    Err(NodeError::new("this build has no cluster"))
}

/// A node serving: its platform, its HTTP listener, its configuration, its admin API and its
/// membership of a cluster.
#[derive(Debug)]
pub struct RunningNode {
    platform: Platform,
    http: HttpServer,
    runtime: ConfigRuntime,
    #[cfg(feature = "admin")]
    admin: Option<AdminServer>,
    cluster: Option<ClusterMembership>,
}

impl RunningNode {
    /// Its platform.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// Its HTTP listener.
    pub fn http(&self) -> &HttpServer {
        &self.http
    }

    /// Its configuration, live: what the admin API changes.
    pub fn runtime(&self) -> &ConfigRuntime {
        &self.runtime
    }

    /// Its admin API, when a token was given.
    #[cfg(feature = "admin")]
    pub fn admin(&self) -> Option<&AdminServer> {
        self.admin.as_ref()
    }

    /// Its membership of a cluster, when it joined one.
    pub fn cluster(&self) -> Option<&ClusterMembership> {
        self.cluster.as_ref()
    }

    /// Stops following the cluster, stops the admin API, then every channel, finishing the
    /// requests in flight.
    pub async fn shutdown(self) {
        #[cfg(feature = "cluster")]
        if let Some(node) = &self.cluster {
            node.leave();
        }
        #[cfg(feature = "admin")]
        if let Some(admin) = &self.admin {
            admin.shutdown().await;
        }
        self.platform.shutdown().await;
        // Pub/sub's deliverers and retention stop with the node; a batch in hand goes to
        // another node (or this one, started again) after its lease.
        #[cfg(feature = "pubsub")]
        if let Ok(pubsub) = zato_pubsub::PubSub::of(&self.platform) {
            pubsub.shutdown();
        }
    }

    /// Serves until Ctrl-C (SIGINT), then shuts down.
    pub async fn run_until_ctrl_c(self) {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot wait for Ctrl-C: shutting down");
        }
        tracing::info!("shutting down: finishing requests in flight");
        self.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn a_node_s_debug_shows_no_secret_of_its_document_or_its_settings() {
        let doc = ConfigDocument::from_value(serde_json::json!({
            "outgoing": {"swift": [{"name": "s", "key": "s3cr3t-swift-key"}]}
        }))
        .unwrap();
        let node = Node::new().document(doc).cluster(ClusterSettings {
            db: "postgres://u:s3cr3t-db@h/d".to_owned().into(),
            secret_key: "s3cr3t-passphrase".to_owned().into(),
            node: "n1".into(),
            schema: "zato".into(),
        });
        #[cfg(feature = "admin")]
        let node = node.admin("127.0.0.1:0", "s3cr3t-token");
        let shown = format!("{node:?}");
        assert!(shown.contains("has_document: true"), "{shown}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }
}

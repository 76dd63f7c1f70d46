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
use zato::channels::HttpServer;
use zato::channels::admin::AdminServer;
use zato::config::{
    ConfigDocument, ConfigError, ConfigRuntime, Format, ImportOptions, MemoryStore,
};
use zato::prelude::*;
use zato::swift::local::{LocalSwift, LocalSwiftConfig};
use zato::swift::{Metadata, PutOptions, SwiftClient, SwiftConfig, SwiftError, SwiftKind};
use zato::{OutgoingError, OutgoingErrorKind};

/// The outgoing connection the service stores invoices through.
pub const CONNECTION: &str = "Invoice Dispatcher";
/// The object each invoice is stored as, in the container named after its target.
pub const OBJECT: &str = "Invoice";

/// The input: the applications to send the invoice to. The invoice itself is the raw body.
#[derive(SimpleIo, Debug)]
pub struct Dispatch {
    pub target: Vec<String>,
}

/// The output: the targets the invoice was stored for.
#[derive(SimpleIo, Debug)]
pub struct Dispatched {
    pub stored: Vec<String>,
}

#[service(name = "invoice.dispatcher")]
pub async fn invoice_dispatcher(
    req: Request<Dispatch>,
    ctx: &Context,
) -> Result<Dispatched, ServiceError> {
    check_targets(&req.input.target)?;
    // Without a client nothing is stored: the error says so, target by target, like any other.
    let client = match ctx.outgoing().swift(CONNECTION)?.client().await {
        Ok(client) => client,
        Err(e) => return Err(dispatch_failure(&[], &req.input.target, &e)),
    };

    let mut stored = Vec::new();
    let mut failed = Vec::new();
    for target in &req.input.target {
        match store(&client, target, req.raw_request.clone()).await {
            Ok(()) => stored.push(target.clone()),
            Err(e) => failed.push((target.clone(), e)),
        }
    }
    if failed.is_empty() {
        Ok(Dispatched { stored })
    } else {
        Err(partial_failure(&stored, failed))
    }
}

/// Target names become container names: refuse the ones Swift would, before storing anything.
fn check_targets(targets: &[String]) -> Result<(), ServiceError> {
    if targets.is_empty() {
        return Err(ServiceError::bad_request("at least one target is required"));
    }
    let bad: Vec<String> = targets
        .iter()
        .filter_map(|t| {
            zato::swift::check_container(t)
                .err()
                .map(|e| format!("`{t}`: {e}"))
        })
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::bad_request(format!(
            "invalid target: {}",
            bad.join("; ")
        )))
    }
}

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

/// The error for a dispatch that reached some targets and not others: it names both, with the
/// status of the first failure (502, 503 or 504).
fn partial_failure(stored: &[String], failed: Vec<(String, SwiftError)>) -> ServiceError {
    let kind = failed
        .first()
        .map_or(OutgoingErrorKind::BadGateway, |(_, e)| e.outgoing_kind());
    let not_stored: Vec<String> = failed
        .iter()
        .map(|(target, e)| format!("{target} ({e})"))
        .collect();
    stored_and_not(stored, &not_stored.join(", "), kind)
}

/// The error for a dispatch that failed before storing anything: every target, one reason.
fn dispatch_failure(stored: &[String], targets: &[String], e: &SwiftError) -> ServiceError {
    let not_stored = format!("{} ({e})", targets.join(", "));
    stored_and_not(stored, &not_stored, e.outgoing_kind())
}

fn stored_and_not(stored: &[String], not_stored: &str, kind: OutgoingErrorKind) -> ServiceError {
    let stored = if stored.is_empty() {
        "none".to_owned()
    } else {
        stored.join(", ")
    };
    OutgoingError::new(
        CONNECTION,
        kind,
        format!("stored for: {stored}; not stored for: {not_stored}"),
    )
    .into()
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
}

impl Running {
    /// Stops the admin API, the platform's channels (finishing requests in flight), then the
    /// local endpoint.
    pub async fn shutdown(self) {
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

/// Like [`start`], with the admin API on `admin.addr` when `admin` is given.
pub async fn start_with_admin(
    mut config: AppConfig,
    addr: &str,
    local_dir: Option<PathBuf>,
    admin: Option<AdminSettings>,
) -> Result<Running, Box<dyn Error + Send + Sync>> {
    let platform = Platform::new();
    platform.services().deploy(invoice_dispatcher)?;

    let local = if has_credentials(&config.swift) {
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
    let runtime = ConfigRuntime::new(platform.clone(), Arc::new(MemoryStore::new()));
    for kind in http.config_kinds() {
        runtime.register(kind);
    }
    runtime.register(Arc::new(SwiftKind::new(&platform)));
    let seeded = runtime
        .import(
            &config.into_document(),
            ImportOptions {
                dry_run: false,
                replace: true,
            },
            "config file",
        )
        .await;
    if let Err(e) = seeded {
        http.shutdown().await;
        return Err(e.into());
    }
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
    })
}

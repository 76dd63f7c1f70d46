//! The HTTP kinds of a node's config document: `channels.http`, and the security definitions
//! (`basic_auth`, `apikey`) its channels name.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use zato_core::config::{
    ConfigError, ObjectKey, ObjectKind, ObjectSchema, Reference, Section, normalize_as,
};
use zato_core::{ChannelAdapter, ConfigProblem};

use super::config::{HttpChannelConfig, SecurityDef};
use super::server::HttpServer;
use super::validate::{channel_problems, security_problems};

/// `channels.http`: HTTP channels, applied to one server (or only checked, without one).
#[derive(Debug, Clone, Default)]
pub struct HttpChannelKind {
    server: Option<HttpServer>,
}

impl HttpChannelKind {
    /// The kind applying to `server`.
    pub fn new(server: HttpServer) -> Self {
        HttpChannelKind {
            server: Some(server),
        }
    }

    /// The kind's schema alone, for checking documents offline.
    pub fn schema() -> Self {
        HttpChannelKind { server: None }
    }
}

fn no_server() -> ConfigError {
    ConfigError::one("", "this node has no HTTP server to apply it to")
}

impl ObjectSchema for HttpChannelKind {
    fn section(&self) -> Section {
        Section::Channels
    }

    fn kind(&self) -> &str {
        "http"
    }

    fn normalize(&self, object: &Value) -> Result<Value, ConfigError> {
        let normal = normalize_as::<HttpChannelConfig>(object, &[])?;
        let channel: HttpChannelConfig = serde_json::from_value(normal.clone())
            .map_err(|e| ConfigError::one("", e.to_string()))?;
        ConfigError::check(channel_problems(&channel))?;
        Ok(normal)
    }

    fn references(&self, object: &Value) -> Vec<Reference> {
        object
            .get("security")
            .and_then(Value::as_str)
            .map(|name| Reference {
                field: "security".to_owned(),
                to: ObjectKey::new(Section::Security, Section::Security.sole_kind(), name),
            })
            .into_iter()
            .collect()
    }
}

#[async_trait]
impl ObjectKind for HttpChannelKind {
    async fn apply(&self, object: &Value) -> Result<(), ConfigError> {
        let server = self.server.as_ref().ok_or_else(no_server)?;
        ChannelAdapter::upsert_channel(server, object.clone()).await
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        let server = self.server.as_ref().ok_or_else(no_server)?;
        ChannelAdapter::remove_channel(server, name).await
    }
}

/// A security definition's type in the document, applied to one server's definitions.
#[derive(Debug, Clone)]
pub struct SecurityKind {
    ty: &'static str,
    secrets: &'static [&'static str],
    server: Option<HttpServer>,
}

impl SecurityKind {
    /// Every security type, applying to `server` (or only checked, with `None`).
    pub fn all(server: Option<HttpServer>) -> Vec<SecurityKind> {
        vec![
            SecurityKind {
                ty: "basic_auth",
                secrets: &["password"],
                server: server.clone(),
            },
            SecurityKind {
                ty: "apikey",
                secrets: &["key"],
                server,
            },
        ]
    }
}

impl ObjectSchema for SecurityKind {
    fn section(&self) -> Section {
        Section::Security
    }

    fn kind(&self) -> &str {
        self.ty
    }

    fn normalize(&self, object: &Value) -> Result<Value, ConfigError> {
        let normal = normalize_as::<SecurityDef>(object, self.secrets)?;
        let def: SecurityDef = serde_json::from_value(normal.clone())
            .map_err(|_| ConfigError::one("", "cannot be read"))?;
        ConfigError::check(security_problems(&def))?;
        Ok(normal)
    }

    fn secret_fields(&self) -> &[&'static str] {
        self.secrets
    }
}

#[async_trait]
impl ObjectKind for SecurityKind {
    async fn apply(&self, object: &Value) -> Result<(), ConfigError> {
        let server = self.server.as_ref().ok_or_else(no_server)?;
        // The message of serde could quote a secret: say only that it did not read.
        let def: SecurityDef = serde_json::from_value(object.clone())
            .map_err(|_| ConfigError::new(vec![ConfigProblem::new("", "cannot be read")]))?;
        server.set_security(def)
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        let server = self.server.as_ref().ok_or_else(no_server)?;
        server.remove_security(name)
    }
}

impl HttpServer {
    /// The config document's kinds this server applies: `channels.http` and the security types.
    /// Register them with a [`ConfigRuntime`](zato_core::config::ConfigRuntime).
    pub fn config_kinds(&self) -> Vec<Arc<dyn ObjectKind>> {
        let mut kinds: Vec<Arc<dyn ObjectKind>> =
            vec![Arc::new(HttpChannelKind::new(self.clone()))];
        for k in SecurityKind::all(Some(self.clone())) {
            kinds.push(Arc::new(k));
        }
        kinds
    }
}

/// The schemas of the HTTP kinds, for checking documents offline.
pub fn config_schemas() -> Vec<Arc<dyn ObjectSchema>> {
    let mut schemas: Vec<Arc<dyn ObjectSchema>> = vec![Arc::new(HttpChannelKind::schema())];
    for k in SecurityKind::all(None) {
        schemas.push(Arc::new(k));
    }
    schemas
}

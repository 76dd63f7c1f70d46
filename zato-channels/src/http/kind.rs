//! The HTTP kinds of a node's config document: `channels.http`, and the security definitions
//! (`basic_auth`, `apikey`) its channels name.
//!
//! HTTP is the node's own listener rather than a plug-in: a node binds one [`HttpServer`] and
//! registers [`HttpServer::config_kinds`].

use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use zato_core::config::{
    BatchError, ConfigError, ConfigProblem, ObjectKey, ObjectKind, ObjectSchema, Reference,
    Section, Step,
};
use zato_core::kind::{self, Description, Kind};
use zato_core::security::{Credentials, SecurityDefinition};

use super::adapter::Put;
use super::config::{HttpChannelConfig, SecurityDef};
use super::server::HttpServer;
use super::tls::TlsFiles;
use super::validate::{channel_problems, route_clashes, security_problems};

/// `channels.http`: HTTP channels, applied to one server.
#[derive(Debug, Clone)]
pub struct HttpChannelKind {
    server: HttpServer,
}

impl HttpChannelKind {
    /// The kind applying to `server`.
    pub fn new(server: HttpServer) -> Self {
        HttpChannelKind { server }
    }
}

#[async_trait]
impl Kind for HttpChannelKind {
    type Config = HttpChannelConfig;
    const SECTION: Section = Section::Channels;
    const NAME: &'static str = "http";

    fn describe() -> Description<HttpChannelConfig> {
        Description::new(
            "an HTTP channel: a URL path and methods answered by a service",
            HttpChannelConfig::new(
                "invoice.dispatcher.json",
                "/invoice.dispatcher",
                "invoice.dispatcher",
            ),
        )
    }

    fn check(channel: &HttpChannelConfig) -> Vec<ConfigProblem> {
        channel_problems(channel)
    }

    fn references(channel: &HttpChannelConfig) -> Vec<Reference> {
        channel
            .security
            .as_deref()
            .map(|name| Reference {
                field: "security".to_owned(),
                to: ObjectKey::new(Section::Security, Section::Security.sole_kind(), name),
            })
            .into_iter()
            .collect()
    }

    /// A channel checks callers against `basic_auth` and `apikey` definitions only; a type for
    /// outgoing connections (a bearer token, OAuth 2 client credentials) is refused here.
    fn check_referenced(
        channel: &HttpChannelConfig,
        objects: &dyn Fn(&ObjectKey) -> Option<serde_json::Value>,
    ) -> Vec<ConfigProblem> {
        let Some(name) = channel.security.as_deref() else {
            return Vec::new();
        };
        let key = ObjectKey::new(Section::Security, Section::Security.sole_kind(), name);
        let Some(def) = objects(&key) else {
            return Vec::new();
        };
        let Some(ty) = def.get("type").and_then(serde_json::Value::as_str) else {
            return Vec::new();
        };
        if INBOUND_TYPES.contains(&ty) {
            return Vec::new();
        }
        vec![ConfigProblem::new(
            "security",
            format!(
                "the security definition `{name}` is of type `{ty}`, which only outgoing \
                 connections use; a channel takes {}",
                INBOUND_TYPES.join(" or ")
            ),
        )]
    }

    fn check_among(channels: &[&HttpChannelConfig]) -> Vec<(usize, ConfigProblem)> {
        route_clashes(channels)
    }

    async fn apply(&self, channel: Arc<HttpChannelConfig>) -> Result<(), ConfigError> {
        self.server
            .put_channel(HttpChannelConfig::clone(&channel), Put::Upsert)
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        self.server.take_channel(name).map(drop)
    }

    /// The whole change in one route table, built once and swapped in once: nothing of it is
    /// applied when any of it fails.
    async fn apply_all(&self, steps: Vec<Step<Arc<HttpChannelConfig>>>) -> Result<(), BatchError> {
        self.server.put_channels(steps)
    }
}

/// The security types a channel checks callers against.
const INBOUND_TYPES: &[&str] = &[
    BasicAuth::NAME,
    ApiKey::NAME,
    Jwt::NAME,
    IpList::NAME,
    TlsClientCert::NAME,
];

/// A type of security definition (`basic_auth`, `apikey`): its name, its secret field and an
/// example, for [`SecurityKind`].
pub trait SecurityType: Send + Sync + std::fmt::Debug + 'static {
    /// The definition's `type` in the document.
    const NAME: &'static str;
    /// Its secret field.
    const SECRETS: &'static [&'static str];
    /// Its summary and example.
    fn describe() -> Description<SecurityDef>;
}

/// HTTP Basic Auth: a user name and a password.
#[derive(Debug, Clone, Copy)]
pub struct BasicAuth;

impl SecurityType for BasicAuth {
    const NAME: &'static str = "basic_auth";
    const SECRETS: &'static [&'static str] = &["password"];

    fn describe() -> Description<SecurityDef> {
        Description::new(
            "HTTP Basic Auth: a user name and a password",
            SecurityDef::basic_auth("crm", "crm", "secret"),
        )
    }
}

/// An API key in a request header.
#[derive(Debug, Clone, Copy)]
pub struct ApiKey;

impl SecurityType for ApiKey {
    const NAME: &'static str = "apikey";
    const SECRETS: &'static [&'static str] = &["key"];

    fn describe() -> Description<SecurityDef> {
        Description::new(
            "an API key in a request header",
            SecurityDef::api_key("partner", "X-API-Key", "secret"),
        )
    }
}

/// A JSON Web Token, checked by a shared secret or a JWKS URL's keys.
#[derive(Debug, Clone, Copy)]
pub struct Jwt;

impl SecurityType for Jwt {
    const NAME: &'static str = "jwt";
    const SECRETS: &'static [&'static str] = &["secret"];

    fn describe() -> Description<SecurityDef> {
        Description::new(
            "a JSON Web Token in Authorization: Bearer, by a shared secret (HS256/384/512) or a \
             JWKS URL's keys (RS, PS, ES, EdDSA); issuer, audience, expiry checked",
            SecurityDef::Jwt {
                name: "partners.jwt".to_owned(),
                algorithm: "RS256".to_owned(),
                secret: None,
                jwks_url: Some("https://idp.example.com/.well-known/jwks.json".to_owned()),
                issuer: Some("https://idp.example.com/".to_owned()),
                audience: Some("invoices".to_owned()),
                leeway: 60,
                ip_allow: Vec::new(),
                ip_deny: Vec::new(),
            },
        )
    }
}

/// Callers let in by their address: CIDR ranges allowed and denied.
#[derive(Debug, Clone, Copy)]
pub struct IpList;

impl SecurityType for IpList {
    const NAME: &'static str = "ip_list";
    const SECRETS: &'static [&'static str] = &[];

    fn describe() -> Description<SecurityDef> {
        Description::new(
            "callers let in by their address: CIDR ranges allowed (ip_allow) and denied (ip_deny)",
            SecurityDef::IpList {
                name: "office".to_owned(),
                ip_allow: vec!["10.0.0.0/8".to_owned()],
                ip_deny: vec!["10.66.0.0/16".to_owned()],
            },
        )
    }
}

/// Callers identified by their TLS client certificate.
#[derive(Debug, Clone, Copy)]
pub struct TlsClientCert;

impl SecurityType for TlsClientCert {
    const NAME: &'static str = "tls_client_cert";
    const SECRETS: &'static [&'static str] = &[];

    fn describe() -> Description<SecurityDef> {
        Description::new(
            "callers identified by their TLS client certificate: allowed subjects or SHA-256 \
             fingerprints (the listener's TLS names a client_ca_file)",
            SecurityDef::TlsClientCert {
                name: "partners.mtls".to_owned(),
                subjects: vec!["CN=crm,O=Example".to_owned()],
                fingerprints: Vec::new(),
                ip_allow: Vec::new(),
                ip_deny: Vec::new(),
            },
        )
    }
}

/// A security type in the document, applied to one server's definitions.
#[derive(Debug, Clone)]
pub struct SecurityKind<T> {
    server: HttpServer,
    ty: PhantomData<T>,
}

/// The security type `basic_auth`.
pub type BasicAuthKind = SecurityKind<BasicAuth>;
/// The security type `apikey`.
pub type ApiKeyKind = SecurityKind<ApiKey>;
/// The security type `jwt`.
pub type JwtKind = SecurityKind<Jwt>;
/// The security type `ip_list`.
pub type IpListKind = SecurityKind<IpList>;
/// The security type `tls_client_cert`.
pub type TlsClientCertKind = SecurityKind<TlsClientCert>;

impl<T> SecurityKind<T> {
    /// The kind applying to `server`'s definitions.
    pub fn new(server: HttpServer) -> Self {
        SecurityKind {
            server,
            ty: PhantomData,
        }
    }
}

#[async_trait]
impl<T: SecurityType> Kind for SecurityKind<T> {
    type Config = SecurityDef;
    const SECTION: Section = Section::Security;
    const NAME: &'static str = T::NAME;
    const SECRETS: &'static [&'static str] = T::SECRETS;

    fn describe() -> Description<SecurityDef> {
        T::describe()
    }

    fn check(def: &SecurityDef) -> Vec<ConfigProblem> {
        security_problems(def)
    }

    /// Sets the definition on the server, and publishes it on the platform's
    /// [`security`](zato_core::Platform::security) for outgoing connections naming it.
    async fn apply(&self, def: Arc<SecurityDef>) -> Result<(), ConfigError> {
        self.server.set_security(SecurityDef::clone(&def))?;
        self.server.platform().security().insert(published(&def));
        Ok(())
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        self.server.remove_security(name)?;
        self.server.platform().security().remove(name);
        Ok(())
    }
}

/// `def` as the platform's security registry holds it.
fn published(def: &SecurityDef) -> SecurityDefinition {
    let credentials = match def {
        SecurityDef::BasicAuth {
            username, password, ..
        } => Credentials::Basic {
            username: username.clone(),
            password: password.clone(),
        },
        SecurityDef::ApiKey { header, key, .. } => Credentials::ApiKey {
            header: header.clone(),
            key: key.clone(),
        },
        // Only channels check tokens; outgoing connections have bearer types of their own.
        SecurityDef::Jwt { .. }
        | SecurityDef::IpList { .. }
        | SecurityDef::TlsClientCert { .. } => Credentials::Custom(Arc::new(())),
    };
    let ty = match def {
        SecurityDef::BasicAuth { .. } => BasicAuth::NAME,
        SecurityDef::ApiKey { .. } => ApiKey::NAME,
        SecurityDef::Jwt { .. } => Jwt::NAME,
        SecurityDef::IpList { .. } => IpList::NAME,
        SecurityDef::TlsClientCert { .. } => TlsClientCert::NAME,
    };
    SecurityDefinition::new(def.name(), ty, credentials)
}

impl HttpServer {
    /// The config document's kinds this server applies: `channels.http` and the security types.
    /// Register them with a [`ConfigRuntime`](zato_core::config::ConfigRuntime).
    pub fn config_kinds(&self) -> Vec<Arc<dyn ObjectKind>> {
        vec![
            kind::live(HttpChannelKind::new(self.clone())),
            kind::live(BasicAuthKind::new(self.clone())),
            kind::live(ApiKeyKind::new(self.clone())),
            kind::live(JwtKind::new(self.clone())),
            kind::live(IpListKind::new(self.clone())),
            kind::live(TlsClientCertKind::new(self.clone())),
            kind::live(HttpTlsKind::new(self.clone())),
        ]
    }
}

/// The schemas of the HTTP kinds, for checking documents offline.
pub fn config_schemas() -> Vec<Arc<dyn ObjectSchema>> {
    vec![
        kind::schema::<HttpChannelKind>(),
        kind::schema::<BasicAuthKind>(),
        kind::schema::<ApiKeyKind>(),
        kind::schema::<JwtKind>(),
        kind::schema::<IpListKind>(),
        kind::schema::<TlsClientCertKind>(),
        kind::schema::<HttpTlsKind>(),
    ]
}

/// The HTTP listener's TLS, as the config document names it (`channels.http_tls`): at most one
/// object, whose files the listener serves TLS with from the next connection on. Editing it
/// rotates the certificate; removing it goes back to what the node set
/// ([`HttpServer::set_tls`], from `ZATO_HTTP_TLS_CERT` and `ZATO_HTTP_TLS_KEY`), else plain HTTP.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpTlsConfig {
    /// The object's name.
    pub name: String,
    /// The certificate chain, PEM.
    pub cert_file: String,
    /// The private key, PEM.
    pub key_file: String,
    /// The CAs whose client certificates the listener asks for, PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca_file: Option<String>,
}

impl HttpTlsConfig {
    /// The files as the server takes them.
    pub fn files(&self) -> TlsFiles {
        let files = TlsFiles::new(&self.cert_file, &self.key_file);
        match &self.client_ca_file {
            Some(ca) => files.with_client_ca(ca),
            None => files,
        }
    }
}

/// `channels.http_tls`: the HTTP listener's certificate and key files.
#[derive(Debug, Clone)]
pub struct HttpTlsKind {
    server: HttpServer,
}

impl HttpTlsKind {
    /// The kind applying to `server`'s listener.
    pub fn new(server: HttpServer) -> Self {
        HttpTlsKind { server }
    }
}

#[async_trait]
impl Kind for HttpTlsKind {
    type Config = HttpTlsConfig;
    const SECTION: Section = Section::Channels;
    const NAME: &'static str = "http_tls";

    fn describe() -> Description<HttpTlsConfig> {
        Description::new(
            "TLS on the HTTP listener: certificate and key files (PEM), reloaded when they change",
            HttpTlsConfig {
                name: "listener".to_owned(),
                cert_file: "/etc/zato/server.crt".to_owned(),
                key_file: "/etc/zato/server.key".to_owned(),
                client_ca_file: None,
            },
        )
    }

    fn check(tls: &HttpTlsConfig) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        for (path, value) in [("cert_file", &tls.cert_file), ("key_file", &tls.key_file)] {
            if value.trim().is_empty() {
                problems.push(ConfigProblem::new(path, "must name a PEM file"));
            }
        }
        if tls
            .client_ca_file
            .as_deref()
            .is_some_and(|f| f.trim().is_empty())
        {
            problems.push(ConfigProblem::new("client_ca_file", "must name a PEM file"));
        }
        problems
    }

    fn check_among(objects: &[&HttpTlsConfig]) -> Vec<(usize, ConfigProblem)> {
        objects
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, _)| {
                (
                    i,
                    ConfigProblem::new("name", "the HTTP listener has one TLS configuration only"),
                )
            })
            .collect()
    }

    /// Loads the files and puts them in effect; when they cannot be loaded, the change is
    /// refused and what was in effect stays.
    async fn apply(&self, tls: Arc<HttpTlsConfig>) -> Result<(), ConfigError> {
        self.server
            .set_configured_tls(Some(tls.files()))
            .map_err(|e| ConfigError::one("cert_file", e.to_string()))
    }

    async fn remove(&self, _name: &str) -> Result<(), ConfigError> {
        self.server
            .set_configured_tls(None)
            .map_err(|e| ConfigError::one("cert_file", e.to_string()))
    }
}

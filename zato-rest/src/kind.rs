//! `outgoing.http` and `outgoing.soap` in a node's config document, the outbound security
//! types, and [`RestPlugin`] attaching them to a platform.

use std::sync::Arc;

use async_trait::async_trait;
use zato_core::config::{
    ConfigError, ConfigProblem, ObjectKey, ObjectKind, ObjectSchema, Reference, Section,
};
use zato_core::kind::{self, AttachError, Description, Kind, Plugin};
use zato_core::security::SecurityDefinitions;
use zato_core::{OutgoingConnections, Platform, ServiceError};

use crate::config::{RestConfig, SoapVersionConfig};
use crate::connection::{HttpConnection, RestMetrics};
use crate::security::{BearerTokenKind, OAuth2Kind, TlsClientCertKind};
use crate::soap::SoapConnection;

/// What `outgoing.http` and `outgoing.soap` share: the registry, the definitions, the metrics.
#[derive(Debug, Clone)]
struct Shared {
    outgoing: OutgoingConnections,
    defs: SecurityDefinitions,
    metrics: RestMetrics,
}

impl Shared {
    fn new(platform: &Platform, metrics: RestMetrics) -> Self {
        Shared {
            outgoing: platform.outgoing().clone(),
            defs: platform.security().clone(),
            metrics,
        }
    }
}

fn references(config: &RestConfig) -> Vec<Reference> {
    config
        .security
        .as_deref()
        .map(|name| Reference {
            field: "security".to_owned(),
            to: ObjectKey::new(Section::Security, Section::Security.sole_kind(), name),
        })
        .into_iter()
        .collect()
}

/// `outgoing.http`: REST connections, applied to a platform's outgoing connections.
#[derive(Debug, Clone)]
pub struct HttpKind {
    shared: Shared,
}

/// `outgoing.soap`: SOAP connections, applied to a platform's outgoing connections.
#[derive(Debug, Clone)]
pub struct SoapKind {
    shared: Shared,
}

#[async_trait]
impl Kind for HttpKind {
    type Config = RestConfig;
    const SECTION: Section = Section::Outgoing;
    const NAME: &'static str = "http";

    fn describe() -> Description<RestConfig> {
        Description::new(
            "an outgoing REST connection: an address, a security definition, timeouts, a bounded pool, retries and a circuit breaker",
            RestConfig::new("CRM", "https://crm.example.com/api"),
        )
        .pings()
    }

    fn check(config: &RestConfig) -> Vec<ConfigProblem> {
        let mut p = config.problems();
        if config.soap_version.is_some() {
            p.push(ConfigProblem::new(
                "soap_version",
                "only an outgoing.soap connection has a SOAP version",
            ));
        }
        p
    }

    fn references(config: &RestConfig) -> Vec<Reference> {
        references(config)
    }

    async fn apply(&self, config: Arc<RestConfig>) -> Result<(), ConfigError> {
        let s = &self.shared;
        match s.outgoing.get::<HttpConnection>(&config.name) {
            Some(conn) => conn.reconfigure(RestConfig::clone(&config)),
            None => {
                let conn = HttpConnection::new(
                    "http",
                    RestConfig::clone(&config),
                    s.defs.clone(),
                    &s.metrics,
                )?;
                s.outgoing.insert(config.name.as_str(), Arc::new(conn));
                Ok(())
            }
        }
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        self.shared
            .outgoing
            .remove::<HttpConnection>(name)
            .map(drop)
            .ok_or_else(|| ConfigError::one("", "no such outgoing http connection"))
    }

    /// Sends the ping method to the ping path: any answer below 500 is a success.
    async fn ping(&self, name: &str) -> Result<String, String> {
        let conn = self
            .shared
            .outgoing
            .get::<HttpConnection>(name)
            .ok_or_else(|| format!("no outgoing http connection named `{name}` on this node"))?;
        conn.ping().await
    }
}

#[async_trait]
impl Kind for SoapKind {
    type Config = RestConfig;
    const SECTION: Section = Section::Outgoing;
    const NAME: &'static str = "soap";

    fn describe() -> Description<RestConfig> {
        let mut example = RestConfig::new("Billing SOAP", "https://billing.example.com/soap");
        example.data_format = crate::RestFormat::Xml;
        example.soap_version = Some(SoapVersionConfig::V11);
        Description::new(
            "an outgoing SOAP 1.1 or 1.2 connection: SimpleIO values in envelopes, faults as typed errors",
            example,
        )
        .pings()
    }

    fn check(config: &RestConfig) -> Vec<ConfigProblem> {
        config.problems()
    }

    fn references(config: &RestConfig) -> Vec<Reference> {
        references(config)
    }

    async fn apply(&self, config: Arc<RestConfig>) -> Result<(), ConfigError> {
        let s = &self.shared;
        match s.outgoing.get::<SoapConnection>(&config.name) {
            Some(conn) => conn.http().reconfigure(RestConfig::clone(&config)),
            None => {
                let conn = HttpConnection::new(
                    "soap",
                    RestConfig::clone(&config),
                    s.defs.clone(),
                    &s.metrics,
                )?;
                s.outgoing
                    .insert(config.name.as_str(), Arc::new(SoapConnection::new(conn)));
                Ok(())
            }
        }
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        self.shared
            .outgoing
            .remove::<SoapConnection>(name)
            .map(drop)
            .ok_or_else(|| ConfigError::one("", "no such outgoing soap connection"))
    }

    async fn ping(&self, name: &str) -> Result<String, String> {
        let conn = self
            .shared
            .outgoing
            .get::<SoapConnection>(name)
            .ok_or_else(|| format!("no outgoing soap connection named `{name}` on this node"))?;
        conn.http().ping().await
    }
}

/// Reaches the REST and SOAP connections of zato-core's outgoing-connection registry by name:
/// `ctx.outgoing().http("CRM")?`.
pub trait RestOutgoing {
    /// The REST connection named `name`.
    ///
    /// # Errors
    ///
    /// A 503 [`ServiceError`] naming the connection when none is defined.
    fn http(&self, name: &str) -> Result<Arc<HttpConnection>, ServiceError>;

    /// The SOAP connection named `name`.
    ///
    /// # Errors
    ///
    /// A 503 [`ServiceError`] naming the connection when none is defined.
    fn soap(&self, name: &str) -> Result<Arc<SoapConnection>, ServiceError>;
}

impl RestOutgoing for OutgoingConnections {
    fn http(&self, name: &str) -> Result<Arc<HttpConnection>, ServiceError> {
        self.require::<HttpConnection>(name)
    }

    fn soap(&self, name: &str) -> Result<Arc<SoapConnection>, ServiceError> {
        self.require::<SoapConnection>(name)
    }
}

/// The REST plug-in: `outgoing.http`, `outgoing.soap`, and the security types
/// `bearer_token`, `oauth2_client_credentials` and `tls_client_cert`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RestPlugin;

/// The REST plug-in, for [`zato::Node`](https://docs.rs/zato).
pub fn plugin() -> RestPlugin {
    RestPlugin
}

#[async_trait]
impl Plugin for RestPlugin {
    fn name(&self) -> &str {
        "rest"
    }

    fn schemas(&self) -> Vec<Arc<dyn ObjectSchema>> {
        vec![
            kind::schema::<HttpKind>(),
            kind::schema::<SoapKind>(),
            kind::schema::<BearerTokenKind>(),
            kind::schema::<OAuth2Kind>(),
            kind::schema::<TlsClientCertKind>(),
        ]
    }

    async fn attach(&self, platform: &Platform) -> Result<Vec<Arc<dyn ObjectKind>>, AttachError> {
        let shared = Shared::new(platform, RestMetrics::new(platform.metrics()));
        let defs = platform.security().clone();
        Ok(vec![
            kind::live(HttpKind {
                shared: shared.clone(),
            }),
            kind::live(SoapKind { shared }),
            kind::live(BearerTokenKind::new(defs.clone())),
            kind::live(OAuth2Kind::new(defs.clone())),
            kind::live(TlsClientCertKind::new(defs)),
        ])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn the_kinds_describe_their_fields_for_the_admin_the_cli_and_the_web_admin() {
        let info = kind::schema::<HttpKind>().describe();
        let field = |info: &zato_core::kind::KindInfo, n: &str| {
            info.fields.iter().find(|f| f.name == n).unwrap().clone()
        };
        assert!(info.pings);
        assert!(field(&info, "address").required);
        assert!(!field(&info, "security").required);
        assert_eq!(
            field(&info, "pool_size").default,
            Some(serde_json::json!(20))
        );
        let oauth = kind::schema::<OAuth2Kind>().describe();
        assert_eq!(oauth.section, Section::Security);
        assert!(field(&oauth, "client_secret").secret);
        assert!(oauth.example.get("client_secret").is_none());
        let err = kind::schema::<HttpKind>()
            .check(&serde_json::json!({"name": "x", "address": "http://a", "soap_version": "1.1"}))
            .unwrap_err();
        assert_eq!(err.problems()[0].path, "soap_version");
    }
}

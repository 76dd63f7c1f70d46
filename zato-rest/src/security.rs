//! The outbound security types: `bearer_token`, `oauth2_client_credentials` and
//! `tls_client_cert`, published on the platform's [`SecurityDefinitions`] beside the channels'
//! `basic_auth` and `apikey`, and what a call presents for each.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use zato_core::Secret;
use zato_core::config::{ConfigError, ConfigProblem, Section, bounds};
use zato_core::kind::{Description, Kind};
use zato_core::security::{Credentials, SecurityDefinition, SecurityDefinitions};

/// A static bearer token, sent as `Authorization: Bearer <token>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BearerTokenConfig {
    /// The definition's `type`: `bearer_token`.
    #[serde(rename = "type", default = "bearer_type")]
    pub ty: String,
    /// The definition's unique name.
    pub name: String,
    /// The token.
    pub token: Secret,
}

fn bearer_type() -> String {
    "bearer_token".to_owned()
}
fn oauth2_type() -> String {
    "oauth2_client_credentials".to_owned()
}
fn tls_type() -> String {
    "tls_client_cert".to_owned()
}
fn token_timeout() -> f64 {
    10.0
}
fn refresh_before() -> f64 {
    30.0
}

/// How the client authenticates to the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// HTTP Basic with the client id and secret (RFC 6749 2.3.1's preference).
    #[default]
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Body,
}

/// OAuth 2 client credentials: a token fetched from `token_url`, cached, and refreshed before it
/// expires or when the API answers 401.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OAuth2Config {
    /// The definition's `type`: `oauth2_client_credentials`.
    #[serde(rename = "type", default = "oauth2_type")]
    pub ty: String,
    /// The definition's unique name.
    pub name: String,
    /// The token endpoint.
    pub token_url: String,
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: Secret,
    /// Scopes asked for, sent space-separated.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// How the client authenticates: `basic` or `body`.
    #[serde(default)]
    pub client_auth: ClientAuth,
    /// Seconds before its expiry a token is refreshed.
    #[serde(default = "refresh_before")]
    pub refresh_before: f64,
    /// Seconds a token request may take.
    #[serde(default = "token_timeout")]
    pub timeout: f64,
}

/// A TLS client certificate for mutual TLS: a PEM file holding the certificate (chain) and its
/// private key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TlsClientCertConfig {
    /// The definition's `type`: `tls_client_cert`.
    #[serde(rename = "type", default = "tls_type")]
    pub ty: String,
    /// The definition's unique name.
    pub name: String,
    /// The PEM file: certificate(s) and private key.
    pub cert_file: String,
}

/// What a definition of this crate's types holds once applied, published as
/// [`Credentials::Custom`].
#[derive(Debug)]
pub(crate) enum Outbound {
    Bearer(Secret),
    OAuth2(Arc<OAuth2Client>),
    /// The PEM, read when applied; a connection builds its client with it.
    TlsCert(Secret<Vec<u8>>),
    /// Why the PEM could not be used when applied: each call presenting it fails saying so, as
    /// a wrong password would (building checks the configuration, not the files it names).
    TlsCertUnusable(String),
}

/// A cached token.
#[derive(Debug)]
struct Token {
    value: Secret,
    refresh_at: Instant,
}

/// The token cache of one `oauth2_client_credentials` definition: lock-free while the token is
/// fresh, one request at a time when it is not.
#[derive(Debug)]
pub(crate) struct OAuth2Client {
    config: OAuth2Config,
    http: reqwest::Client,
    token: ArcSwapOption<Token>,
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: String,
    #[serde(default)]
    expires_in: Option<f64>,
}

impl OAuth2Client {
    fn new(config: OAuth2Config) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(bounds::duration(config.timeout))
            .build()
            .map_err(|e| format!("cannot build the token client: {e}"))?;
        Ok(OAuth2Client {
            config,
            http,
            token: ArcSwapOption::empty(),
            refreshing: tokio::sync::Mutex::new(()),
        })
    }

    /// A fresh token: the cached one, or one fetched by the first caller while the others wait
    /// for it.
    /// Whether it was fetched for this call comes along.
    pub(crate) async fn token(&self) -> Result<(Secret, bool), String> {
        if let Some(t) = self.fresh() {
            return Ok((t, false));
        }
        let _one = self.refreshing.lock().await;
        if let Some(t) = self.fresh() {
            return Ok((t, false));
        }
        let token = self.fetch().await?;
        let value = token.value.clone();
        self.token.store(Some(Arc::new(token)));
        Ok((value, true))
    }

    fn fresh(&self) -> Option<Secret> {
        let t = self.token.load();
        let t = t.as_ref()?;
        (Instant::now() < t.refresh_at).then(|| t.value.clone())
    }

    /// Forgets `stale` after the API refused it, unless another call replaced it already.
    pub(crate) fn refused(&self, stale: &Secret) {
        let current = self.token.load_full();
        if current.as_ref().is_some_and(|t| &t.value == stale) {
            self.token.compare_and_swap(&current, None);
        }
    }

    async fn fetch(&self) -> Result<Token, String> {
        let c = &self.config;
        let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
        let scope = c.scopes.join(" ");
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        let mut req = self.http.post(&c.token_url);
        match c.client_auth {
            ClientAuth::Basic => {
                req = req.basic_auth(
                    form_encode(&c.client_id),
                    Some(form_encode(c.client_secret.expose())),
                );
            }
            ClientAuth::Body => {
                form.push(("client_id", &c.client_id));
                form.push(("client_secret", c.client_secret.expose()));
            }
        }
        let asked = Instant::now();
        let reply = req
            .header(http::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| format!("the token request failed: {}", without_url(&e)))?;
        let status = reply.status();
        let body = reply
            .bytes()
            .await
            .map_err(|e| format!("the token reply could not be read: {}", without_url(&e)))?;
        if !status.is_success() {
            return Err(format!(
                "the token endpoint answered {status}: {}",
                crate::error::excerpt(&body)
            ));
        }
        let reply: TokenReply = serde_json::from_slice(&body)
            .map_err(|e| format!("the token reply is not a token: {e}"))?;
        // Without `expires_in` a token is kept until the API refuses it.
        let lifetime = reply
            .expires_in
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(|s| bounds::duration(s - c.refresh_before))
            .unwrap_or(Duration::from_secs(86_400));
        Ok(Token {
            value: Secret::new(reply.access_token),
            refresh_at: asked + lifetime,
        })
    }
}

/// RFC 6749 2.3.1: the client id and secret are form-encoded before they go into Basic.
fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A reqwest error's message, without the URL it may quote.
pub(crate) fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "…");
    }
    if let Some(source) = std::error::Error::source(e) {
        text.push_str(": ");
        text.push_str(&source.to_string());
    }
    text
}

/// A security type of this crate, for [`OutboundKind`].
pub trait OutboundType: Send + Sync + std::fmt::Debug + 'static {
    /// Its configuration.
    type Config: Serialize + for<'de> Deserialize<'de> + Send + Sync + Clone + 'static;
    /// Its `type`.
    const NAME: &'static str;
    /// Its secret fields.
    const SECRETS: &'static [&'static str];
    /// Its summary and example.
    fn describe() -> Description<Self::Config>;
    /// Its problems.
    fn check(config: &Self::Config) -> Vec<ConfigProblem>;
    /// Its name.
    fn name(config: &Self::Config) -> &str;
    /// Its `type` as written.
    fn ty(config: &Self::Config) -> &str;
    /// What it publishes, or why it cannot be built.
    #[doc(hidden)]
    fn build(config: &Self::Config) -> Result<BuiltOutbound, ConfigProblem>;
}

/// What [`OutboundType::build`] makes: opaque outside this crate.
#[derive(Debug)]
pub struct BuiltOutbound(Outbound);

/// `bearer_token`.
#[derive(Debug, Clone, Copy)]
pub struct BearerToken;
/// `oauth2_client_credentials`.
#[derive(Debug, Clone, Copy)]
pub struct OAuth2ClientCredentials;
/// `tls_client_cert`.
#[derive(Debug, Clone, Copy)]
pub struct TlsClientCert;

fn text_problem(field: &str, value: &str) -> Option<ConfigProblem> {
    value
        .trim()
        .is_empty()
        .then(|| ConfigProblem::new(field, "must not be empty"))
}

impl OutboundType for BearerToken {
    type Config = BearerTokenConfig;
    const NAME: &'static str = "bearer_token";
    const SECRETS: &'static [&'static str] = &["token"];

    fn describe() -> Description<BearerTokenConfig> {
        Description::new(
            "a static bearer token, for outgoing connections",
            BearerTokenConfig {
                ty: bearer_type(),
                name: "partner-token".into(),
                token: "secret".into(),
            },
        )
    }

    fn check(c: &BearerTokenConfig) -> Vec<ConfigProblem> {
        let mut p: Vec<ConfigProblem> = text_problem("token", c.token.expose())
            .into_iter()
            .collect();
        if http::HeaderValue::from_str(&format!("Bearer {}", c.token.expose())).is_err() {
            p.push(ConfigProblem::new(
                "token",
                "holds characters a header cannot carry",
            ));
        }
        p
    }

    fn name(c: &BearerTokenConfig) -> &str {
        &c.name
    }

    fn ty(c: &BearerTokenConfig) -> &str {
        &c.ty
    }

    fn build(c: &BearerTokenConfig) -> Result<BuiltOutbound, ConfigProblem> {
        Ok(BuiltOutbound(Outbound::Bearer(c.token.clone())))
    }
}

impl OutboundType for OAuth2ClientCredentials {
    type Config = OAuth2Config;
    const NAME: &'static str = "oauth2_client_credentials";
    const SECRETS: &'static [&'static str] = &["client_secret"];

    fn describe() -> Description<OAuth2Config> {
        Description::new(
            "OAuth 2 client credentials, for outgoing connections: a cached token refreshed before it expires",
            OAuth2Config {
                ty: oauth2_type(),
                name: "crm-oauth".into(),
                token_url: "https://auth.example.com/oauth2/token".into(),
                client_id: "zato".into(),
                client_secret: "secret".into(),
                scopes: vec!["invoices.write".into()],
                client_auth: ClientAuth::Basic,
                refresh_before: refresh_before(),
                timeout: token_timeout(),
            },
        )
    }

    fn check(c: &OAuth2Config) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        match reqwest::Url::parse(&c.token_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {}
            _ => p.push(ConfigProblem::new(
                "token_url",
                "must be an http:// or https:// address with a host",
            )),
        }
        p.extend(text_problem("client_id", &c.client_id));
        p.extend(text_problem("client_secret", c.client_secret.expose()));
        p.extend(bounds::seconds(
            "refresh_before",
            c.refresh_before,
            0.0,
            3600.0,
        ));
        p.extend(bounds::positive_seconds("timeout", c.timeout, 3600.0));
        if c.scopes.iter().any(|s| s.is_empty() || s.contains(' ')) {
            p.push(ConfigProblem::new(
                "scopes",
                "each scope must be non-empty, without spaces",
            ));
        }
        p
    }

    fn name(c: &OAuth2Config) -> &str {
        &c.name
    }

    fn ty(c: &OAuth2Config) -> &str {
        &c.ty
    }

    fn build(c: &OAuth2Config) -> Result<BuiltOutbound, ConfigProblem> {
        let client = OAuth2Client::new(c.clone()).map_err(|m| ConfigProblem::new("", m))?;
        Ok(BuiltOutbound(Outbound::OAuth2(Arc::new(client))))
    }
}

impl OutboundType for TlsClientCert {
    type Config = TlsClientCertConfig;
    const NAME: &'static str = "tls_client_cert";
    const SECRETS: &'static [&'static str] = &[];

    fn describe() -> Description<TlsClientCertConfig> {
        Description::new(
            "a TLS client certificate and key (PEM file), for outgoing connections (mutual TLS)",
            TlsClientCertConfig {
                ty: tls_type(),
                name: "partner-mtls".into(),
                cert_file: "/etc/zato/partner-client.pem".into(),
            },
        )
    }

    fn check(c: &TlsClientCertConfig) -> Vec<ConfigProblem> {
        text_problem("cert_file", &c.cert_file)
            .into_iter()
            .collect()
    }

    fn name(c: &TlsClientCertConfig) -> &str {
        &c.name
    }

    fn ty(c: &TlsClientCertConfig) -> &str {
        &c.ty
    }

    fn build(c: &TlsClientCertConfig) -> Result<BuiltOutbound, ConfigProblem> {
        Ok(BuiltOutbound(match read_identity(&c.cert_file) {
            Ok(pem) => Outbound::TlsCert(Secret::new(pem)),
            Err(why) => {
                tracing::warn!(definition = %c.name, problem = %why, "tls_client_cert cannot be used");
                Outbound::TlsCertUnusable(format!("cert_file: {why}"))
            }
        }))
    }
}

/// Reads a PEM file of a certificate and key, and checks that it makes a client identity.
pub(crate) fn read_identity(path: &str) -> Result<Vec<u8>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read `{path}`: {e}"))?;
    reqwest::Identity::from_pem(&pem)
        .map_err(|_| format!("`{path}` holds no PEM certificate with its private key"))?;
    Ok(pem)
}

/// A security type of this crate in the document, published on a platform's definitions.
#[derive(Debug, Clone)]
pub struct OutboundKind<T> {
    defs: SecurityDefinitions,
    ty: std::marker::PhantomData<T>,
}

impl<T> OutboundKind<T> {
    /// The kind publishing into `defs`.
    pub fn new(defs: SecurityDefinitions) -> Self {
        OutboundKind {
            defs,
            ty: std::marker::PhantomData,
        }
    }
}

/// The security type `bearer_token`.
pub type BearerTokenKind = OutboundKind<BearerToken>;
/// The security type `oauth2_client_credentials`.
pub type OAuth2Kind = OutboundKind<OAuth2ClientCredentials>;
/// The security type `tls_client_cert`.
pub type TlsClientCertKind = OutboundKind<TlsClientCert>;

#[async_trait]
impl<T: OutboundType> Kind for OutboundKind<T> {
    type Config = T::Config;
    const SECTION: Section = Section::Security;
    const NAME: &'static str = T::NAME;
    const SECRETS: &'static [&'static str] = T::SECRETS;

    fn describe() -> Description<T::Config> {
        T::describe()
    }

    fn check(config: &T::Config) -> Vec<ConfigProblem> {
        let mut p = T::check(config);
        if T::ty(config) != T::NAME {
            p.push(ConfigProblem::new("type", format!("must be `{}`", T::NAME)));
        }
        p
    }

    async fn apply(&self, config: Arc<T::Config>) -> Result<(), ConfigError> {
        let built = T::build(&config).map_err(|p| ConfigError::new(vec![p]))?;
        self.defs.insert(SecurityDefinition::new(
            T::name(&config),
            T::NAME,
            Credentials::Custom(Arc::new(built)),
        ));
        Ok(())
    }

    async fn remove(&self, name: &str) -> Result<(), ConfigError> {
        self.defs
            .remove(name)
            .map(drop)
            .ok_or_else(|| ConfigError::one("", "no such security definition"))
    }
}

/// What a definition makes a call present, resolved at call time.
#[derive(Debug, Clone)]
pub(crate) enum Auth {
    None,
    Basic {
        username: String,
        password: Secret,
    },
    Header {
        name: http::HeaderName,
        value: Secret,
    },
    Bearer(Secret),
    OAuth2(Arc<OAuth2Client>),
    /// Mutual TLS: the definition (its identity) the client is built with.
    Tls(Arc<SecurityDefinition>, Secret<Vec<u8>>),
}

impl Auth {
    pub(crate) fn of(def: &Arc<SecurityDefinition>) -> Result<Auth, String> {
        Ok(match &def.credentials {
            Credentials::Basic { username, password } => Auth::Basic {
                username: username.clone(),
                password: password.clone(),
            },
            Credentials::ApiKey { header, key } => Auth::Header {
                name: http::HeaderName::from_bytes(header.as_bytes())
                    .map_err(|_| format!("`{header}` is not a valid header name"))?,
                value: key.clone(),
            },
            Credentials::Custom(any) => match any.downcast_ref::<BuiltOutbound>() {
                Some(BuiltOutbound(Outbound::Bearer(t))) => Auth::Bearer(t.clone()),
                Some(BuiltOutbound(Outbound::OAuth2(c))) => Auth::OAuth2(c.clone()),
                Some(BuiltOutbound(Outbound::TlsCert(pem))) => Auth::Tls(def.clone(), pem.clone()),
                Some(BuiltOutbound(Outbound::TlsCertUnusable(why))) => return Err(why.clone()),
                None => {
                    return Err(format!(
                        "its type `{}` cannot be presented by an outgoing HTTP connection",
                        def.ty
                    ));
                }
            },
            _ => {
                return Err(format!(
                    "its type `{}` cannot be presented by an outgoing HTTP connection",
                    def.ty
                ));
            }
        })
    }
}

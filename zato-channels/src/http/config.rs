//! Channel and security configuration: serde structs with Zato's field names. Their validation,
//! [`HttpConfig::validate`] among it, sits beside them, in `validate.rs`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use zato_core::sio::{ParamsPri, ParamsPriority, UrlParamsPri};
use zato_core::{DataFormat, Secret};

/// The key of the HTTP section in a node's configuration document, where validation paths start.
pub(super) const HTTP_SECTION: &str = "http";

/// The default [`HttpChannelConfig::max_body_size`]: 10 MiB.
pub const DEFAULT_MAX_BODY_SIZE: u64 = 10 * 1024 * 1024;

/// The default [`HttpChannelConfig::timeout`]: 30 s to receive the request body, then 30 s for
/// the service.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The default header of an API key security definition.
pub const DEFAULT_API_KEY_HEADER: &str = "X-API-Key";

fn yes() -> bool {
    true
}

fn default_max_items() -> usize {
    zato_core::sio::DEFAULT_MAX_ITEMS
}

fn default_max_body_size() -> u64 {
    DEFAULT_MAX_BODY_SIZE
}

fn default_timeout() -> Option<Duration> {
    Some(DEFAULT_TIMEOUT)
}

fn default_realm() -> String {
    "zato".to_owned()
}

fn default_jwt_algorithm() -> String {
    "HS256".to_owned()
}

fn default_leeway() -> u64 {
    60
}

fn default_api_key_header() -> String {
    DEFAULT_API_KEY_HEADER.to_owned()
}

/// An HTTP channel: which requests reach which service, in which format, under which security.
///
/// Channels are configuration, not code. Field names are Zato's, so a channel exported from Zato
/// reads the same; `timeout` is in seconds (fractions allowed), [`DEFAULT_TIMEOUT`] (30 s) when
/// left out.
///
/// # Examples
///
/// ```
/// use zato_channels::HttpChannelConfig;
///
/// let channel: HttpChannelConfig = serde_json::from_str(r#"{
///     "name": "invoice.dispatcher.json",
///     "url_path": "/invoice.dispatcher",
///     "service": "invoice.dispatcher",
///     "methods": ["POST"],
///     "timeout": 2.5
/// }"#).unwrap();
/// assert!(channel.is_active);
/// assert_eq!(channel.timeout, Some(std::time::Duration::from_millis(2500)));
///
/// let built = HttpChannelConfig::new("hello", "/hello/{name}", "demo.hello");
/// assert_eq!(built.url_path, "/hello/{name}");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpChannelConfig {
    /// The channel's unique name.
    pub name: String,
    /// An inactive channel keeps its route but answers 503.
    #[serde(default = "yes")]
    pub is_active: bool,
    /// The URL path, with `{param}` segments: `/invoice/{id}`.
    pub url_path: String,
    /// The allowed methods; empty allows any.
    #[serde(default)]
    pub methods: Vec<String>,
    /// The name of the service invoked.
    pub service: String,
    /// The format of requests and replies.
    #[serde(default)]
    pub data_format: DataFormat,
    /// The name of the security definition callers must satisfy; `None` for an open channel.
    #[serde(default)]
    pub security: Option<String>,
    /// The largest request body accepted, in bytes (1 to 1 GiB); larger ones get a 413.
    #[serde(default = "default_max_body_size")]
    pub max_body_size: u64,
    /// The most items a list element of the input takes (a longer one is a 400 naming the
    /// element), unless the service's field sets its own `#[sio(max_items = N)]`. Default
    /// [`DEFAULT_MAX_ITEMS`](zato_core::sio::DEFAULT_MAX_ITEMS), 1,000; at most 1,000,000.
    #[serde(default = "default_max_items")]
    pub max_items: usize,
    /// How long the channel waits for each of the two halves of a request: first for the
    /// caller to send the whole body (a caller slower than that gets a 408 and the connection
    /// is closed), then for the service to answer (a service slower than that gets the caller a
    /// 504), at most 86400 seconds. [`DEFAULT_TIMEOUT`] (30 s) when left out; `None` (`0` in a document, or `null`
    /// in JSON) sets no limit on either, which leaves a server open to clients that declare a
    /// body and never send it. `None` is written as `0`, which every format can hold.
    #[serde(default = "default_timeout", with = "opt_seconds")]
    pub timeout: Option<Duration>,
    /// The URL callers reach the channel at, when it is not the one they fetch its WSDL from
    /// (behind a proxy): the WSDL's `soap:address`. By default the WSDL names the URL it was
    /// fetched from, by its `Host` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// At most this many requests on the channel, from all callers together; a request past
    /// it gets a 429 with `Retry-After`. None when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<super::ratelimit::RateLimit>,
    /// At most this many requests from each caller: the identity its security definition found
    /// (the user, a JWT's `sub`, a client certificate's subject), else its address. None when
    /// left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_rate_limit: Option<super::ratelimit::RateLimit>,
    /// Whether the query string and path parameters are input (Zato's default: true).
    #[serde(default = "yes")]
    pub merge_url_params_req: bool,
    /// Channel parameters against the body.
    #[serde(default)]
    pub params_pri: ParamsPri,
    /// Query string against path parameters.
    #[serde(default)]
    pub url_params_pri: UrlParamsPri,
}

impl HttpChannelConfig {
    /// An active JSON channel from `url_path` to `service`, any method, no security, the default
    /// limits ([`DEFAULT_TIMEOUT`], [`DEFAULT_MAX_BODY_SIZE`]) and priorities.
    pub fn new(
        name: impl Into<String>,
        url_path: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        HttpChannelConfig {
            name: name.into(),
            is_active: true,
            url_path: url_path.into(),
            methods: Vec::new(),
            service: service.into(),
            data_format: DataFormat::Json,
            security: None,
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            max_items: default_max_items(),
            timeout: Some(DEFAULT_TIMEOUT),
            public_url: None,
            rate_limit: None,
            caller_rate_limit: None,
            merge_url_params_req: true,
            params_pri: ParamsPri::default(),
            url_params_pri: UrlParamsPri::default(),
        }
    }

    /// The same channel in another data format.
    pub fn with_data_format(mut self, data_format: DataFormat) -> Self {
        self.data_format = data_format;
        self
    }

    /// The same channel allowing only these methods.
    pub fn with_methods<I, M>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = M>,
        M: Into<String>,
    {
        self.methods = methods.into_iter().map(Into::into).collect();
        self
    }

    /// The same channel under the security definition named `security`.
    pub fn with_security(mut self, security: impl Into<String>) -> Self {
        self.security = Some(security.into());
        self
    }

    /// The same channel with another [`timeout`](Self::timeout) for receiving the body and
    /// for the service.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The same channel with no [`timeout`](Self::timeout): neither the body nor the service
    /// is ever timed out. Only for callers that are trusted to send what they declare.
    pub fn without_timeout(mut self) -> Self {
        self.timeout = None;
        self
    }

    /// The same channel with a body size limit.
    pub fn with_max_body_size(mut self, max_body_size: u64) -> Self {
        self.max_body_size = max_body_size;
        self
    }

    /// The same channel with a limit on all its requests together, and one per caller.
    pub fn with_rate_limits(
        mut self,
        channel: Option<super::ratelimit::RateLimit>,
        per_caller: Option<super::ratelimit::RateLimit>,
    ) -> Self {
        self.rate_limit = channel;
        self.caller_rate_limit = per_caller;
        self
    }

    /// The same channel, active or not.
    pub fn with_active(mut self, is_active: bool) -> Self {
        self.is_active = is_active;
        self
    }

    /// The same channel with other parameter priorities.
    pub fn with_params(mut self, params: ParamsPriority) -> Self {
        self.merge_url_params_req = params.merge_url_params_req;
        self.params_pri = params.params_pri;
        self.url_params_pri = params.url_params_pri;
        self
    }

    /// The priority rules as zato-core takes them.
    pub fn params(&self) -> ParamsPriority {
        ParamsPriority {
            merge_url_params_req: self.merge_url_params_req,
            params_pri: self.params_pri,
            url_params_pri: self.url_params_pri,
        }
    }
}

/// A security definition: what a caller of a channel that names it must present.
///
/// Serialized with a `type` tag as Zato names the kinds (`basic_auth`, `apikey`); secrets are
/// written as `***`.
///
/// # Examples
///
/// ```
/// use zato_channels::SecurityDef;
///
/// let def: SecurityDef = serde_json::from_str(r#"{
///     "type": "basic_auth", "name": "crm", "username": "crm", "password": "secret"
/// }"#).unwrap();
/// assert_eq!(def.name(), "crm");
/// assert!(!format!("{def:?}").contains("secret"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
#[non_exhaustive]
pub enum SecurityDef {
    /// HTTP Basic Auth.
    #[serde(rename = "basic_auth")]
    BasicAuth {
        /// The definition's unique name.
        name: String,
        /// The expected user name.
        username: String,
        /// The expected password.
        password: Secret,
        /// The realm named in `WWW-Authenticate` (default `zato`).
        #[serde(default = "default_realm")]
        realm: String,
        /// Caller addresses let in (CIDR ranges or addresses); any when empty. A caller
        /// outside them gets a 403 before its credentials are looked at.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ip_allow: Vec<String>,
        /// Caller addresses refused with a 403 (CIDR ranges or addresses), even when allowed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ip_deny: Vec<String>,
    },
    /// A JSON Web Token in `Authorization: Bearer`, checked by a shared secret (HS256, HS384,
    /// HS512) or by the keys of a JWKS URL (RS256/384/512, PS256/384/512, ES256/384, EdDSA);
    /// its issuer, audience, expiry and not-before checked with `leeway` seconds of clock skew.
    /// The claims reach the service as [`Context::caller`](zato_core::Context::caller).
    #[serde(rename = "jwt")]
    Jwt {
        /// The definition's unique name.
        name: String,
        /// The one algorithm tokens must be signed with; any other, `none` included, is
        /// refused.
        #[serde(default = "default_jwt_algorithm")]
        algorithm: String,
        /// The shared secret of an HMAC algorithm.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<Secret>,
        /// Where the public keys of the other algorithms are published (a JWKS document).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        jwks_url: Option<String>,
        /// The `iss` tokens must carry; any when left out.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        issuer: Option<String>,
        /// The `aud` tokens must carry; any when left out.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audience: Option<String>,
        /// The clock skew allowed on `exp` and `nbf`, in seconds (at most 3600; default 60).
        #[serde(default = "default_leeway")]
        leeway: u64,
        /// Caller addresses let in (CIDR ranges or addresses); any when empty. A caller
        /// outside them gets a 403 before its credentials are looked at.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ip_allow: Vec<String>,
        /// Caller addresses refused with a 403 (CIDR ranges or addresses), even when allowed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ip_deny: Vec<String>,
    },
    /// An API key in a request header.
    #[serde(rename = "apikey")]
    ApiKey {
        /// The definition's unique name.
        name: String,
        /// The header carrying the key (default `X-API-Key`).
        #[serde(default = "default_api_key_header")]
        header: String,
        /// The expected key.
        key: Secret,
        /// Caller addresses let in (CIDR ranges or addresses); any when empty. A caller
        /// outside them gets a 403 before its credentials are looked at.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ip_allow: Vec<String>,
        /// Caller addresses refused with a 403 (CIDR ranges or addresses), even when allowed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ip_deny: Vec<String>,
    },
    /// Callers let in by their address alone: CIDR ranges allowed and denied.
    #[serde(rename = "ip_list")]
    IpList {
        /// The definition's unique name.
        name: String,
        /// Caller addresses let in (CIDR ranges or addresses); any when empty. A caller
        /// outside them gets a 403 before its credentials are looked at.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ip_allow: Vec<String>,
        /// Caller addresses refused with a 403 (CIDR ranges or addresses), even when allowed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ip_deny: Vec<String>,
    },
    /// Callers identified by the client certificate they presented over TLS, on a listener
    /// whose TLS asks for one (`client_ca_file`): its subject or its SHA-256 fingerprint must
    /// be among those listed. A caller presenting none gets a 401, one presenting another a
    /// 403.
    #[serde(rename = "tls_client_cert")]
    TlsClientCert {
        /// The definition's unique name.
        name: String,
        /// Subjects let in, as `CN=crm,O=Example` (the attributes in the certificate's order).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        subjects: Vec<String>,
        /// SHA-256 fingerprints let in, hex, with or without colons.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        fingerprints: Vec<String>,
        /// Caller addresses let in (CIDR ranges or addresses); any when empty. A caller
        /// outside them gets a 403 before its credentials are looked at.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ip_allow: Vec<String>,
        /// Caller addresses refused with a 403 (CIDR ranges or addresses), even when allowed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ip_deny: Vec<String>,
    },
}

impl SecurityDef {
    /// A Basic Auth definition in the default realm.
    pub fn basic_auth(
        name: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        SecurityDef::BasicAuth {
            name: name.into(),
            username: username.into(),
            password: Secret::new(password.into()),
            realm: default_realm(),
            ip_allow: Vec::new(),
            ip_deny: Vec::new(),
        }
    }

    /// An API key definition read from `header`.
    pub fn api_key(
        name: impl Into<String>,
        header: impl Into<String>,
        key: impl Into<String>,
    ) -> Self {
        SecurityDef::ApiKey {
            name: name.into(),
            header: header.into(),
            key: Secret::new(key.into()),
            ip_allow: Vec::new(),
            ip_deny: Vec::new(),
        }
    }

    /// A `jwt` definition checking HS256 tokens signed with `secret`, of any issuer and
    /// audience, with the default leeway (60 s).
    pub fn jwt_hs256(name: impl Into<String>, secret: impl Into<String>) -> Self {
        SecurityDef::Jwt {
            name: name.into(),
            algorithm: default_jwt_algorithm(),
            secret: Some(Secret::new(secret.into())),
            jwks_url: None,
            issuer: None,
            audience: None,
            leeway: default_leeway(),
            ip_allow: Vec::new(),
            ip_deny: Vec::new(),
        }
    }

    /// The addresses the definition allows and denies.
    pub fn ip_ranges(&self) -> (&[String], &[String]) {
        match self {
            SecurityDef::BasicAuth {
                ip_allow, ip_deny, ..
            }
            | SecurityDef::ApiKey {
                ip_allow, ip_deny, ..
            }
            | SecurityDef::Jwt {
                ip_allow, ip_deny, ..
            }
            | SecurityDef::IpList {
                ip_allow, ip_deny, ..
            }
            | SecurityDef::TlsClientCert {
                ip_allow, ip_deny, ..
            } => (ip_allow, ip_deny),
        }
    }

    /// The definition's name.
    pub fn name(&self) -> &str {
        match self {
            SecurityDef::BasicAuth { name, .. }
            | SecurityDef::ApiKey { name, .. }
            | SecurityDef::Jwt { name, .. }
            | SecurityDef::IpList { name, .. }
            | SecurityDef::TlsClientCert { name, .. } => name,
        }
    }
}

/// Everything an HTTP server serves: its channels and the security definitions they name.
/// Applied as a whole with [`HttpServer::apply_config`](crate::HttpServer::apply_config).
///
/// # Examples
///
/// ```
/// use zato_channels::HttpConfig;
///
/// let config: HttpConfig = serde_json::from_str(r#"{
///     "channels": [{"name": "ping", "url_path": "/ping", "service": "demo.ping"}]
/// }"#).unwrap();
/// config.validate().unwrap();
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpConfig {
    /// The channels.
    #[serde(default)]
    pub channels: Vec<HttpChannelConfig>,
    /// The security definitions.
    #[serde(default)]
    pub security: Vec<SecurityDef>,
}

impl HttpConfig {
    /// A configuration of these channels and security definitions.
    pub fn new(channels: Vec<HttpChannelConfig>, security: Vec<SecurityDef>) -> Self {
        HttpConfig { channels, security }
    }
}

/// `Option<Duration>` as a number of seconds.
mod opt_seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        // TOML has no null: no limit is written as 0, which reads back as no limit.
        s.serialize_f64(v.map_or(0.0, |d| d.as_secs_f64()))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        match Option::<f64>::deserialize(d)? {
            None => Ok(None),
            Some(0.0) => Ok(None),
            Some(secs) if (0.0..=zato_core::config::bounds::MAX_SECONDS).contains(&secs) => {
                Ok(Some(zato_core::config::bounds::duration(secs)))
            }
            Some(_) => Err(serde::de::Error::custom(
                "expected a number of seconds, at most 86400, or 0 for no limit",
            )),
        }
    }
}

/// The kind of HTTP channels: `channels.http` in the config document.
pub const HTTP_KIND: zato_core::ChannelKind = zato_core::ChannelKind::new("http");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zato_names_and_defaults() {
        let c: HttpChannelConfig = serde_json::from_str(
            r#"{"name": "a", "url_path": "/a/{id}", "service": "s",
                "data_format": "xml", "params_pri": "msg-over-channel-params",
                "url_params_pri": "path-over-qs", "merge_url_params_req": false}"#,
        )
        .unwrap();
        assert!(c.is_active);
        assert_eq!(c.data_format, DataFormat::Xml);
        assert_eq!(c.max_body_size, DEFAULT_MAX_BODY_SIZE);
        assert_eq!(c.timeout, Some(DEFAULT_TIMEOUT));
        assert_eq!(
            c,
            HttpChannelConfig::new("a", "/a/{id}", "s")
                .with_data_format(DataFormat::Xml)
                .with_params(c.params())
                .with_methods(Vec::<String>::new())
        );
        let unlimited: HttpChannelConfig = serde_json::from_str(
            r#"{"name": "a", "url_path": "/a", "service": "s", "timeout": null}"#,
        )
        .unwrap();
        assert_eq!(unlimited.timeout, None);
        // Written as 0, which TOML can hold and which reads back as no limit.
        let written = serde_json::to_value(&unlimited).unwrap();
        assert_eq!(written["timeout"], 0.0);
        let back: HttpChannelConfig = serde_json::from_value(written).unwrap();
        assert_eq!(back.timeout, None);
        assert_eq!(c.params_pri, ParamsPri::MsgOverChannelParams);
        assert_eq!(c.url_params_pri, UrlParamsPri::PathOverQs);
        assert!(!c.params().merge_url_params_req);
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(back["params_pri"], "msg-over-channel-params");
    }

    #[test]
    fn a_whole_configuration_document() {
        let config: HttpConfig = serde_json::from_str(
            r#"{
                "security": [
                    {"type": "basic_auth", "name": "crm", "username": "crm", "password": "p",
                     "realm": "Invoices"},
                    {"type": "apikey", "name": "billing", "key": "k"}
                ],
                "channels": [
                    {"name": "invoice.json", "url_path": "/invoice.dispatcher",
                     "service": "invoice.dispatcher", "methods": ["POST", "GET"],
                     "data_format": "json", "security": "crm", "max_body_size": 65536,
                     "timeout": 30, "merge_url_params_req": true,
                     "params_pri": "channel-params-over-msg", "url_params_pri": "qs-over-path"},
                    {"name": "invoice.soap", "is_active": false,
                     "url_path": "/soap/invoice.dispatcher", "service": "invoice.dispatcher",
                     "data_format": "soap", "security": "billing"}
                ]
            }"#,
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.channels[0].timeout, Some(Duration::from_secs(30)));
        assert_eq!(config.channels[0].max_body_size, 65536);
        assert!(!config.channels[1].is_active);
        match &config.security[1] {
            SecurityDef::ApiKey { header, .. } => assert_eq!(header, DEFAULT_API_KEY_HEADER),
            other => panic!("{other:?}"),
        }
        let bad: Result<HttpChannelConfig, _> = serde_json::from_str(
            r#"{"name": "a", "url_path": "/a", "service": "s", "timeout": -1}"#,
        );
        assert!(bad.is_err());
    }

    #[test]
    fn secrets_never_show() {
        let defs = [
            SecurityDef::basic_auth("b", "user", "pa55word-basic"),
            SecurityDef::api_key("k", "X-API-Key", "pa55word-key"),
        ];
        for def in &defs {
            let shown = format!("{def:?} {}", serde_json::to_string(def).unwrap());
            assert!(!shown.contains("pa55word"), "{shown}");
        }
    }
}

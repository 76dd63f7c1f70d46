//! [`SwiftConfig`]: the definition of a Swift outgoing connection, with Zato's field names.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zato_core::config::bounds;
use zato_core::{ConfigError, ConfigProblem};

/// Keys, passwords and tokens: `***` in Debug, Display and serialized output.
pub use zato_core::Secret;

/// Which authentication protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthVersion {
    /// Auth v1.0: TempAuth, Swauth, Rackspace legacy (`X-Auth-User` / `X-Auth-Key`).
    #[default]
    V1,
    /// Keystone v2.0, with a password or Rackspace API-key credentials.
    V2,
    /// Keystone v3, password method, project scope.
    V3,
}

impl AuthVersion {
    fn as_str(self) -> &'static str {
        match self {
            AuthVersion::V1 => "1.0",
            AuthVersion::V2 => "2.0",
            AuthVersion::V3 => "3",
        }
    }
}

impl Serialize for AuthVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Accepts what Zato stores (`"1"`, `"2.0"`, …) as a string or a number.
impl<'de> Deserialize<'de> for AuthVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            N(f64),
        }
        let s = match Raw::deserialize(d)? {
            Raw::S(s) => s,
            Raw::N(n) => n.to_string(),
        };
        match s.trim().trim_start_matches(['v', 'V']) {
            "1" | "1.0" => Ok(AuthVersion::V1),
            "2" | "2.0" => Ok(AuthVersion::V2),
            "3" | "3.0" => Ok(AuthVersion::V3),
            other => Err(serde::de::Error::custom(format!(
                "unknown auth_version {other:?}, expected 1, 2 or 3"
            ))),
        }
    }
}

/// The definition of a Swift outgoing connection.
///
/// Field names follow Zato's where Zato has them (`should_retr_ratelimit`, `needs_tls_compr`,
/// `custom_options`, …). Durations are in seconds (fractions allowed). Unknown fields (Zato's
/// `id`, `cluster_id`, …) are ignored, so a Zato export deserializes.
///
/// Zato hands `custom_options` to python-swiftclient as its `os_options`; so does this
/// connection, for the options that have a field here: `region_name`, `tenant_id`,
/// `tenant_name`, `project_id`, `project_name`, `user_domain_id`, `user_domain_name`,
/// `project_domain_id` and `project_domain_name` fill the field of the same name (`region_name`
/// fills [`region`](Self::region)) when it is unset. Any other option, or one that contradicts
/// its field, is a [`ConfigProblem`]: an option that has no effect is refused rather than
/// ignored.
///
/// # Examples
///
/// ```
/// use zato_swift::SwiftConfig;
///
/// let config: SwiftConfig = serde_json::from_str(r#"{
///     "name": "Invoice Dispatcher",
///     "auth_url": "http://127.0.0.1:8080/auth/v1.0",
///     "auth_version": "1",
///     "user": "test:tester",
///     "key": "testing"
/// }"#).unwrap();
/// config.validate().unwrap();
/// assert!(!format!("{config:?}").contains("testing"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SwiftConfig {
    /// The connection's name, by which services reach it.
    pub name: String,
    /// An inactive connection refuses every checkout.
    pub is_active: bool,
    /// The authentication endpoint, e.g. `https://identity.example.com/v3`.
    pub auth_url: Option<String>,
    /// The authentication protocol.
    pub auth_version: AuthVersion,
    /// The user name (v1.0: often `account:user`).
    pub user: Option<String>,
    /// The key or password.
    pub key: Option<Secret>,
    /// Keystone v2.0 tenant; for v3, the project name when `project_name` is unset.
    pub tenant_name: Option<String>,
    /// Use the internal (service-net) endpoint of the catalog instead of the public one.
    pub is_snet: bool,
    /// How many times a failed request is retried: 0 to 100.
    pub retries: u32,
    /// The first backoff, in seconds (0 to 3600); it doubles with each retry.
    pub starting_backoff: f64,
    /// The longest backoff, in seconds (`starting_backoff` to 3600); also caps a server's
    /// `Retry-After`.
    pub max_backoff: f64,
    /// How many authenticated clients the pool holds: 1 to 1000.
    pub pool_size: u32,
    /// Zato's free-form options, `key=value` pairs separated by `;`, `&` or new lines, or a map:
    /// python-swiftclient's `os_options`, see above. Options that hold secrets (`auth_token`, …)
    /// are refused when deserialized, so their values never reach a log.
    #[serde(deserialize_with = "custom_options")]
    pub custom_options: BTreeMap<String, String>,
    /// Verify the server's TLS certificate.
    pub should_validate_cert: bool,
    /// A PEM file with extra CA certificates to trust.
    pub cacert: Option<PathBuf>,
    /// The per-request timeout, in seconds, retries not included: 0.001 to 86400.
    pub timeout: f64,
    /// How long `client()` waits for a free pooled client, in seconds: 0.001 to 3600.
    pub pool_wait: f64,
    /// The catalog region to pick the object-store endpoint from; the first one if unset.
    /// Zato has no such field: it takes `region_name` from `custom_options`, as this does.
    pub region: Option<String>,
    /// Keystone v2.0: send `key` as Rackspace API-key credentials
    /// (`RAX-KSKEY:apiKeyCredentials`) instead of a password (`passwordCredentials`).
    pub api_key_auth: bool,
    /// Keystone v2.0: the tenant id, instead of or besides `tenant_name`.
    pub tenant_id: Option<String>,
    /// Keystone v3: the user's domain name.
    pub user_domain_name: Option<String>,
    /// Keystone v3: the user's domain id.
    pub user_domain_id: Option<String>,
    /// Keystone v3: the project to scope the token to, by name.
    pub project_name: Option<String>,
    /// Keystone v3: the project to scope the token to, by id.
    pub project_id: Option<String>,
    /// Keystone v3: the project's domain name.
    pub project_domain_name: Option<String>,
    /// Keystone v3: the project's domain id.
    pub project_domain_id: Option<String>,
    /// A storage URL to use without authenticating.
    pub preauth_url: Option<String>,
    /// The token to use with `preauth_url`.
    pub preauth_token: Option<Secret>,
    /// Retry 429 and 498 (rate limited) answers too, as Zato's `should_retr_ratelimit`.
    #[serde(alias = "retry_on_ratelimit")]
    pub should_retr_ratelimit: bool,
    /// Zato's TLS compression switch. Only `false` is accepted: rustls never compresses, which
    /// is also what keeps the CRIME attack away.
    pub needs_tls_compr: bool,
    /// Objects larger than this many bytes are uploaded as static large objects: 1 byte to
    /// 5 GiB, Swift's default largest object.
    pub segment_size: u64,
    /// Zato's database id of the connection, in its exports: read, so that an export reads as
    /// it is, and ignored.
    #[serde(skip_serializing)]
    pub id: Option<u64>,
    /// Zato's cluster id, in its exports: read and ignored, as `id`.
    #[serde(skip_serializing)]
    pub cluster_id: Option<u64>,
}

impl Default for SwiftConfig {
    fn default() -> Self {
        SwiftConfig {
            name: String::new(),
            is_active: true,
            auth_url: None,
            auth_version: AuthVersion::V1,
            user: None,
            key: None,
            tenant_name: None,
            is_snet: false,
            retries: 5,
            starting_backoff: 1.0,
            max_backoff: 64.0,
            pool_size: 10,
            custom_options: BTreeMap::new(),
            should_validate_cert: true,
            cacert: None,
            timeout: 60.0,
            pool_wait: 10.0,
            region: None,
            api_key_auth: false,
            tenant_id: None,
            user_domain_name: None,
            user_domain_id: None,
            project_name: None,
            project_id: None,
            project_domain_name: None,
            project_domain_id: None,
            preauth_url: None,
            preauth_token: None,
            should_retr_ratelimit: true,
            needs_tls_compr: false,
            segment_size: 100 * 1024 * 1024,
            id: None,
            cluster_id: None,
        }
    }
}

/// The `custom_options` that fill a field of their own name, as python-swiftclient's
/// `os_options` do; `region_name` fills `region`.
const CUSTOM_OPTIONS: &[&str] = &[
    "region_name",
    "tenant_id",
    "tenant_name",
    "project_id",
    "project_name",
    "user_domain_id",
    "user_domain_name",
    "project_domain_id",
    "project_domain_name",
];

/// Whether an option of `custom_options` would hold a secret (`auth_token`, `service_key`,
/// `application_credential_secret`, …). Such an option is refused while deserializing, before
/// its value is kept in a plain string that Debug would show.
fn is_secret_option(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["token", "secret", "password", "key"]
        .iter()
        .any(|word| key.contains(word))
}

fn custom_options<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Map(BTreeMap<String, String>),
        Text(Option<String>),
    }
    let options: BTreeMap<String, String> = match Raw::deserialize(d)? {
        Raw::Map(m) => m,
        Raw::Text(t) => t
            .unwrap_or_default()
            .split(['\n', ';', '&'])
            .filter_map(|kv| {
                let kv = kv.trim();
                if kv.is_empty() {
                    return None;
                }
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                Some((k.trim().to_string(), v.trim().to_string()))
            })
            .collect(),
    };
    // The key is named, never the value.
    if let Some(key) = options.keys().find(|k| is_secret_option(k)) {
        return Err(serde::de::Error::custom(format!(
            "custom_options: {key:?} would hold a secret in plain text; use key or \
             preauth_token, which are never shown"
        )));
    }
    Ok(options)
}

/// The most retries of one request.
pub(crate) const MAX_RETRIES: u32 = 100;
/// The longest backoff and the longest `pool_wait`, in seconds: an hour.
pub(crate) const MAX_WAIT_SECONDS: f64 = 3600.0;
/// The most clients one pool holds.
pub(crate) const MAX_POOL_SIZE: u32 = 1000;
/// The largest `segment_size`: 5 GiB, Swift's default largest object.
pub(crate) const MAX_SEGMENT_SIZE: u64 = 5 * 1024 * 1024 * 1024;

fn secs(v: f64) -> Duration {
    bounds::duration(v)
}

impl SwiftConfig {
    /// A configuration for auth v1.0 with the defaults for everything else.
    pub fn v1(
        name: impl Into<String>,
        auth_url: impl Into<String>,
        user: impl Into<String>,
        key: impl Into<Secret>,
    ) -> Self {
        SwiftConfig {
            name: name.into(),
            auth_url: Some(auth_url.into()),
            user: Some(user.into()),
            key: Some(key.into()),
            ..SwiftConfig::default()
        }
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        secs(self.timeout)
    }

    /// The bounded wait for a free pooled client.
    pub fn pool_wait(&self) -> Duration {
        secs(self.pool_wait)
    }

    /// Whether the connection uses a pre-authenticated storage URL and token.
    pub fn is_preauth(&self) -> bool {
        self.preauth_url.is_some() && self.preauth_token.is_some()
    }

    /// Checks the configuration and returns every problem at once.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] listing each problem with its path in a node's configuration, such as
    /// `outgoing.swift."Invoice Dispatcher".auth_url`.
    ///
    /// # Examples
    ///
    /// ```
    /// use zato_swift::SwiftConfig;
    ///
    /// let config = SwiftConfig {
    ///     pool_size: 0,
    ///     ..SwiftConfig::v1("Invoice Dispatcher", "http://127.0.0.1:8080/auth/v1.0", "u", "k")
    /// };
    /// let err = config.validate().unwrap_err();
    /// assert_eq!(err.problems()[0].path, r#"outgoing.swift."Invoice Dispatcher".pool_size"#);
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.resolved().map(drop)
    }

    /// The configuration in force: `custom_options` folded into their fields, the whole checked.
    pub(crate) fn resolved(&self) -> Result<SwiftConfig, ConfigError> {
        let mut resolved = self.clone();
        let folded = resolved.fold_custom_options();
        let mut problems = resolved.field_problems();
        problems.extend(folded);
        ConfigError::check(problems)
            .map(|()| resolved)
            .map_err(|e| e.within(&self.path()))
    }

    /// Where the connection sits in a node's configuration: `outgoing.swift."Invoice Dispatcher"`.
    pub(crate) fn path(&self) -> String {
        format!("outgoing.swift.{}", zato_core::config::key(&self.name))
    }

    /// Fills the fields that `custom_options` names and are unset; returns the options that
    /// cannot be honoured.
    fn fold_custom_options(&mut self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        for (option, value) in &self.custom_options {
            let path = format!("custom_options.{}", zato_core::config::key(option));
            let (name, field) = match option.as_str() {
                "region_name" => ("region", &mut self.region),
                "tenant_id" => ("tenant_id", &mut self.tenant_id),
                "tenant_name" => ("tenant_name", &mut self.tenant_name),
                "project_id" => ("project_id", &mut self.project_id),
                "project_name" => ("project_name", &mut self.project_name),
                "user_domain_id" => ("user_domain_id", &mut self.user_domain_id),
                "user_domain_name" => ("user_domain_name", &mut self.user_domain_name),
                "project_domain_id" => ("project_domain_id", &mut self.project_domain_id),
                "project_domain_name" => ("project_domain_name", &mut self.project_domain_name),
                _ => {
                    problems.push(ConfigProblem::new(
                        path,
                        format!(
                            "unsupported option; the supported ones are {}",
                            CUSTOM_OPTIONS.join(", ")
                        ),
                    ));
                    continue;
                }
            };
            let value = value.trim();
            match field {
                _ if value.is_empty() => {
                    problems.push(ConfigProblem::new(path, "has no value"));
                }
                None => *field = Some(value.to_owned()),
                Some(set) if set == value => {}
                Some(set) => problems.push(ConfigProblem::new(
                    path,
                    format!("{value:?} contradicts {name} {set:?}"),
                )),
            }
        }
        problems
    }

    /// The problems of the fields, in field order, each with the field's name as its path.
    fn field_problems(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        let mut bad = |field: &str, message: &str| p.push(ConfigProblem::new(field, message));
        if self.name.trim().is_empty() {
            bad("name", "must not be empty");
        }
        let nonempty = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        let url_ok = |v: &str| v.starts_with("http://") || v.starts_with("https://");
        match (&self.preauth_url, &self.preauth_token) {
            (Some(u), Some(_)) if !url_ok(u) => bad("preauth_url", "must be an http(s) URL"),
            (Some(_), None) => bad("preauth_token", "required with preauth_url"),
            (None, Some(_)) => bad("preauth_url", "required with preauth_token"),
            _ => {}
        }
        if !self.is_preauth() {
            match &self.auth_url {
                None => bad(
                    "auth_url",
                    "required unless preauth_url and preauth_token are set",
                ),
                Some(u) if !url_ok(u) => bad("auth_url", "must be an http(s) URL"),
                _ => {}
            }
            if !nonempty(&self.user) {
                bad("user", "required to authenticate");
            }
            if self.key.as_ref().is_none_or(|k| k.expose().is_empty()) {
                bad("key", "required to authenticate");
            }
            if self.api_key_auth && self.auth_version != AuthVersion::V2 {
                bad(
                    "api_key_auth",
                    "Rackspace API-key login is Keystone v2.0 only: set auth_version to 2.0",
                );
            }
            if self.auth_version == AuthVersion::V3
                && !nonempty(&self.user_domain_name)
                && !nonempty(&self.user_domain_id)
            {
                bad(
                    "user_domain_name",
                    "Keystone v3 needs user_domain_name or user_domain_id",
                );
            }
            if self.auth_version == AuthVersion::V3
                && !nonempty(&self.project_id)
                && (nonempty(&self.project_name) || nonempty(&self.tenant_name))
                && !nonempty(&self.project_domain_name)
                && !nonempty(&self.project_domain_id)
            {
                bad(
                    "project_domain_name",
                    "Keystone v3 needs project_domain_name or project_domain_id with a project name",
                );
            }
        }
        if self.needs_tls_compr {
            bad(
                "needs_tls_compr",
                "tls compression is not supported (rustls never compresses, which keeps the \
                 CRIME attack away): set it to false",
            );
        }
        p.extend(bounds::count(
            "retries",
            self.retries,
            0,
            MAX_RETRIES.into(),
        ));
        p.extend(bounds::seconds(
            "starting_backoff",
            self.starting_backoff,
            0.0,
            MAX_WAIT_SECONDS,
        ));
        if let Some(problem) =
            bounds::seconds("max_backoff", self.max_backoff, 0.0, MAX_WAIT_SECONDS)
        {
            p.push(problem);
        } else if self.max_backoff < self.starting_backoff {
            p.push(ConfigProblem::new(
                "max_backoff",
                "must be at least starting_backoff",
            ));
        }
        p.extend(bounds::count(
            "pool_size",
            self.pool_size,
            1,
            MAX_POOL_SIZE.into(),
        ));
        p.extend(bounds::positive_seconds(
            "timeout",
            self.timeout,
            bounds::MAX_SECONDS,
        ));
        p.extend(bounds::positive_seconds(
            "pool_wait",
            self.pool_wait,
            MAX_WAIT_SECONDS,
        ));
        p.extend(bounds::count(
            "segment_size",
            self.segment_size,
            1,
            MAX_SEGMENT_SIZE,
        ));
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(err: &ConfigError) -> Vec<&str> {
        err.problems().iter().map(|p| p.path.as_str()).collect()
    }

    #[test]
    fn validation_lists_every_problem_with_its_path() {
        let c = SwiftConfig {
            auth_version: AuthVersion::V3,
            pool_size: 0,
            timeout: 0.0,
            ..SwiftConfig::default()
        };
        let err = c.validate().unwrap_err();
        assert_eq!(
            paths(&err),
            [
                r#"outgoing.swift."".name"#,
                r#"outgoing.swift."".auth_url"#,
                r#"outgoing.swift."".user"#,
                r#"outgoing.swift."".key"#,
                r#"outgoing.swift."".user_domain_name"#,
                r#"outgoing.swift."".pool_size"#,
                r#"outgoing.swift."".timeout"#,
            ]
        );
        let named = SwiftConfig {
            name: "Invoice Dispatcher".into(),
            ..c
        };
        let err = named.validate().unwrap_err();
        assert_eq!(
            paths(&err)[0],
            r#"outgoing.swift."Invoice Dispatcher".auth_url"#
        );
        assert!(
            err.to_string().starts_with(
                r#"invalid configuration: outgoing.swift."Invoice Dispatcher".auth_url: required"#
            ),
            "{err}"
        );
    }

    #[test]
    fn zato_style_json_is_accepted() {
        let c: SwiftConfig = serde_json::from_str(
            r#"{"name":"x","auth_url":"https://a/v2.0","auth_version":2,"user":"u","key":"k",
                "tenant_name":"t","is_snet":true,"should_retr_ratelimit":false,
                "needs_tls_compr":false,"custom_options":"region_name=ORD; tenant_id=9"}"#,
        )
        .unwrap();
        assert_eq!(c.auth_version, AuthVersion::V2);
        assert!(!c.should_retr_ratelimit);
        assert_eq!(
            c.custom_options.get("region_name").map(String::as_str),
            Some("ORD")
        );
        c.validate().unwrap();
        let resolved = c.resolved().unwrap();
        assert_eq!(resolved.region.as_deref(), Some("ORD"));
        assert_eq!(resolved.tenant_id.as_deref(), Some("9"));
        assert_eq!(resolved.tenant_name.as_deref(), Some("t"));
        // Resolving again changes nothing: a resolved configuration can be given back.
        assert_eq!(resolved.resolved().unwrap(), resolved);
    }

    #[test]
    fn the_old_name_of_should_retr_ratelimit_is_still_read() {
        let c: SwiftConfig = serde_json::from_str(r#"{"retry_on_ratelimit":false}"#).unwrap();
        assert!(!c.should_retr_ratelimit);
        assert!(SwiftConfig::default().should_retr_ratelimit);
    }

    #[test]
    fn tls_compression_is_refused() {
        let c = SwiftConfig {
            needs_tls_compr: true,
            ..SwiftConfig::v1("crm", "http://a", "u", "k")
        };
        let err = c.validate().unwrap_err();
        assert_eq!(paths(&err), ["outgoing.swift.crm.needs_tls_compr"]);
        assert!(err.to_string().contains("not supported"), "{err}");
    }

    #[test]
    fn api_key_login_is_keystone_v2_only() {
        let c = SwiftConfig {
            api_key_auth: true,
            ..SwiftConfig::v1("crm", "http://a", "u", "k")
        };
        let err = c.validate().unwrap_err();
        assert_eq!(paths(&err), ["outgoing.swift.crm.api_key_auth"]);
        SwiftConfig {
            auth_version: AuthVersion::V2,
            ..c
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn custom_options_that_cannot_be_honoured_are_refused() {
        let mut options = BTreeMap::new();
        options.insert("region_name".to_owned(), "DFW".to_owned());
        options.insert("endpoint_type".to_owned(), "internalURL".to_owned());
        options.insert("project_name".to_owned(), " ".to_owned());
        let c = SwiftConfig {
            region: Some("ORD".into()),
            custom_options: options,
            ..SwiftConfig::v1("crm", "http://a", "u", "k")
        };
        let err = c.validate().unwrap_err();
        assert_eq!(
            paths(&err),
            [
                "outgoing.swift.crm.custom_options.endpoint_type",
                "outgoing.swift.crm.custom_options.project_name",
                "outgoing.swift.crm.custom_options.region_name",
            ]
        );
        let shown = err.to_string();
        assert!(shown.contains("unsupported option"), "{shown}");
        assert!(shown.contains("has no value"), "{shown}");
        assert!(
            shown.contains(r#""DFW" contradicts region "ORD""#),
            "{shown}"
        );
    }

    #[test]
    fn custom_options_holding_secrets_are_refused_without_their_value() {
        for text in [
            r#"{"custom_options":"auth_token=tok-SECRET"}"#,
            r#"{"custom_options":{"service_key":"key-SECRET"}}"#,
        ] {
            let err = serde_json::from_str::<SwiftConfig>(text).unwrap_err();
            let shown = err.to_string();
            assert!(shown.contains("secret"), "{shown}");
            assert!(!shown.contains("SECRET"), "{shown}");
        }
    }

    #[test]
    fn secrets_are_redacted() {
        let c = SwiftConfig {
            preauth_token: Some("tok-SECRET".into()),
            ..SwiftConfig::v1("n", "http://a", "u", "key-SECRET")
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert_eq!(
            c.key.as_ref().map(|k| k.to_string()).as_deref(),
            Some("***")
        );
    }
}

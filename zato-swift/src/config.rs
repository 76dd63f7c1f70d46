//! [`SwiftConfig`]: the definition of a Swift outgoing connection, with Zato's field names.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
/// Field names follow Zato's where Zato has them. Durations are in seconds (fractions allowed).
/// Unknown fields (Zato's `id`, `cluster_id`, …) are ignored, so a Zato export deserializes.
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
#[serde(default)]
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
    /// How many times a failed request is retried.
    pub retries: u32,
    /// The first backoff, in seconds; it doubles with each retry.
    pub starting_backoff: f64,
    /// The longest backoff, in seconds; also caps a server's `Retry-After`.
    pub max_backoff: f64,
    /// How many authenticated clients the pool holds.
    pub pool_size: u32,
    /// Free-form options kept for Zato compatibility, as `key=value` pairs.
    #[serde(deserialize_with = "custom_options")]
    pub custom_options: BTreeMap<String, String>,
    /// Verify the server's TLS certificate.
    pub should_validate_cert: bool,
    /// A PEM file with extra CA certificates to trust.
    pub cacert: Option<PathBuf>,
    /// The per-request timeout, in seconds, retries not included.
    pub timeout: f64,
    /// How long `client()` waits for a free pooled client, in seconds.
    pub pool_wait: f64,
    /// The catalog region to pick the object-store endpoint from; the first one if unset.
    pub region: Option<String>,
    /// Keystone v2.0: send the key as Rackspace API-key credentials instead of a password.
    pub api_key: bool,
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
    /// Retry 429 and 498 (rate limited) answers too.
    pub retry_on_ratelimit: bool,
    /// Objects larger than this many bytes are uploaded as static large objects.
    pub segment_size: u64,
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
            api_key: false,
            tenant_id: None,
            user_domain_name: None,
            user_domain_id: None,
            project_name: None,
            project_id: None,
            project_domain_name: None,
            project_domain_id: None,
            preauth_url: None,
            preauth_token: None,
            retry_on_ratelimit: true,
            segment_size: 100 * 1024 * 1024,
        }
    }
}

fn custom_options<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Map(BTreeMap<String, String>),
        Text(Option<String>),
    }
    Ok(match Raw::deserialize(d)? {
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
    })
}

/// One problem found by [`SwiftConfig::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The field, e.g. `auth_url`.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

/// Every problem of a configuration at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid swift configuration: {}", render(.problems))]
pub struct ConfigError {
    /// The problems, in field order.
    pub problems: Vec<ConfigProblem>,
}

fn render(problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("{}: {}", p.field, p.message))
        .collect::<Vec<_>>()
        .join("; ")
}

fn secs(v: f64) -> Duration {
    Duration::try_from_secs_f64(v).unwrap_or(Duration::ZERO)
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
    /// A [`ConfigError`] listing each problem with its field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut p = Vec::new();
        let mut bad = |field: &'static str, message: &str| {
            p.push(ConfigProblem {
                field,
                message: message.to_string(),
            })
        };
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
        if !(self.starting_backoff.is_finite() && self.starting_backoff >= 0.0) {
            bad("starting_backoff", "must be zero or more seconds");
        }
        if !(self.max_backoff.is_finite() && self.max_backoff >= self.starting_backoff) {
            bad("max_backoff", "must be at least starting_backoff");
        }
        if self.pool_size == 0 {
            bad("pool_size", "must be at least 1");
        }
        if !(self.timeout.is_finite() && self.timeout > 0.0) {
            bad("timeout", "must be more than zero seconds");
        }
        if !(self.pool_wait.is_finite() && self.pool_wait > 0.0) {
            bad("pool_wait", "must be more than zero seconds");
        }
        if self.segment_size == 0 {
            bad("segment_size", "must be at least 1 byte");
        }
        if p.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems: p })
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // reason: a test panics on any unexpected error
mod tests {
    use super::*;

    #[test]
    fn validation_lists_every_problem() {
        let c = SwiftConfig {
            auth_version: AuthVersion::V3,
            pool_size: 0,
            timeout: 0.0,
            ..SwiftConfig::default()
        };
        let err = c.validate().unwrap_err();
        let fields: Vec<_> = err.problems.iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            [
                "name",
                "auth_url",
                "user",
                "key",
                "user_domain_name",
                "pool_size",
                "timeout"
            ]
        );
    }

    #[test]
    fn zato_style_json_is_accepted() {
        let c: SwiftConfig = serde_json::from_str(
            r#"{"name":"x","auth_url":"https://a/v2.0","auth_version":2,"user":"u","key":"k",
                "tenant_name":"t","is_snet":true,"custom_options":"a=1; b=2"}"#,
        )
        .unwrap();
        assert_eq!(c.auth_version, AuthVersion::V2);
        assert_eq!(c.custom_options.get("b").map(String::as_str), Some("2"));
        c.validate().unwrap();
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

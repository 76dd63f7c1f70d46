//! [`RestConfig`]: one outgoing REST or SOAP connection, in Zato's field names where Zato has
//! them (`address`, `security`), checked against [`zato_core::config::bounds`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zato_core::config::{ConfigProblem, bounds};

/// How a call's body is written and a reply's read, unless the call says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RestFormat {
    /// `application/json`.
    #[default]
    Json,
    /// `application/xml`, from SimpleIO types.
    Xml,
    /// `application/x-www-form-urlencoded`, from a flat object.
    Form,
    /// Bytes as given.
    Raw,
}

impl RestFormat {
    /// The Content-Type of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            RestFormat::Json => "application/json",
            RestFormat::Xml => "application/xml; charset=utf-8",
            RestFormat::Form => "application/x-www-form-urlencoded",
            RestFormat::Raw => "application/octet-stream",
        }
    }
}

/// The SOAP version of an `outgoing.soap` connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SoapVersionConfig {
    /// SOAP 1.1: `text/xml` and a `SOAPAction` header.
    #[serde(rename = "1.1")]
    #[default]
    V11,
    /// SOAP 1.2: `application/soap+xml` with an `action` parameter.
    #[serde(rename = "1.2")]
    V12,
}

fn yes() -> bool {
    true
}
fn connect_timeout() -> f64 {
    5.0
}
fn timeout() -> f64 {
    30.0
}
fn pool_size() -> u32 {
    20
}
fn pool_wait() -> f64 {
    5.0
}
fn retries() -> u32 {
    2
}
fn retry_backoff() -> f64 {
    0.1
}
fn retry_max_wait() -> f64 {
    10.0
}
fn breaker_failures() -> u32 {
    5
}
fn breaker_cooldown() -> f64 {
    30.0
}
fn max_response_size() -> u64 {
    16 * 1024 * 1024
}
fn ping_method() -> String {
    "HEAD".to_owned()
}
fn ping_path() -> String {
    "/".to_owned()
}

/// An outgoing REST (`outgoing.http`) or SOAP (`outgoing.soap`) connection.
///
/// # Examples
///
/// ```
/// use zato_rest::RestConfig;
///
/// let config: RestConfig = serde_json::from_value(serde_json::json!({
///     "name": "CRM", "address": "https://crm.example.com/api", "security": "crm-oauth",
///     "timeout": 10, "retries": 3
/// })).unwrap();
/// assert_eq!(config.pool_size, 20);
/// assert!(config.problems().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RestConfig {
    /// The connection's unique name.
    pub name: String,
    /// An inactive connection answers every call with a 503.
    #[serde(default = "yes")]
    pub is_active: bool,
    /// The base address: a call's path is appended to it.
    pub address: String,
    /// The security definition presented, by name, from the `security` section.
    #[serde(default)]
    pub security: Option<String>,
    /// Headers sent with every call.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The format of bodies: `json`, `xml`, `form` or `raw`.
    #[serde(default)]
    pub data_format: RestFormat,
    /// Seconds to wait for a TCP and TLS connection.
    #[serde(default = "connect_timeout")]
    pub connect_timeout: f64,
    /// Seconds one attempt may take in all, the reply's body read included.
    #[serde(default = "timeout")]
    pub timeout: f64,
    /// The most calls in flight at once.
    #[serde(default = "pool_size")]
    pub pool_size: u32,
    /// Seconds a call waits for a free slot before a 503.
    #[serde(default = "pool_wait")]
    pub pool_wait: f64,
    /// Further attempts after a failed one (a connection error, a timeout, a 429, 502, 503
    /// or 504), for idempotent methods unless `retry_non_idempotent`.
    #[serde(default = "retries")]
    pub retries: u32,
    /// Seconds before the first retry, doubled at each one, with jitter.
    #[serde(default = "retry_backoff")]
    pub retry_backoff: f64,
    /// Seconds all the retries of one call may wait in total, a `Retry-After` included.
    #[serde(default = "retry_max_wait")]
    pub retry_max_wait: f64,
    /// Retries POST and PATCH too.
    #[serde(default)]
    pub retry_non_idempotent: bool,
    /// Consecutive failed calls that open the circuit breaker; 0 turns it off.
    #[serde(default = "breaker_failures")]
    pub breaker_failures: u32,
    /// Seconds the breaker stays open before it lets one probe through.
    #[serde(default = "breaker_cooldown")]
    pub breaker_cooldown: f64,
    /// The most calls started per second, when set.
    #[serde(default)]
    pub rate_limit: Option<f64>,
    /// The largest reply body read, in bytes.
    #[serde(default = "max_response_size")]
    pub max_response_size: u64,
    /// A PEM file of CA certificates trusted besides the built-in roots.
    #[serde(default)]
    pub tls_ca_file: Option<String>,
    /// A PEM file holding a client certificate and its private key, for mutual TLS (or name a
    /// `tls_client_cert` security definition).
    #[serde(default)]
    pub tls_cert_file: Option<String>,
    /// Whether the server's certificate is verified; off only for development.
    #[serde(default = "yes")]
    pub tls_verify: bool,
    /// The method of a ping.
    #[serde(default = "ping_method")]
    pub ping_method: String,
    /// The path of a ping, relative to the address.
    #[serde(default = "ping_path")]
    pub ping_path: String,
    /// `outgoing.soap` only: `1.1` (the default) or `1.2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soap_version: Option<SoapVersionConfig>,
}

impl RestConfig {
    /// An active connection to `address` with the defaults.
    pub fn new(name: impl Into<String>, address: impl Into<String>) -> Self {
        RestConfig {
            name: name.into(),
            is_active: true,
            address: address.into(),
            security: None,
            headers: BTreeMap::new(),
            data_format: RestFormat::Json,
            connect_timeout: connect_timeout(),
            timeout: timeout(),
            pool_size: pool_size(),
            pool_wait: pool_wait(),
            retries: retries(),
            retry_backoff: retry_backoff(),
            retry_max_wait: retry_max_wait(),
            retry_non_idempotent: false,
            breaker_failures: breaker_failures(),
            breaker_cooldown: breaker_cooldown(),
            rate_limit: None,
            max_response_size: max_response_size(),
            tls_ca_file: None,
            tls_cert_file: None,
            tls_verify: true,
            ping_method: ping_method(),
            ping_path: ping_path(),
            soap_version: None,
        }
    }

    /// The same, presenting the security definition `name`.
    pub fn with_security(mut self, name: impl Into<String>) -> Self {
        self.security = Some(name.into());
        self
    }

    /// The problems of this connection, paths relative to it.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        match reqwest::Url::parse(&self.address) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
            Ok(_) => p.push(ConfigProblem::new(
                "address",
                "must be an http:// or https:// address with a host",
            )),
            Err(e) => p.push(ConfigProblem::new(
                "address",
                format!("not a valid address: {e}"),
            )),
        }
        if self
            .security
            .as_deref()
            .is_some_and(|s| s.trim().is_empty())
        {
            p.push(ConfigProblem::new(
                "security",
                "must name a security definition; leave it out for none",
            ));
        }
        for (name, value) in &self.headers {
            let at = format!("headers.{}", zato_core::config::key(name));
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                p.push(ConfigProblem::new(at.clone(), "not a valid header name"));
            }
            if http::HeaderValue::from_str(value).is_err() {
                p.push(ConfigProblem::new(at, "not a valid header value"));
            }
        }
        p.extend(bounds::positive_seconds(
            "connect_timeout",
            self.connect_timeout,
            3600.0,
        ));
        p.extend(bounds::positive_seconds("timeout", self.timeout, 3600.0));
        p.extend(bounds::count("pool_size", self.pool_size, 1, 10_000));
        p.extend(bounds::positive_seconds(
            "pool_wait",
            self.pool_wait,
            3600.0,
        ));
        p.extend(bounds::count("retries", self.retries, 0, 10));
        p.extend(bounds::seconds(
            "retry_backoff",
            self.retry_backoff,
            0.0,
            60.0,
        ));
        p.extend(bounds::seconds(
            "retry_max_wait",
            self.retry_max_wait,
            0.0,
            3600.0,
        ));
        p.extend(bounds::count(
            "breaker_failures",
            self.breaker_failures,
            0,
            100_000,
        ));
        p.extend(bounds::positive_seconds(
            "breaker_cooldown",
            self.breaker_cooldown,
            bounds::MAX_SECONDS,
        ));
        if let Some(rate) = self.rate_limit
            && !(rate.is_finite() && (0.001..=1_000_000.0).contains(&rate))
        {
            p.push(ConfigProblem::new(
                "rate_limit",
                "must be 0.001 to 1000000 calls per second",
            ));
        }
        p.extend(bounds::count(
            "max_response_size",
            self.max_response_size,
            1,
            bounds::MAX_BYTES,
        ));
        if http::Method::from_bytes(self.ping_method.as_bytes()).is_err() {
            p.push(ConfigProblem::new("ping_method", "not a valid HTTP method"));
        }
        if !self.ping_path.starts_with('/') {
            p.push(ConfigProblem::new("ping_path", "must start with `/`"));
        }
        p
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        bounds::duration(self.connect_timeout)
    }
    pub(crate) fn timeout(&self) -> Duration {
        bounds::duration(self.timeout)
    }
    pub(crate) fn pool_wait(&self) -> Duration {
        bounds::duration(self.pool_wait)
    }
    pub(crate) fn retry_backoff(&self) -> Duration {
        bounds::duration(self.retry_backoff)
    }
    pub(crate) fn retry_max_wait(&self) -> Duration {
        bounds::duration(self.retry_max_wait)
    }
    pub(crate) fn breaker_cooldown(&self) -> Duration {
        bounds::duration(self.breaker_cooldown)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn bad_values_are_refused_by_path() {
        let mut c = RestConfig::new("x", "ftp://a");
        c.timeout = 0.0;
        c.pool_size = 0;
        c.retries = 99;
        c.rate_limit = Some(f64::NAN);
        c.ping_path = "nope".into();
        c.headers.insert("bad header".into(), "v".into());
        let paths: Vec<String> = c.problems().into_iter().map(|p| p.path).collect();
        for want in [
            "address",
            "timeout",
            "pool_size",
            "retries",
            "rate_limit",
            "ping_path",
            "headers.\"bad header\"",
        ] {
            assert!(paths.iter().any(|p| p == want), "{want} in {paths:?}");
        }
        assert!(
            RestConfig::new("x", "http://127.0.0.1:1/a")
                .problems()
                .is_empty()
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_value::<RestConfig>(serde_json::json!({
            "name": "a", "address": "http://a", "adress": "x"
        }))
        .unwrap_err();
        assert!(err.to_string().contains("adress"), "{err}");
    }
}

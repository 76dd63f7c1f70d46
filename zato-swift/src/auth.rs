//! Authentication: auth v1.0, Keystone v2.0 and v3, pre-authenticated tokens, catalog lookup and
//! the token cache shared by every client of a pool.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use serde_json::{Value, json};

use crate::config::{AuthVersion, Secret, SwiftConfig};
use crate::error::{SwiftError, SwiftErrorKind, from_reqwest};

/// A token is refreshed at most this long before it expires.
const MAX_EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// When a token received at `received` and expiring at `expires_at` should be renewed: a tenth
/// of its remaining lifetime before it expires, at most [`MAX_EXPIRY_MARGIN`] before. A fixed
/// margin would make a token valid for less than the margin stale on arrival, so every request
/// would authenticate again.
fn refresh_time(received: SystemTime, expires_at: SystemTime) -> SystemTime {
    let lifetime = expires_at
        .duration_since(received)
        .unwrap_or(Duration::ZERO);
    let margin = (lifetime / 10).min(MAX_EXPIRY_MARGIN);
    expires_at.checked_sub(margin).unwrap_or(expires_at)
}

/// An authenticated session: where the account lives and the token to reach it.
#[derive(Clone)]
pub(crate) struct Session {
    pub(crate) storage_url: String,
    /// `storage_url` parsed, to push names onto as path segments.
    pub(crate) base_url: reqwest::Url,
    pub(crate) token: Secret,
    /// The token as a sensitive header value, built once rather than on every request.
    pub(crate) header: http::HeaderValue,
    pub(crate) expires_at: Option<SystemTime>,
    /// When the token should be renewed, a little before `expires_at`.
    refresh_at: Option<SystemTime>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("storage_url", &self.storage_url)
            .field("token", &self.token)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl Session {
    fn new(
        storage_url: &str,
        token: Secret,
        expires_at: Option<SystemTime>,
    ) -> Result<Self, SwiftError> {
        let mut header = http::HeaderValue::from_str(token.expose())
            .map_err(|_| protocol("the token is not a valid header value"))?;
        header.set_sensitive(true);
        let storage_url = storage_url.trim_end_matches('/');
        let base_url = reqwest::Url::parse(storage_url)
            .ok()
            .filter(|u| !u.cannot_be_a_base() && matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| protocol("the storage URL is not an http(s) URL"))?;
        let now = SystemTime::now();
        Ok(Session {
            base_url,
            storage_url: storage_url.to_string(),
            token,
            header,
            expires_at,
            refresh_at: expires_at.map(|at| refresh_time(now, at)),
        })
    }

    fn is_fresh(&self) -> bool {
        self.refresh_at.is_none_or(|at| SystemTime::now() < at)
    }
}

/// Obtains sessions and caches the current one; shared by the clients of one pool.
pub(crate) struct Authenticator {
    config: Arc<SwiftConfig>,
    http: reqwest::Client,
    current: ArcSwapOption<Session>,
    lock: tokio::sync::Mutex<()>,
    auth_count: AtomicU64,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("auth_version", &self.config.auth_version)
            .field("auth_url", &self.config.auth_url)
            .field("session", &self.current.load())
            .finish()
    }
}

impl Authenticator {
    pub(crate) fn new(config: Arc<SwiftConfig>, http: reqwest::Client) -> Self {
        let current = match (&config.preauth_url, &config.preauth_token) {
            (Some(url), Some(token)) => Session::new(url, token.clone(), None).ok().map(Arc::new),
            _ => None,
        };
        Authenticator {
            config,
            http,
            current: ArcSwapOption::new(current),
            lock: tokio::sync::Mutex::new(()),
            auth_count: AtomicU64::new(0),
        }
    }

    /// How many times this authenticator has authenticated.
    pub(crate) fn auth_count(&self) -> u64 {
        self.auth_count.load(Ordering::Relaxed)
    }

    /// The current session, authenticating when there is none or it is about to expire.
    pub(crate) async fn session(&self) -> Result<Arc<Session>, SwiftError> {
        if let Some(s) = self.current.load_full().filter(|s| s.is_fresh()) {
            return Ok(s);
        }
        let _guard = self.lock.lock().await;
        if let Some(s) = self.current.load_full().filter(|s| s.is_fresh()) {
            return Ok(s);
        }
        self.authenticate_locked().await
    }

    /// A new session after `stale` was refused with a 401. When another task already replaced
    /// `stale`, its replacement is returned and no second authentication happens.
    pub(crate) async fn reauthenticate(
        &self,
        stale: &Arc<Session>,
    ) -> Result<Arc<Session>, SwiftError> {
        let _guard = self.lock.lock().await;
        if let Some(s) = self.current.load_full().filter(|s| !Arc::ptr_eq(s, stale)) {
            return Ok(s);
        }
        self.current.store(None);
        self.authenticate_locked().await
    }

    async fn authenticate_locked(&self) -> Result<Arc<Session>, SwiftError> {
        let c = &self.config;
        let (Some(auth_url), Some(user), Some(key)) = (&c.auth_url, &c.user, &c.key) else {
            return Err(SwiftErrorKind::AuthFailed {
                message: "the token was refused and no credentials are configured to renew it"
                    .into(),
            }
            .into());
        };
        self.auth_count.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(connection = ?c.name, version = ?c.auth_version, "authenticating");
        let session = match c.auth_version {
            AuthVersion::V1 => self.v1(auth_url, user, key).await?,
            AuthVersion::V2 => self.v2(auth_url, user, key).await?,
            AuthVersion::V3 => self.v3(auth_url, user, key).await?,
        };
        let session = Arc::new(session);
        self.current.store(Some(session.clone()));
        Ok(session)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, SwiftError> {
        let timeout = self.config.timeout();
        let resp = req
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| from_reqwest(e, timeout))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        // The body of a refused authentication is never quoted: it could echo credentials.
        Err(if matches!(status.as_u16(), 401 | 403) {
            SwiftErrorKind::AuthFailed {
                message: format!("the identity service answered {status}"),
            }
            .into()
        } else {
            SwiftErrorKind::Http {
                status: status.as_u16(),
                operation: "authenticate".into(),
                excerpt: String::new(),
            }
            .into()
        })
    }

    async fn v1(&self, url: &str, user: &str, key: &Secret) -> Result<Session, SwiftError> {
        let mut key =
            http::HeaderValue::from_str(key.expose()).map_err(|_| SwiftErrorKind::AuthFailed {
                message: "the key is not a valid header value".into(),
            })?;
        key.set_sensitive(true);
        let resp = self
            .send(
                self.http
                    .get(url)
                    .header("X-Auth-User", user)
                    .header("X-Auth-Key", key),
            )
            .await?;
        let h = resp.headers();
        let get = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let storage_url = get("x-storage-url")
            .ok_or_else(|| protocol("auth v1.0 answer has no X-Storage-Url"))?;
        let token = get("x-auth-token")
            .or_else(|| get("x-storage-token"))
            .ok_or_else(|| protocol("auth v1.0 answer has no X-Auth-Token"))?;
        // Seconds the token stays valid. A value too large to represent (`1e19`) means no known
        // expiry rather than a panic.
        let expires_at = get("x-auth-token-expires")
            .and_then(|s| s.trim().parse::<f64>().ok())
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .and_then(|d| SystemTime::now().checked_add(d));
        let storage_url = if self.config.is_snet {
            snet(&storage_url)
        } else {
            storage_url
        };
        Session::new(&storage_url, Secret::new(token.to_owned()), expires_at)
    }

    async fn v2(&self, url: &str, user: &str, key: &Secret) -> Result<Session, SwiftError> {
        let c = &self.config;
        let mut auth = if c.api_key_auth {
            json!({"RAX-KSKEY:apiKeyCredentials": {"username": user, "apiKey": key.expose()}})
        } else {
            json!({"passwordCredentials": {"username": user, "password": key.expose()}})
        };
        if let Some(t) = &c.tenant_name {
            auth["tenantName"] = json!(t);
        }
        if let Some(t) = &c.tenant_id {
            auth["tenantId"] = json!(t);
        }
        let url = with_suffix(url, "/tokens");
        let resp = self
            .send(self.http.post(url).json(&json!({ "auth": auth })))
            .await?;
        let body: Value = resp
            .json()
            .await
            .map_err(|_| protocol("Keystone v2.0 answer is not JSON"))?;
        let access = &body["access"];
        let token = access["token"]["id"]
            .as_str()
            .ok_or_else(|| protocol("Keystone v2.0 answer has no access.token.id"))?;
        let expires_at = access["token"]["expires"].as_str().and_then(parse_time);
        let storage_url = pick_endpoint(&access["serviceCatalog"], c, Catalog::V2)?;
        Session::new(&storage_url, Secret::new(token.to_owned()), expires_at)
    }

    async fn v3(&self, url: &str, user: &str, key: &Secret) -> Result<Session, SwiftError> {
        let c = &self.config;
        let domain = |name: &Option<String>, id: &Option<String>| match (id, name) {
            (Some(id), _) => json!({ "id": id }),
            (None, Some(name)) => json!({ "name": name }),
            (None, None) => json!({ "id": "default" }),
        };
        let user_obj = json!({
            "name": user,
            "password": key.expose(),
            "domain": domain(&c.user_domain_name, &c.user_domain_id),
        });
        let mut auth = json!({
            "identity": { "methods": ["password"], "password": { "user": user_obj } }
        });
        let project_name = c.project_name.as_ref().or(c.tenant_name.as_ref());
        if let Some(id) = c.project_id.as_ref().or(c.tenant_id.as_ref()) {
            auth["scope"] = json!({ "project": { "id": id } });
        } else if let Some(name) = project_name {
            auth["scope"] = json!({ "project": {
                "name": name,
                "domain": domain(&c.project_domain_name, &c.project_domain_id),
            }});
        }
        let url = with_suffix(url, "/auth/tokens");
        let resp = self
            .send(self.http.post(url).json(&json!({ "auth": auth })))
            .await?;
        let token = resp
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| protocol("Keystone v3 answer has no X-Subject-Token"))?;
        let body: Value = resp
            .json()
            .await
            .map_err(|_| protocol("Keystone v3 answer is not JSON"))?;
        let expires_at = body["token"]["expires_at"].as_str().and_then(parse_time);
        let storage_url = pick_endpoint(&body["token"]["catalog"], c, Catalog::V3)?;
        Session::new(&storage_url, Secret::new(token.to_owned()), expires_at)
    }
}

fn protocol(message: &str) -> SwiftError {
    SwiftErrorKind::Protocol {
        message: message.into(),
    }
    .into()
}

fn parse_time(s: &str) -> Option<SystemTime> {
    let t = chrono::DateTime::parse_from_rfc3339(s).ok().or_else(|| {
        // Keystone v2.0 sometimes omits the zone: treat it as UTC.
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(|n| n.and_utc().fixed_offset())
    })?;
    // A time before 1970 is long past: the token counts as expired. A time beyond what
    // `SystemTime` represents counts as no known expiry.
    let Ok(secs) = u64::try_from(t.timestamp()) else {
        return Some(SystemTime::UNIX_EPOCH);
    };
    SystemTime::UNIX_EPOCH.checked_add(Duration::new(
        secs,
        t.timestamp_subsec_nanos().min(999_999_999),
    ))
}

fn with_suffix(url: &str, suffix: &str) -> String {
    let url = url.trim_end_matches('/');
    if url.ends_with(suffix) {
        url.to_string()
    } else {
        format!("{url}{suffix}")
    }
}

/// Rackspace's service net: the same host name prefixed with `snet-`.
fn snet(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) if !rest.starts_with("snet-") => format!("{scheme}://snet-{rest}"),
        _ => url.to_string(),
    }
}

#[derive(Clone, Copy)]
enum Catalog {
    V2,
    V3,
}

/// The object-store endpoint of a Keystone catalog for the configured region and interface
/// (`internal` when `is_snet`, else `public`).
fn pick_endpoint(catalog: &Value, c: &SwiftConfig, version: Catalog) -> Result<String, SwiftError> {
    let interface = if c.is_snet { "internal" } else { "public" };
    let services = catalog
        .as_array()
        .ok_or_else(|| protocol("the token has no service catalog"))?;
    let endpoints = services
        .iter()
        .filter(|s| s["type"] == "object-store")
        .filter_map(|s| s["endpoints"].as_array())
        .flatten();
    for e in endpoints {
        let region_ok = c
            .region
            .as_deref()
            .is_none_or(|r| e["region"].as_str() == Some(r) || e["region_id"].as_str() == Some(r));
        if !region_ok {
            continue;
        }
        let url = match version {
            Catalog::V2 => e[format!("{interface}URL")].as_str(),
            Catalog::V3 => (e["interface"] == interface)
                .then(|| e["url"].as_str())
                .flatten(),
        };
        if let Some(url) = url {
            return Ok(url.trim_end_matches('/').to_string());
        }
    }
    Err(SwiftErrorKind::Protocol {
        message: format!(
            "the catalog has no object-store endpoint for region {} and interface {interface}",
            c.region.as_deref().unwrap_or("(any)")
        ),
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(region: Option<&str>, is_snet: bool) -> SwiftConfig {
        SwiftConfig {
            region: region.map(str::to_string),
            is_snet,
            ..SwiftConfig::default()
        }
    }

    #[test]
    fn v2_catalog_by_region_and_interface() {
        let cat = json!([
            {"type": "compute", "endpoints": [{"region": "A", "publicURL": "http://nova"}]},
            {"type": "object-store", "endpoints": [
                {"region": "A", "publicURL": "http://a-pub/v1/x", "internalURL": "http://a-int/v1/x"},
                {"region": "B", "publicURL": "http://b-pub/v1/x/", "internalURL": "http://b-int/v1/x"}
            ]}
        ]);
        let pick = |r, s| pick_endpoint(&cat, &cfg(r, s), Catalog::V2).unwrap();
        assert_eq!(pick(None, false), "http://a-pub/v1/x");
        assert_eq!(pick(Some("B"), false), "http://b-pub/v1/x");
        assert_eq!(pick(Some("B"), true), "http://b-int/v1/x");
        assert!(pick_endpoint(&cat, &cfg(Some("C"), false), Catalog::V2).is_err());
    }

    #[test]
    fn snet_prefixes_host() {
        assert_eq!(
            snet("https://storage.example.com/v1/A"),
            "https://snet-storage.example.com/v1/A"
        );
    }

    #[test]
    fn the_renewal_margin_is_a_tenth_of_the_lifetime_up_to_a_minute() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let s = Duration::from_secs;
        // An hour-long token is renewed a minute before it expires.
        assert_eq!(refresh_time(now, now + s(3600)), now + s(3540));
        // A 30 s token is used for 27 s, not renewed on arrival.
        assert_eq!(refresh_time(now, now + s(30)), now + s(27));
        // A token already expired is renewed at once.
        assert_eq!(refresh_time(now, now - s(5)), now - s(5));
    }

    #[test]
    fn a_fresh_short_lived_token_is_fresh() {
        let at = SystemTime::now() + Duration::from_secs(30);
        let session = Session::new("http://swift/v1/AUTH_a", Secret::new("t".into()), Some(at));
        assert!(session.unwrap().is_fresh());
        let past = SystemTime::now() - Duration::from_secs(1);
        let session = Session::new(
            "http://swift/v1/AUTH_a",
            Secret::new("t".into()),
            Some(past),
        );
        assert!(!session.unwrap().is_fresh());
    }

    #[test]
    fn times_parse() {
        assert!(parse_time("2030-01-01T00:00:00Z").is_some());
        assert!(parse_time("2030-01-01T00:00:00.000000Z").is_some());
        assert!(parse_time("2030-01-01T00:00:00").is_some());
        assert!(parse_time("9999-12-31T23:59:59.999999Z").is_some());
        assert_eq!(
            parse_time("1969-12-31T23:59:59Z"),
            Some(SystemTime::UNIX_EPOCH),
            "a past expiry is expired, not unknown"
        );
    }
}

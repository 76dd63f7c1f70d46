//! The `jwt` security type: a bearer token checked with jsonwebtoken, by a shared secret
//! (HS256/384/512) or by the public keys of a JWKS URL (RS*, PS*, ES*, EdDSA).
//!
//! The token's `alg` must be the one configured: a token naming another (`none`, or HS256 signed
//! with an RSA public key as its secret) is refused before any key is looked at. A JWKS is
//! fetched when first needed and cached; a token naming a `kid` the cache lacks refetches it,
//! at most once per [`MIN_REFRESH`], one fetch at a time, so tokens with made-up `kid`s cannot
//! turn the channel into a load generator against the identity provider. Keys older than
//! [`MAX_KEYS_AGE`] are refetched before use, so a key withdrawn from the JWKS stops working.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use http::{HeaderMap, header};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use zato_core::{ConfigProblem, Secret};

/// The least time between two fetches of a JWKS made for an unknown `kid`.
pub(super) const MIN_REFRESH: Duration = Duration::from_secs(1);
/// How long fetched keys are used before they are fetched again.
pub(super) const MAX_KEYS_AGE: Duration = Duration::from_secs(3600);
/// How long a JWKS fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest JWKS document read.
const MAX_JWKS_BYTES: usize = 256 * 1024;
/// The longest token looked at.
const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// The most leeway a definition may give, in seconds.
pub(super) const MAX_LEEWAY: u64 = 3600;

/// What a checked token gives: the caller's subject and the claims.
#[derive(Debug)]
pub(super) struct Verified {
    pub(super) subject: Option<String>,
    pub(super) claims: serde_json::Value,
}

/// A `jwt` definition compiled for checking requests.
pub(super) struct JwtCheck {
    algorithm: Algorithm,
    validation: Validation,
    keys: Keys,
}

enum Keys {
    Secret(DecodingKey),
    Jwks(Jwks),
}

impl fmt::Debug for JwtCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = match &self.keys {
            Keys::Secret(_) => "secret",
            Keys::Jwks(jwks) => jwks.url.as_str(),
        };
        f.debug_struct("JwtCheck")
            .field("algorithm", &self.algorithm)
            .field("keys", &keys)
            .finish_non_exhaustive()
    }
}

/// The fields of a `jwt` definition.
pub(super) struct JwtFields<'d> {
    pub(super) algorithm: &'d str,
    pub(super) secret: Option<&'d Secret>,
    pub(super) jwks_url: Option<&'d str>,
    pub(super) issuer: Option<&'d str>,
    pub(super) audience: Option<&'d str>,
    pub(super) leeway: u64,
}

fn is_hmac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

impl JwtCheck {
    /// Compiles a definition, or says every problem of it. Fetches nothing.
    pub(super) fn new(fields: &JwtFields<'_>) -> Result<JwtCheck, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let algorithm = fields.algorithm.parse::<Algorithm>().ok();
        if algorithm.is_none() {
            problems.push(ConfigProblem::new(
                "algorithm",
                format!(
                    "`{}` is not one of HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, \
                     PS512, ES256, ES384, EdDSA",
                    fields.algorithm
                ),
            ));
        }
        if fields.leeway > MAX_LEEWAY {
            problems.push(ConfigProblem::new(
                "leeway",
                format!("must be at most {MAX_LEEWAY} seconds"),
            ));
        }
        for (path, value) in [("issuer", fields.issuer), ("audience", fields.audience)] {
            if value.is_some_and(|v| v.trim().is_empty()) {
                problems.push(ConfigProblem::new(path, "must not be empty when given"));
            }
        }
        let keys = match algorithm {
            None => None,
            Some(alg) if is_hmac(alg) => {
                if fields.jwks_url.is_some() {
                    problems.push(ConfigProblem::new(
                        "jwks_url",
                        "an HMAC algorithm takes a `secret`, not a JWKS",
                    ));
                }
                match fields.secret {
                    Some(secret) if !secret.expose().is_empty() => Some(Keys::Secret(
                        DecodingKey::from_secret(secret.expose().as_bytes()),
                    )),
                    _ => {
                        problems.push(ConfigProblem::new(
                            "secret",
                            "must be given, not empty, for an HMAC algorithm",
                        ));
                        None
                    }
                }
            }
            Some(_) => {
                if fields.secret.is_some() {
                    problems.push(ConfigProblem::new(
                        "secret",
                        "a public-key algorithm takes its keys from `jwks_url`, not a secret",
                    ));
                }
                match fields.jwks_url {
                    Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                        Jwks::new(url).map(Keys::Jwks)
                    }
                    _ => {
                        problems.push(ConfigProblem::new(
                            "jwks_url",
                            "must be an http(s) URL for a public-key algorithm",
                        ));
                        None
                    }
                }
            }
        };
        let (Some(algorithm), Some(keys)) = (algorithm, keys) else {
            return Err(problems);
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut validation = Validation::new(algorithm);
        validation.leeway = fields.leeway;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        match fields.issuer {
            Some(iss) => validation.set_issuer(&[iss]),
            None => validation.iss = None,
        }
        match fields.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        Ok(JwtCheck {
            algorithm,
            validation,
            keys,
        })
    }

    /// Checks the request's bearer token; the error is why it was refused, for the log (it
    /// never quotes the token).
    pub(super) async fn verify(&self, headers: &HeaderMap) -> Result<Verified, &'static str> {
        let token = bearer(headers).ok_or("no bearer token")?;
        if token.len() > MAX_TOKEN_BYTES {
            return Err("token too long");
        }
        // `alg: none`, and any algorithm jsonwebtoken does not know, fail here.
        let head = jsonwebtoken::decode_header(token).map_err(|_| "malformed token")?;
        if head.alg != self.algorithm {
            return Err("token algorithm not allowed");
        }
        let key_holder;
        let key = match &self.keys {
            Keys::Secret(key) => key,
            Keys::Jwks(jwks) => {
                key_holder = jwks
                    .key(head.kid.as_deref())
                    .await
                    .ok_or("no key for the token's kid")?;
                &*key_holder
            }
        };
        let data = jsonwebtoken::decode::<serde_json::Value>(token, key, &self.validation)
            .map_err(|e| reason(e.kind()))?;
        let subject = data
            .claims
            .get("sub")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        Ok(Verified {
            subject,
            claims: data.claims,
        })
    }
}

/// Why jsonwebtoken refused a token, in words that quote nothing of it.
fn reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "token expired",
        ErrorKind::ImmatureSignature => "token not yet valid",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            "token algorithm not allowed"
        }
        ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
        _ => "invalid token",
    }
}

/// The token of `Authorization: Bearer <token>`, the scheme matched case-insensitively.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// A JWKS URL's keys, by `kid`, fetched when needed.
struct Jwks {
    url: String,
    client: reqwest::Client,
    keys: ArcSwap<KeySet>,
    /// When the keys were last fetched (or tried), for the bound on refetches.
    fetched: Mutex<Option<Instant>>,
    /// One fetch at a time; those waiting take its result.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, Arc<DecodingKey>>,
    /// The keys without a `kid`.
    anonymous: Vec<Arc<DecodingKey>>,
    loaded: Option<Instant>,
}

impl KeySet {
    fn find(&self, kid: Option<&str>) -> Option<Arc<DecodingKey>> {
        match kid {
            Some(kid) => self.by_kid.get(kid).cloned(),
            // A token without a kid is checked against the set's only key, if it has one.
            None => match (self.by_kid.len(), self.anonymous.len()) {
                (1, 0) => self.by_kid.values().next().cloned(),
                (0, 1) => self.anonymous.first().cloned(),
                _ => None,
            },
        }
    }

    fn fresh(&self) -> bool {
        self.loaded.is_some_and(|at| at.elapsed() < MAX_KEYS_AGE)
    }
}

impl Jwks {
    fn new(url: &str) -> Option<Jwks> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .ok()?;
        Some(Jwks {
            url: url.to_owned(),
            client,
            keys: ArcSwap::from_pointee(KeySet::default()),
            fetched: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// The key for `kid`, fetching the set when it lacks it or is old, within the bounds.
    async fn key(&self, kid: Option<&str>) -> Option<Arc<DecodingKey>> {
        {
            let set = self.keys.load();
            if set.fresh()
                && let Some(key) = set.find(kid)
            {
                return Some(key);
            }
        }
        let _one = self.fetching.lock().await;
        // Another request's fetch may have brought it meanwhile.
        let seen = self.keys.load_full();
        if seen.fresh()
            && let Some(key) = seen.find(kid)
        {
            return Some(key);
        }
        let may_fetch = {
            let fetched = self.fetched.lock().unwrap_or_else(PoisonError::into_inner);
            fetched.is_none_or(|at| at.elapsed() >= MIN_REFRESH)
        };
        if may_fetch {
            *self.fetched.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
            match self.fetch().await {
                Ok(set) => self.keys.store(Arc::new(set)),
                // The keys held stay in use: an identity provider down for a moment does not
                // lock every caller out.
                Err(why) => tracing::warn!(url = %self.url, error = why, "JWKS fetch failed"),
            }
        }
        self.keys.load().find(kid)
    }

    async fn fetch(&self) -> Result<KeySet, String> {
        let mut resp = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("status {}", resp.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| format!("not a JWKS: {e}"))?;
        let mut keys = KeySet {
            loaded: Some(Instant::now()),
            ..KeySet::default()
        };
        for jwk in &set.keys {
            // A key of a type jsonwebtoken cannot use is skipped, not fatal to the others.
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            match &jwk.common.key_id {
                Some(kid) => {
                    keys.by_kid.insert(kid.clone(), Arc::new(key));
                }
                None => keys.anonymous.push(Arc::new(key)),
            }
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(algorithm: &str) -> JwtFields<'_> {
        JwtFields {
            algorithm,
            secret: None,
            jwks_url: None,
            issuer: None,
            audience: None,
            leeway: 0,
        }
    }

    #[test]
    fn a_definition_says_what_it_lacks() {
        let paths = |f: &JwtFields<'_>| -> Vec<String> {
            JwtCheck::new(f)
                .unwrap_err()
                .into_iter()
                .map(|p| p.path)
                .collect()
        };
        assert_eq!(paths(&fields("HS256")), ["secret"]);
        assert_eq!(paths(&fields("RS256")), ["jwks_url"]);
        assert_eq!(paths(&fields("none")), ["algorithm"]);
        let secret = Secret::from("s");
        let mixed = JwtFields {
            secret: Some(&secret),
            jwks_url: Some("https://idp/jwks"),
            leeway: 100_000,
            ..fields("RS256")
        };
        assert_eq!(paths(&mixed), ["leeway", "secret"]);
    }

    #[test]
    fn the_bearer_scheme_is_read_case_insensitively() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}

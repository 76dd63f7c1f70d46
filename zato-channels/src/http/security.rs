//! Security definitions compiled for checking requests: HTTP Basic Auth and API keys, secrets
//! compared in constant time, and JWTs (`jwt`).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderName, HeaderValue, header};
use subtle::{Choice, ConstantTimeEq};

use super::config::SecurityDef;
use super::jwt::{JwtCheck, JwtFields};
use super::peer::{CertMatch, IpFilter, Peer};
use zato_core::security::Caller;
use zato_core::{Cid, ConfigProblem, Secret, ServiceError};

/// The longest `Authorization: Basic` credentials decoded, so decoding needs no allocation.
const MAX_BASIC_CREDENTIALS: usize = 1024;

/// A security definition ready to check requests against.
pub(super) struct SecurityCheck {
    name: Box<str>,
    kind: Kind,
    /// The caller addresses let in, checked before anything else.
    ip: Option<IpFilter>,
    /// The `WWW-Authenticate` of a 401, computed once.
    challenge: HeaderValue,
}

enum Kind {
    Basic {
        username: Box<str>,
        password: Secret,
    },
    ApiKey {
        header: HeaderName,
        key: Secret,
    },
    Jwt(Box<JwtCheck>),
    IpList,
    ClientCert(CertMatch),
}

/// Why a request was refused, for the reply's status and the log (never quoting a credential).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Refusal {
    /// `true` for a 403 (the caller is known and not allowed), `false` for a 401.
    pub(super) forbidden: bool,
    pub(super) reason: &'static str,
}

impl Refusal {
    const fn unauthorized(reason: &'static str) -> Refusal {
        Refusal {
            forbidden: false,
            reason,
        }
    }

    const fn forbidden(reason: &'static str) -> Refusal {
        Refusal {
            forbidden: true,
            reason,
        }
    }
}

impl fmt::Debug for SecurityCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Basic { .. } => "basic_auth",
            Kind::ApiKey { .. } => "apikey",
            Kind::Jwt(_) => "jwt",
            Kind::IpList => "ip_list",
            Kind::ClientCert(_) => "tls_client_cert",
        };
        f.debug_struct("SecurityCheck")
            .field("name", &self.name)
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

impl SecurityCheck {
    /// Compiles a definition, or gives every reason it cannot, with paths relative to the
    /// definition (`header`). This is the validation of a definition: [`security_problems`]
    /// and the route table both come here, so a definition that validation accepts always
    /// compiles, and a channel is never served without the check it names.
    ///
    /// # Errors
    ///
    /// Every problem of the definition; never an empty list.
    ///
    /// [`security_problems`]: super::validate::security_problems
    pub(super) fn new(def: &SecurityDef) -> Result<SecurityCheck, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        if def.name().trim().is_empty() {
            problems.push(ConfigProblem::new("name", "must not be empty"));
        }
        let (ip_allow, ip_deny) = def.ip_ranges();
        let ip = IpFilter::new(ip_allow, ip_deny, &mut problems);
        let compiled = match def {
            SecurityDef::IpList { .. } => {
                if ip.is_none() {
                    problems.push(ConfigProblem::new(
                        "ip_allow",
                        "an ip_list names at least one range to allow or deny",
                    ));
                }
                Some((Kind::IpList, HeaderValue::from_static("IP")))
            }
            SecurityDef::TlsClientCert {
                subjects,
                fingerprints,
                ..
            } => Some((
                Kind::ClientCert(CertMatch::new(subjects, fingerprints, &mut problems)),
                HeaderValue::from_static("ClientCertificate"),
            )),
            SecurityDef::BasicAuth {
                username,
                password,
                realm,
                ..
            } => {
                if username.is_empty() || username.contains(':') {
                    problems.push(ConfigProblem::new(
                        "username",
                        "must be non-empty and hold no `:`",
                    ));
                }
                if password.expose().is_empty() {
                    problems.push(ConfigProblem::new("password", "must not be empty"));
                }
                // A quote or a backslash would end or escape the quoted realm.
                let challenge = (!realm.contains(['"', '\\']))
                    .then(|| {
                        HeaderValue::from_str(&format!(
                            "Basic realm=\"{realm}\", charset=\"UTF-8\""
                        ))
                        .ok()
                    })
                    .flatten();
                required(
                    challenge,
                    &mut problems,
                    "realm",
                    "must be printable text without quotes or backslashes",
                )
                .map(|challenge| {
                    let kind = Kind::Basic {
                        username: username.as_str().into(),
                        password: password.clone(),
                    };
                    (kind, challenge)
                })
            }
            SecurityDef::ApiKey { header, key, .. } => {
                // A header name is a token, so it always fits in the challenge's quotes.
                let parsed = HeaderName::from_bytes(header.as_bytes())
                    .ok()
                    .zip(HeaderValue::from_str(&format!("ApiKey header=\"{header}\"")).ok());
                let parsed = required(
                    parsed,
                    &mut problems,
                    "header",
                    format!("`{header}` is not a valid header name"),
                );
                if key.expose().is_empty() {
                    problems.push(ConfigProblem::new("key", "must not be empty"));
                }
                parsed.map(|(name, challenge)| {
                    let kind = Kind::ApiKey {
                        header: name,
                        key: key.clone(),
                    };
                    (kind, challenge)
                })
            }
            SecurityDef::Jwt {
                algorithm,
                secret,
                jwks_url,
                issuer,
                audience,
                leeway,
                ..
            } => {
                let fields = JwtFields {
                    algorithm,
                    secret: secret.as_ref(),
                    jwks_url: jwks_url.as_deref(),
                    issuer: issuer.as_deref(),
                    audience: audience.as_deref(),
                    leeway: *leeway,
                };
                match JwtCheck::new(&fields) {
                    Ok(check) => Some((
                        Kind::Jwt(Box::new(check)),
                        HeaderValue::from_static("Bearer realm=\"zato\", error=\"invalid_token\""),
                    )),
                    Err(found) => {
                        problems.extend(found);
                        None
                    }
                }
            }
        };
        match compiled {
            Some((kind, challenge)) if problems.is_empty() => Ok(SecurityCheck {
                name: def.name().into(),
                kind,
                ip,
                challenge,
            }),
            // `required` reported why `compiled` is missing.
            _ => Err(problems),
        }
    }

    /// The definition's name.
    #[cfg(test)]
    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// The `WWW-Authenticate` header of a 401.
    #[cfg(test)]
    pub(super) fn challenge(&self) -> &HeaderValue {
        &self.challenge
    }

    /// The header carrying an API key, which a service's `Debug` output must not show.
    pub(super) fn secret_header(&self) -> Option<&HeaderName> {
        match &self.kind {
            Kind::Basic { .. } | Kind::Jwt(_) | Kind::IpList | Kind::ClientCert(_) => None,
            Kind::ApiKey { header, .. } => Some(header),
        }
    }

    /// Checks a request against the definition, and says who the caller is.
    ///
    /// # Errors
    ///
    /// Why the request is refused.
    pub(super) async fn verify(
        &self,
        headers: &HeaderMap,
        peer: Peer<'_>,
    ) -> Result<Caller, Refusal> {
        let caller = |ty: &str, subject| Caller::new(&*self.name, ty, subject);
        if let Some(ip) = &self.ip
            && !ip.admits(peer.ip)
        {
            return Err(Refusal::forbidden("address not allowed"));
        }
        match &self.kind {
            Kind::IpList => Ok(caller("ip_list", Some(peer.ip.to_string()))),
            Kind::ClientCert(allowed) => match peer.cert {
                None => Err(Refusal::unauthorized("no client certificate")),
                Some(cert) if allowed.admits(cert) => Ok(caller(
                    "tls_client_cert",
                    Some(cert.subject.clone().unwrap_or_else(|| cert.sha256.clone())),
                )),
                Some(_) => Err(Refusal::forbidden("client certificate not allowed")),
            },
            Kind::Basic { username, .. } => {
                if self.check(headers) {
                    Ok(caller("basic_auth", Some(username.to_string())))
                } else {
                    Err(Refusal::unauthorized("wrong or missing credentials"))
                }
            }
            Kind::ApiKey { .. } => {
                if self.check(headers) {
                    Ok(caller("apikey", None))
                } else {
                    Err(Refusal::unauthorized("wrong or missing key"))
                }
            }
            Kind::Jwt(jwt) => match jwt.verify(headers).await {
                Ok(verified) => Ok(caller("jwt", verified.subject).with_claims(verified.claims)),
                Err(reason) => Err(Refusal::unauthorized(reason)),
            },
        }
    }

    /// The reply to a refused request: a 401 with the challenge, or a 403, carrying the cid;
    /// logged with the reason, the channel and the definition, and no credential.
    pub(super) fn refusal_reply(
        &self,
        refusal: Refusal,
        channel: &str,
        format: zato_core::sio::ReplyFormat,
        cid: Cid,
    ) -> super::handle::HttpResponse {
        tracing::info!(%cid, channel, security = %self.name, reason = refusal.reason, "request refused by its security definition");
        if refusal.forbidden {
            let err = ServiceError::Forbidden("access denied".into());
            return super::handle::error_reply(&err, format, cid);
        }
        let err = ServiceError::Unauthorized("authentication required".into());
        let mut resp = super::handle::error_reply(&err, format, cid);
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, self.challenge.clone());
        resp
    }

    /// Whether the request's headers satisfy the definition.
    pub(super) fn check(&self, headers: &HeaderMap) -> bool {
        match &self.kind {
            Kind::Basic { username, password } => headers
                .get(header::AUTHORIZATION)
                .is_some_and(|v| check_basic(v.as_bytes(), username, password.expose())),
            Kind::ApiKey { header, key } => headers
                .get(header)
                .is_some_and(|v| ct_eq(v.as_bytes(), key.expose().as_bytes())),
            // Checked by `verify`, which has the token's keys and the connection.
            Kind::Jwt(_) | Kind::IpList | Kind::ClientCert(_) => false,
        }
    }
}

/// `value`, or a problem at `path` when it is missing.
fn required<T>(
    value: Option<T>,
    problems: &mut Vec<ConfigProblem>,
    path: &str,
    message: impl Into<String>,
) -> Option<T> {
    if value.is_none() {
        problems.push(ConfigProblem::new(path, message));
    }
    value
}

fn check_basic(value: &[u8], username: &str, password: &str) -> bool {
    let Some(encoded) = strip_scheme(value, b"basic") else {
        return false;
    };
    let mut buf = [0u8; MAX_BASIC_CREDENTIALS];
    let Ok(len) = STANDARD.decode_slice(encoded, &mut buf) else {
        return false;
    };
    let decoded = &buf[..len];
    let Some(colon) = decoded.iter().position(|&b| b == b':') else {
        return false;
    };
    let (user, pass) = (&decoded[..colon], &decoded[colon + 1..]);
    // Both compared whatever the first gave, so the timing tells nothing about which failed.
    let ok = ct_eq_choice(user, username.as_bytes()) & ct_eq_choice(pass, password.as_bytes());
    ok.into()
}

/// The credentials after an auth scheme, matched case-insensitively: `Basic dXNlcjpwYXNz`.
fn strip_scheme<'v>(value: &'v [u8], scheme: &[u8]) -> Option<&'v [u8]> {
    let (head, rest) = value.split_at_checked(scheme.len())?;
    if !head.eq_ignore_ascii_case(scheme) || rest.first() != Some(&b' ') {
        return None;
    }
    Some(rest.trim_ascii())
}

/// Compares `given` with `expected` in time that depends only on `expected`'s length.
fn ct_eq_choice(given: &[u8], expected: &[u8]) -> Choice {
    let mut same = (given.len() as u64).ct_eq(&(expected.len() as u64));
    for (i, e) in expected.iter().enumerate() {
        let g = given.get(i).copied().unwrap_or(!*e);
        same &= g.ct_eq(e);
    }
    same
}

fn ct_eq(given: &[u8], expected: &[u8]) -> bool {
    ct_eq_choice(given, expected).into()
}

/// Headers carrying credentials whatever the channel's security.
const CREDENTIAL_HEADERS: [HeaderName; 3] = [
    header::AUTHORIZATION,
    header::PROXY_AUTHORIZATION,
    header::COOKIE,
];

/// Marks the values of the headers carrying credentials sensitive, so `Debug` shows `Sensitive`
/// instead of them: the usual ones, and `extra` (an API key's header). One pass over the
/// headers, which a request has few of, rather than a hashed lookup per name; allocates nothing.
pub(super) fn mark_sensitive(headers: &mut HeaderMap, extra: Option<&HeaderName>) {
    for (name, value) in headers.iter_mut() {
        if CREDENTIAL_HEADERS.contains(name) || extra == Some(name) {
            value.set_sensitive(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_pass: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = format!("Basic {}", STANDARD.encode(user_pass));
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(&v).unwrap());
        h
    }

    #[test]
    fn credentials_are_marked_sensitive_and_nothing_else() {
        let mut h = HeaderMap::new();
        h.append(header::AUTHORIZATION, HeaderValue::from_static("a"));
        h.append(header::AUTHORIZATION, HeaderValue::from_static("b"));
        h.insert(header::COOKIE, HeaderValue::from_static("c"));
        h.insert(header::HOST, HeaderValue::from_static("h"));
        let key = HeaderName::from_static("x-api-key");
        h.insert(key.clone(), HeaderValue::from_static("k"));
        mark_sensitive(&mut h, Some(&key));
        for (name, value) in &h {
            assert_eq!(value.is_sensitive(), *name != header::HOST, "{name}");
        }
        assert_eq!(h.get_all(header::AUTHORIZATION).iter().count(), 2);
    }

    #[test]
    fn basic_auth_accepts_only_the_pair() {
        let check = SecurityCheck::new(&SecurityDef::basic_auth("b", "crm", "p:w")).unwrap();
        assert!(check.check(&basic("crm:p:w")));
        assert!(!check.check(&basic("crm:p:x")));
        assert!(!check.check(&basic("crm:p:")));
        assert!(!check.check(&basic("crm:p:ww")));
        assert!(!check.check(&basic("crmx:p:w")));
        assert!(!check.check(&basic("crmp:w")));
        assert!(!check.check(&HeaderMap::new()));
        let mut bearer = HeaderMap::new();
        bearer.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert!(!check.check(&bearer));
        assert_eq!(check.challenge(), "Basic realm=\"zato\", charset=\"UTF-8\"");
    }

    #[test]
    fn lowercase_scheme_is_accepted() {
        let check = SecurityCheck::new(&SecurityDef::basic_auth("b", "u", "p")).unwrap();
        let mut h = HeaderMap::new();
        let v = format!("basic {}", STANDARD.encode("u:p"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(&v).unwrap());
        assert!(check.check(&h));
    }

    #[test]
    fn api_key_compares_the_configured_header() {
        let check = SecurityCheck::new(&SecurityDef::api_key("k", "X-Key", "abc")).unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-key", HeaderValue::from_static("abc"));
        assert!(check.check(&h));
        h.insert("x-key", HeaderValue::from_static("abcd"));
        assert!(!check.check(&h));
        h.insert("x-key", HeaderValue::from_static(""));
        assert!(!check.check(&h));
        assert_eq!(check.challenge(), "ApiKey header=\"X-Key\"");
    }

    #[test]
    fn a_definition_that_does_not_compile_says_every_reason() {
        let paths = |def: &SecurityDef| -> Vec<String> {
            SecurityCheck::new(def)
                .unwrap_err()
                .into_iter()
                .map(|p| p.path)
                .collect()
        };
        let basic = SecurityDef::BasicAuth {
            name: " ".into(),
            username: "a:b".into(),
            password: Secret::new(String::new()),
            realm: "a\"b".into(),
            ip_allow: vec![],
            ip_deny: vec![],
        };
        assert_eq!(paths(&basic), ["name", "username", "password", "realm"]);
        let key = SecurityDef::api_key("k", "X Key", "");
        assert_eq!(paths(&key), ["header", "key"]);
    }

    #[test]
    fn debug_shows_no_secret() {
        let check = SecurityCheck::new(&SecurityDef::basic_auth("b", "u", "hunter2")).unwrap();
        assert!(!format!("{check:?}").contains("hunter2"));
    }
}

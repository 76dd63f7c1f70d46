//! The `jwt` security type: HS256 tokens by a shared secret, RS256 tokens by the keys of a JWKS
//! served by wiremock (rotated to a new `kid`), every bad token refused with a 401 carrying
//! the cid and a log line quoting no token, and the claims read by the service.
//!
//! Its own test binary, since it installs the process's tracing subscriber. The RSA keys under
//! `fixtures/jwt` were made for these tests only.
#![cfg(feature = "http")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers outside #[test] functions; a test fails loudly on what it did not expect"
)]

mod support;

use std::io;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::{Reply, TestServer, platform};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use zato_channels::{HttpChannelConfig, SecurityDef};
use zato_core::{Context, Request, ServiceError};
use zato_macros::{SimpleIo, service};

const SECRET: &str = "a-shared-secret-of-32-bytes-long";
const RSA1: &str = include_str!("fixtures/jwt/rsa1.pem");
const RSA2: &str = include_str!("fixtures/jwt/rsa2.pem");
const PUB1: &str = include_str!("fixtures/jwt/pub1.pem");
const N1: &str = include_str!("fixtures/jwt/n1.txt");
const N2: &str = include_str!("fixtures/jwt/n2.txt");

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Whoami {
    subject: String,
    scope: String,
    security: String,
}

/// Answers with what the caller's token said of it.
#[service(name = "demo.whoami", crate = "zato_core")]
async fn whoami(_req: Request<()>, ctx: &Context) -> Result<Whoami, ServiceError> {
    let caller = ctx
        .caller()
        .ok_or_else(|| ServiceError::internal("no caller"))?;
    Ok(Whoami {
        subject: caller.subject.clone().unwrap_or_default(),
        scope: caller.claims["scope"].as_str().unwrap_or("").to_owned(),
        security: caller.security.clone(),
    })
}

/// Everything logged by this test binary.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&buf);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || Sink(Arc::clone(&writer)))
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        buf
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn logged() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap()).into_owned()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(aud: &str, exp: u64) -> Value {
    json!({"sub": "crm", "iss": "https://idp.test/", "aud": aud, "exp": exp, "scope": "invoices"})
}

fn hs256(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn rs256(claims: &Value, pem: &str, kid: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn jwks(keys: &[(&str, &str)]) -> Value {
    let keys: Vec<Value> = keys
        .iter()
        .map(|(kid, n)| json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": n.trim(), "e": "AQAB"}))
        .collect();
    json!({ "keys": keys })
}

async fn call(s: &TestServer, path: &str, token: &str) -> Reply {
    let resp = s
        .client
        .get(s.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    Reply::from(resp).await
}

/// A 401 with the cid and a Bearer challenge; the token is in no log line.
fn assert_refused(reply: &Reply, token: &str, what: &str) {
    assert_eq!(reply.status, 401, "{what}: {reply:?}");
    let cid = reply.cid().to_owned();
    assert_eq!(reply.json()["cid"], cid.as_str(), "{what}");
    assert!(
        reply.header("www-authenticate").starts_with("Bearer"),
        "{what}"
    );
    let logs = logged();
    let line = logs
        .lines()
        .find(|l| l.contains(&cid) && l.contains("refused"))
        .unwrap_or_else(|| panic!("{what}: no log line for {cid}"));
    let leaked: Vec<&str> = logs.lines().filter(|l| l.contains(token)).collect();
    assert!(
        leaked.is_empty(),
        "{what}: the token was logged: {leaked:?}"
    );
    // The signature part alone neither.
    let signature = token.rsplit('.').next().unwrap();
    assert!(signature.is_empty() || !line.contains(signature), "{what}");
}

async fn server(security: Vec<SecurityDef>) -> TestServer {
    logs();
    let platform = platform();
    platform.services().deploy(whoami).unwrap();
    let channels = security
        .iter()
        .map(|def| {
            let name = def.name().to_owned();
            HttpChannelConfig::new(name.clone(), format!("/{name}"), "demo.whoami")
                .with_security(name)
        })
        .collect();
    TestServer::start(platform, channels, security).await
}

fn jwt_def(
    name: &str,
    algorithm: &str,
    secret: Option<&str>,
    jwks_url: Option<String>,
) -> SecurityDef {
    serde_json::from_value(json!({
        "type": "jwt",
        "name": name,
        "algorithm": algorithm,
        "secret": secret,
        "jwks_url": jwks_url,
        "issuer": "https://idp.test/",
        "audience": "invoices",
        "leeway": 5,
    }))
    .unwrap()
}

#[tokio::test]
async fn hs256_tokens_are_checked_and_their_claims_reach_the_service() {
    let s = server(vec![jwt_def("hs", "HS256", Some(SECRET), None)]).await;
    let good = hs256(&claims("invoices", now() + 300), SECRET);
    let reply = call(&s, "/hs", &good).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.json(),
        json!({"subject": "crm", "scope": "invoices", "security": "hs"})
    );

    let expired = hs256(&claims("invoices", now() - 60), SECRET);
    assert_refused(&call(&s, "/hs", &expired).await, &expired, "expired");
    // Within the leeway (5 s) an expiry just past is still taken.
    let just = hs256(&claims("invoices", now() - 1), SECRET);
    assert_eq!(call(&s, "/hs", &just).await.status, 200);
    let audience = hs256(&claims("payroll", now() + 300), SECRET);
    assert_refused(
        &call(&s, "/hs", &audience).await,
        &audience,
        "wrong audience",
    );
    let forged = hs256(
        &claims("invoices", now() + 300),
        "not-the-secret-at-all-no-no-no",
    );
    assert_refused(&call(&s, "/hs", &forged).await, &forged, "wrong signature");
    let mut issuer = claims("invoices", now() + 300);
    issuer["iss"] = json!("https://evil.test/");
    let issuer = hs256(&issuer, SECRET);
    assert_refused(&call(&s, "/hs", &issuer).await, &issuer, "wrong issuer");
    let mut early = claims("invoices", now() + 300);
    early["nbf"] = json!(now() + 120);
    let early = hs256(&early, SECRET);
    assert_refused(&call(&s, "/hs", &early).await, &early, "not yet valid");

    // `alg: none`, with the claims unsigned.
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims("invoices", now() + 300).to_string());
    let unsigned = format!("{none_header}.{body}.");
    assert_refused(&call(&s, "/hs", &unsigned).await, &unsigned, "alg none");
    // HS512 with the right secret: not the configured algorithm.
    let other_alg = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &claims("invoices", now() + 300),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    assert_refused(
        &call(&s, "/hs", &other_alg).await,
        &other_alg,
        "other algorithm",
    );
    // No token at all.
    let bare = Reply::from(s.client.get(s.url("/hs")).send().await.unwrap()).await;
    assert_eq!(bare.status, 401);
    bare.cid();
    s.stop().await;
}

#[tokio::test]
async fn rs256_keys_come_from_a_jwks_and_a_new_kid_is_fetched() {
    let idp = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/jwks.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks(&[("k1", N1)])))
        .up_to_n_times(1)
        .mount(&idp)
        .await;
    let url = format!("{}/jwks.json", idp.uri());
    let s = server(vec![jwt_def("rs", "RS256", None, Some(url))]).await;

    let first = rs256(&claims("invoices", now() + 300), RSA1, "k1");
    let reply = call(&s, "/rs", &first).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["subject"], "crm");
    // Cached: more calls, no more fetches.
    for _ in 0..3 {
        assert_eq!(call(&s, "/rs", &first).await.status, 200);
    }
    assert_eq!(idp.received_requests().await.unwrap().len(), 1);

    // An RS/HS confusion: HS256 signed with the RSA public key as the secret.
    let confused = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("invoices", now() + 300),
        &EncodingKey::from_secret(PUB1.as_bytes()),
    )
    .unwrap();
    assert_refused(
        &call(&s, "/rs", &confused).await,
        &confused,
        "RS/HS confusion",
    );
    // Signed by a key the JWKS does not hold, under a kid it holds.
    let wrong_key = rs256(&claims("invoices", now() + 300), RSA2, "k1");
    assert_refused(&call(&s, "/rs", &wrong_key).await, &wrong_key, "wrong key");

    // The identity provider rotates to k2, publishing both.
    Mock::given(method("GET"))
        .and(path("/jwks.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks(&[("k1", N1), ("k2", N2)])))
        .mount(&idp)
        .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let rotated = rs256(&claims("invoices", now() + 300), RSA2, "k2");
    let reply = call(&s, "/rs", &rotated).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(idp.received_requests().await.unwrap().len(), 2);
    // Both keys work now; a burst of made-up kids fetches at most once more.
    assert_eq!(call(&s, "/rs", &first).await.status, 200);
    for i in 0..20 {
        let made_up = rs256(&claims("invoices", now() + 300), RSA2, &format!("x{i}"));
        assert_eq!(call(&s, "/rs", &made_up).await.status, 401);
    }
    let fetches = idp.received_requests().await.unwrap().len();
    assert!(fetches <= 3, "{fetches} fetches for 20 unknown kids");
    s.stop().await;
}

#[tokio::test]
async fn a_definition_missing_its_key_material_is_refused() {
    let platform = platform();
    let server = zato_channels::HttpServer::bind("127.0.0.1:0", platform)
        .await
        .unwrap();
    let err = server
        .set_security(jwt_def("bad", "RS256", None, None))
        .unwrap_err();
    assert!(err.to_string().contains("jwks_url"), "{err}");
    let err = server
        .set_security(jwt_def("bad", "none", Some(SECRET), None))
        .unwrap_err();
    assert!(err.to_string().contains("algorithm"), "{err}");
    // The secret never shows in a definition's Debug.
    let def = jwt_def("ok", "HS256", Some(SECRET), None);
    assert!(!format!("{def:?}").contains(SECRET));
    server.shutdown().await;
}

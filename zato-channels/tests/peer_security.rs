//! Security by the caller: an address list (alone, and beside Basic Auth), and a TLS client
//! certificate (the right one let in, a wrong one or none refused).
#![cfg(feature = "http")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers outside #[test] functions; a test fails loudly on what it did not expect"
)]

mod support;

use std::path::PathBuf;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use serde_json::json;
use support::*;
use zato_channels::{HttpChannelConfig, HttpConfig, HttpServer, SecurityDef, TlsFiles};

fn def(value: serde_json::Value) -> SecurityDef {
    serde_json::from_value(value).unwrap()
}

#[tokio::test]
async fn an_address_list_alone_or_beside_basic_auth() {
    let counter = Counter::default();
    let platform = platform();
    platform.services().deploy(counter.clone()).unwrap();
    let channels = vec![
        HttpChannelConfig::new("local", "/local", "demo.counter").with_security("local"),
        HttpChannelConfig::new("elsewhere", "/elsewhere", "demo.counter")
            .with_security("elsewhere"),
        HttpChannelConfig::new("both", "/both", "demo.counter").with_security("both"),
    ];
    let security = vec![
        def(json!({"type": "ip_list", "name": "local", "ip_allow": ["127.0.0.0/8"]})),
        def(json!({"type": "ip_list", "name": "elsewhere", "ip_allow": ["10.0.0.0/8"]})),
        def(
            json!({"type": "basic_auth", "name": "both", "username": "crm", "password": "pw",
                   "ip_deny": ["127.0.0.1"]}),
        ),
    ];
    let s = TestServer::start(platform, channels, security).await;
    assert_eq!(s.get("/local").await.status, 200);
    let refused = s.get("/elsewhere").await;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(refused.json()["cid"], refused.cid());
    // Denied by address even with the right password.
    let resp = s
        .client
        .get(s.url("/both"))
        .basic_auth("crm", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(counter.calls(), 1);

    // A bad range is named.
    let err = s
        .server
        .set_security(def(
            json!({"type": "ip_list", "name": "x", "ip_allow": ["10.0.0.0/40"]}),
        ))
        .unwrap_err();
    assert!(err.to_string().contains("ip_allow[0]"), "{err}");
    s.stop().await;
}

struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// A certificate signed by `ca` for `cn` (also named `localhost`), its key and its DER.
fn leaf(ca: &Ca, cn: &str) -> (String, String, Vec<u8>) {
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Example");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem(), cert.der().to_vec())
}

fn sha256_hex(der: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("zato-mtls-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn client(server_ca: &Ca, identity: Option<(&str, &str)>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(server_ca.pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(10));
    if let Some((cert, key)) = identity {
        let pem = format!("{cert}{key}");
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn a_client_certificate_is_let_in_by_subject_or_fingerprint_and_others_are_refused() {
    let dir = TempDir::new();
    let server_ca = ca("server ca");
    let client_ca = ca("client ca");
    let stranger_ca = ca("stranger ca");
    let (server_cert, server_key, _) = leaf(&server_ca, "localhost");
    let (crm_cert, crm_key, _) = leaf(&client_ca, "crm");
    let (billing_cert, billing_key, billing_der) = leaf(&client_ca, "billing");
    let (hr_cert, hr_key, _) = leaf(&client_ca, "hr");
    let (stray_cert, stray_key, _) = leaf(&stranger_ca, "crm");
    let files = TlsFiles::new(
        dir.write("server.pem", &server_cert),
        dir.write("server.key", &server_key),
    )
    .with_client_ca(dir.write("client-ca.pem", &client_ca.pem));

    let platform = platform();
    let server = HttpServer::bind("127.0.0.1:0", platform).await.unwrap();
    server.set_tls(Some(files)).unwrap();
    let security = vec![def(json!({
        "type": "tls_client_cert",
        "name": "partners",
        "subjects": ["CN=crm,O=Example"],
        "fingerprints": [sha256_hex(&billing_der)],
    }))];
    let channels = vec![
        HttpChannelConfig::new("lookup", "/lookup/{id}", "demo.lookup").with_security("partners"),
    ];
    server
        .apply_config(HttpConfig::new(channels, security))
        .unwrap();
    server.start().await.unwrap();
    let url = format!("https://localhost:{}/lookup/7", server.local_addr().port());

    for (who, cert, key) in [
        ("crm", &crm_cert, &crm_key),
        ("billing", &billing_cert, &billing_key),
    ] {
        let resp = client(&server_ca, Some((cert, key))).get(&url).send().await;
        let reply = Reply::from(resp.unwrap()).await;
        assert_eq!(reply.status, 200, "{who}: {reply:?}");
        assert_eq!(reply.json()["id"], "7");
    }
    // Signed by the right CA, but not listed: 403.
    let hr = Reply::from(
        client(&server_ca, Some((&hr_cert, &hr_key)))
            .get(&url)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(hr.status, 403, "{hr:?}");
    assert_eq!(hr.json()["cid"], hr.cid());
    // None at all: 401.
    let none = Reply::from(client(&server_ca, None).get(&url).send().await.unwrap()).await;
    assert_eq!(none.status, 401, "{none:?}");
    none.cid();
    // Signed by a CA the listener does not trust: refused in the handshake.
    let stray = client(&server_ca, Some((&stray_cert, &stray_key)))
        .get(&url)
        .send()
        .await;
    assert!(
        stray.is_err() || stray.unwrap().status() != 200,
        "a certificate of an unknown CA was let in"
    );
    server.platform().clone().shutdown().await;
}

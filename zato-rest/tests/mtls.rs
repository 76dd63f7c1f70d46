//! Mutual TLS against a local TLS server that requires a client certificate, with certificates
//! made in the test: the right certificate is let in, a wrong one is refused.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;
use support::Node;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use zato_core::config::Section;
use zato_rest::RestErrorKind;

struct Ca {
    cert: rcgen::Certificate,
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
        cert,
        issuer: Issuer::new(params, key),
    }
}

/// A certificate for `names` signed by `ca`, and its key.
fn leaf(ca: &Ca, names: &[&str]) -> (rcgen::Certificate, KeyPair) {
    let params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    let key = KeyPair::generate().unwrap();
    (params.signed_by(&key, &ca.issuer).unwrap(), key)
}

/// A directory of the test's own, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("zato-rest-mtls-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A TLS server on 127.0.0.1 requiring a client certificate signed by `client_ca`, answering
/// every request `200 ok`.
async fn server(server_ca: &Ca, client_ca: &Ca) -> (u16, tokio::task::JoinHandle<()>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(client_ca.cert.der().clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let (cert, key) = leaf(server_ca, &["localhost"]);
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_right_client_certificate_is_let_in_and_a_wrong_one_refused() {
    let dir = TempDir::new();
    let server_ca = ca("server CA");
    let client_ca = ca("client CA");
    let stranger_ca = ca("stranger CA");
    let (port, task) = server(&server_ca, &client_ca).await;
    let ca_file = dir.write("ca.pem", &server_ca.cert.pem());
    let (good, good_key) = leaf(&client_ca, &["zato-client"]);
    let good_file = dir.write(
        "good.pem",
        &format!("{}{}", good.pem(), good_key.serialize_pem()),
    );
    let (bad, bad_key) = leaf(&stranger_ca, &["zato-client"]);
    let bad_file = dir.write(
        "bad.pem",
        &format!("{}{}", bad.pem(), bad_key.serialize_pem()),
    );

    let node = Node::new().await;
    node.security(
        json!({"type": "tls_client_cert", "name": "partner-mtls", "cert_file": good_file}),
    )
    .await;
    let conn = node
        .http(
            json!({"name": "Partner", "address": format!("https://localhost:{port}"),
                     "tls_ca_file": ca_file, "security": "partner-mtls", "retries": 0}),
        )
        .await;
    let reply = conn.get("/x").await.unwrap();
    assert_eq!(
        (reply.status().as_u16(), reply.text().as_str()),
        (200, "ok")
    );

    // The definition now holds a certificate the server does not trust: refused, as a 502.
    node.patch(
        Section::Security,
        "",
        "partner-mtls",
        json!({"cert_file": bad_file}),
    )
    .await
    .unwrap();
    let err = conn.get("/x").await.unwrap_err();
    assert!(matches!(err.kind(), RestErrorKind::Connect(_)), "{err}");
    assert_eq!(err.status(), 502);

    // Without any certificate: refused too.
    node.patch(
        Section::Outgoing,
        "http",
        "Partner",
        json!({"security": null}),
    )
    .await
    .unwrap();
    assert!(conn.get("/x").await.is_err());

    // A file that is not a certificate is applied, as a wrong password is, and each call
    // presenting it fails saying why: a 502 naming the connection and the field.
    let junk = dir.write("junk.pem", "not a certificate");
    node.patch(
        Section::Outgoing,
        "http",
        "Partner",
        json!({"security": "partner-mtls"}),
    )
    .await
    .unwrap();
    node.patch(
        Section::Security,
        "",
        "partner-mtls",
        json!({"cert_file": junk}),
    )
    .await
    .unwrap();
    let err = conn.get("/x").await.unwrap_err();
    assert!(
        matches!(err.kind(), RestErrorKind::Security { .. }),
        "{err}"
    );
    assert_eq!(err.status(), 502);
    let text = err.to_string();
    assert!(
        text.contains("`Partner`") && text.contains("cert_file"),
        "{text}"
    );
    node.shutdown().await;
    task.abort();
}

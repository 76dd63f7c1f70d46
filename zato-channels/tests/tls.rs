//! TLS on the HTTP listener: a channel served to reqwest over TLS, a certificate rotated on disk
//! while 1,000 requests flow with none failing, a half-written certificate that leaves the old
//! one in use, and a config edit that rotates it.
#![cfg(feature = "http")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers outside #[test] functions; a test fails loudly on what it did not expect"
)]

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{CertificateParams, KeyPair};
use support::*;
use zato_channels::{HttpChannelConfig, HttpConfig, HttpServer, TlsFiles};

/// A self-signed certificate for `localhost` and its key, both PEM.
fn self_signed(cn: &str) -> (String, String) {
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// A directory of the test's own, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "zato-http-tls-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `text` to `name` as a deployment tool would: a new file renamed over the old.
    fn replace(&self, name: &str, text: &str) {
        let tmp = self.path(&format!("{name}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.path(name)).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn client(roots: &[&str], pooled: bool) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .timeout(Duration::from_secs(20));
    for pem in roots {
        builder =
            builder.add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap());
    }
    if !pooled {
        builder = builder.pool_max_idle_per_host(0);
    }
    builder.build().unwrap()
}

async fn tls_server(dir: &TempDir) -> HttpServer {
    let platform = platform();
    let channels = vec![HttpChannelConfig::new(
        "dispatch",
        "/invoice.dispatcher",
        "invoice.dispatcher",
    )];
    let server = HttpServer::bind("127.0.0.1:0", platform).await.unwrap();
    server.set_tls_reload_interval(Duration::from_millis(20));
    server
        .set_tls(Some(TlsFiles::new(
            dir.path("cert.pem"),
            dir.path("key.pem"),
        )))
        .unwrap();
    server
        .apply_config(HttpConfig::new(channels, vec![]))
        .unwrap();
    server.start().await.unwrap();
    server
}

/// The certificate the listener presents to a new connection, as DER.
async fn presented(server: &HttpServer) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    // Verification is reqwest's business in the other tests; here only the certificate shown
    // matters, so any is taken.
    #[derive(Debug)]
    struct AnyCert(Arc<rustls::crypto::CryptoProvider>);
    impl rustls::client::danger::ServerCertVerifier for AnyCert {
        fn verify_server_cert(
            &self,
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &[rustls::pki_types::CertificateDer<'_>],
            _: &rustls::pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            m: &[u8],
            c: &rustls::pki_types::CertificateDer<'_>,
            d: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            m: &[u8],
            c: &rustls::pki_types::CertificateDer<'_>,
            d: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
    roots.roots.clear();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

fn der_of(pem: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

/// Waits until the listener presents `pem`, at most 10 s.
async fn until_presented(server: &HttpServer, pem: &str) {
    let want = der_of(pem);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while presented(server).await != want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new certificate was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_channel_is_served_over_tls_and_plain_http_is_refused() {
    let dir = TempDir::new("serve");
    let (cert, key) = self_signed("zato one");
    dir.replace("cert.pem", &cert);
    dir.replace("key.pem", &key);
    let server = tls_server(&dir).await;
    assert!(server.is_tls());
    let port = server.local_addr().port();

    let url = format!("https://localhost:{port}/invoice.dispatcher?target=CRM&target=Billing");
    let resp = client(&[&cert], true)
        .post(&url)
        .body(r#"{"id":"123"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-zato-cid"));
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["stored"], serde_json::json!(["CRM", "Billing"]));

    // A client that does not trust the certificate gets no answer.
    let (other, _) = self_signed("someone else");
    assert!(client(&[&other], true).get(&url).send().await.is_err());
    // Nor does one speaking plain HTTP to the TLS port.
    let plain = format!("http://127.0.0.1:{port}/invoice.dispatcher?target=CRM");
    let refused = reqwest::Client::new().get(&plain).send().await;
    assert!(refused.is_err() || !refused.unwrap().status().is_success());
    server.platform().clone().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_rotated_on_disk_while_1000_requests_flow_fails_none() {
    let dir = TempDir::new("rotate");
    let (old_cert, old_key) = self_signed("zato old");
    let (new_cert, new_key) = self_signed("zato new");
    dir.replace("cert.pem", &old_cert);
    dir.replace("key.pem", &old_key);
    let server = tls_server(&dir).await;
    let port = server.local_addr().port();
    let url = format!("https://localhost:{port}/invoice.dispatcher?target=CRM");

    // 10 callers of 100 requests each; half open a new connection (a new handshake) for every
    // request, half keep theirs open across the rotation.
    let (go_tx, go) = tokio::sync::watch::channel(0usize);
    let mut callers = Vec::new();
    for i in 0..10 {
        let client = client(&[&old_cert, &new_cert], i % 2 == 0);
        let url = url.clone();
        let progress = go_tx.clone();
        callers.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            for n in 0..100 {
                match client.post(&url).body(r#"{"id":"1"}"#).send().await {
                    Ok(resp) if resp.status() == 200 => {}
                    Ok(resp) => failures.push(format!("{n}: status {}", resp.status())),
                    Err(e) => failures.push(format!("{n}: {e}")),
                }
                progress.send_modify(|done| *done += 1);
            }
            failures
        }));
    }
    drop(go_tx);
    // Rotated once a fifth of the requests have been answered, the others still to come.
    let mut go = go;
    go.wait_for(|done| *done >= 200).await.unwrap();
    dir.replace("key.pem", &new_key);
    dir.replace("cert.pem", &new_cert);

    let mut failures = Vec::new();
    for caller in callers {
        failures.extend(caller.await.unwrap());
    }
    assert!(failures.is_empty(), "failed requests: {failures:?}");
    // And the new certificate is the one presented now.
    until_presented(&server, &new_cert).await;
    server.platform().clone().shutdown().await;
}

#[tokio::test]
async fn a_half_written_certificate_leaves_the_old_one_in_use() {
    let dir = TempDir::new("half");
    let (old_cert, old_key) = self_signed("zato old");
    let (new_cert, new_key) = self_signed("zato new");
    dir.replace("cert.pem", &old_cert);
    dir.replace("key.pem", &old_key);
    let server = tls_server(&dir).await;
    // The new certificate with the old key: a pair that does not match.
    dir.replace("cert.pem", &new_cert);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(presented(&server).await, der_of(&old_cert));
    // The key follows: now the pair loads.
    dir.replace("key.pem", &new_key);
    until_presented(&server, &new_cert).await;
    // Files that cannot be read are refused when set, and change nothing.
    let err = server
        .set_tls(Some(TlsFiles::new(
            dir.path("missing.pem"),
            dir.path("key.pem"),
        )))
        .unwrap_err();
    assert!(err.to_string().contains("missing.pem"), "{err}");
    assert!(!err.to_string().contains("PRIVATE KEY"));
    assert_eq!(presented(&server).await, der_of(&new_cert));
    server.platform().clone().shutdown().await;
}

#[tokio::test]
async fn a_config_edit_rotates_the_certificate_and_removing_it_goes_back() {
    use zato_channels::{HttpTlsConfig, HttpTlsKind};
    use zato_core::kind::Kind as _;

    let dir = TempDir::new("config");
    let (base_cert, base_key) = self_signed("zato base");
    let (edit_cert, edit_key) = self_signed("zato edited");
    dir.replace("cert.pem", &base_cert);
    dir.replace("key.pem", &base_key);
    dir.replace("edit.pem", &edit_cert);
    dir.replace("edit.key", &edit_key);
    let server = tls_server(&dir).await;
    let kind = HttpTlsKind::new(server.clone());
    let config = |cert: &str| -> Arc<HttpTlsConfig> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "name": "listener",
                "cert_file": dir.path(cert),
                "key_file": dir.path("edit.key"),
            }))
            .unwrap(),
        )
    };
    kind.apply(config("edit.pem")).await.unwrap();
    assert_eq!(presented(&server).await, der_of(&edit_cert));
    // An edit naming a file that is not there is refused, and changes nothing.
    let err = kind.apply(config("nowhere.pem")).await.unwrap_err();
    assert!(err.to_string().contains("nowhere.pem"), "{err}");
    assert_eq!(presented(&server).await, der_of(&edit_cert));
    // Removed from the document: back to the node's own.
    kind.remove("listener").await.unwrap();
    assert_eq!(presented(&server).await, der_of(&base_cert));
    server.platform().clone().shutdown().await;
}

/// With the `http2` feature, ALPN offers HTTP/2, and a client that speaks it gets it.
#[cfg(feature = "http2")]
#[tokio::test]
async fn alpn_offers_http2() {
    let dir = TempDir::new("alpn");
    let (cert, key) = self_signed("zato h2");
    dir.replace("cert.pem", &cert);
    dir.replace("key.pem", &key);
    let server = tls_server(&dir).await;
    let url = format!(
        "https://localhost:{}/invoice.dispatcher?target=CRM",
        server.local_addr().port()
    );
    let resp = client(&[&cert], true).get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let h1 = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert.as_bytes()).unwrap())
        .http1_only()
        .build()
        .unwrap();
    let resp = h1.get(&url).send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    server.platform().clone().shutdown().await;
}

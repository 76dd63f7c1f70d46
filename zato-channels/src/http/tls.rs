//! TLS on the HTTP listener (rustls): the certificate and key read from PEM files, kept in an
//! [`ArcSwap`] that each new connection loads once, and reloaded when the files change.
//!
//! Rotation never drops a connection: a connection keeps the configuration it was accepted
//! under for its whole life, and only connections accepted after the swap present the new
//! certificate. The files are watched by polling their modification time and size, which sees
//! an edit in place, a rename over the file and a symbolic link switched to another file (how
//! Kubernetes and cert-manager publish a renewed certificate) alike. A pair that does not load
//! (a key written before its certificate, a file half-written) leaves the one in use in place,
//! and is tried again at the next poll.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use tokio_rustls::TlsAcceptor;

/// How often the certificate files are looked at for a change, unless
/// [`HttpServer::set_tls_reload_interval`](crate::HttpServer::set_tls_reload_interval) says
/// otherwise.
pub const DEFAULT_TLS_RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// The environment variable naming the listener's certificate chain (PEM) for a node.
pub const HTTP_TLS_CERT_ENV: &str = "ZATO_HTTP_TLS_CERT";
/// The environment variable naming the listener's private key (PEM) for a node.
pub const HTTP_TLS_KEY_ENV: &str = "ZATO_HTTP_TLS_KEY";

/// The largest certificate or key file read, so a wrong path (a log, a device) cannot exhaust
/// memory.
const MAX_PEM_FILE: u64 = 1024 * 1024;

/// Where a TLS listener's certificate and key are: PEM files, the certificate file holding the
/// chain from the server's certificate up, the key file its private key (PKCS#8, PKCS#1 or
/// SEC1). With `client_ca_file`, the listener asks callers for a client certificate signed by
/// one of the CAs in it; a caller sending none is still served, and the channels' security
/// definitions (`tls_client_cert`) decide.
///
/// # Examples
///
/// ```
/// use zato_channels::TlsFiles;
///
/// let files = TlsFiles::new("/etc/zato/server.crt", "/etc/zato/server.key");
/// assert!(files.client_ca_file.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TlsFiles {
    /// The certificate chain, PEM.
    pub cert_file: PathBuf,
    /// The private key, PEM.
    pub key_file: PathBuf,
    /// The CAs whose client certificates are asked for, PEM; `None` asks for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca_file: Option<PathBuf>,
}

impl TlsFiles {
    /// The certificate chain in `cert_file` and its key in `key_file`.
    pub fn new(cert_file: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> TlsFiles {
        TlsFiles {
            cert_file: cert_file.into(),
            key_file: key_file.into(),
            client_ca_file: None,
        }
    }

    /// The same files, asking callers for a client certificate signed by a CA in `ca_file`.
    pub fn with_client_ca(mut self, ca_file: impl Into<PathBuf>) -> TlsFiles {
        self.client_ca_file = Some(ca_file.into());
        self
    }

    fn paths(&self) -> impl Iterator<Item = &Path> {
        [self.cert_file.as_path(), self.key_file.as_path()]
            .into_iter()
            .chain(self.client_ca_file.as_deref())
    }

    /// What the files look like now, to tell a change: each one's modification time and size.
    fn stamp(&self) -> Vec<Option<(SystemTime, u64)>> {
        self.paths()
            .map(|p| {
                let meta = std::fs::metadata(p).ok()?;
                Some((meta.modified().ok()?, meta.len()))
            })
            .collect()
    }
}

/// Why a certificate and key could not be loaded. Names the file, never its content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file holds no PEM block of the kind expected, or a malformed one.
    #[error("`{path}` holds no {what} in PEM")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was looked for: "certificate", "private key".
        what: &'static str,
    },
    /// rustls refused the pair: the key does not match the certificate, or is of a kind it
    /// does not take.
    #[error("the certificate and key cannot be used: {0}")]
    Rejected(String),
}

/// Reads `path`, at most [`MAX_PEM_FILE`] bytes.
fn read_pem(path: &Path) -> Result<Vec<u8>, TlsError> {
    let read_err = |source| TlsError::Read {
        path: path.to_owned(),
        source,
    };
    let len = std::fs::metadata(path).map_err(read_err)?.len();
    if len > MAX_PEM_FILE {
        return Err(read_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "larger than 1 MiB, not a PEM file",
        )));
    }
    std::fs::read(path).map_err(read_err)
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_pem(path)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::Pem {
            path: path.to_owned(),
            what: "certificate",
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: path.to_owned(),
            what: "certificate",
        });
    }
    Ok(certs)
}

/// Builds the rustls configuration of `files`: the protocol versions rustls deems safe, ALPN
/// offering HTTP/2 when the `http2` feature is on, and HTTP/1.1.
///
/// # Errors
///
/// A [`TlsError`] naming the file that could not be read or parsed, or saying the pair was
/// refused.
pub(super) fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = certificates(&files.cert_file)?;
    let key_pem = read_pem(&files.key_file)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::Pem {
        path: files.key_file.clone(),
        what: "private key",
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rejected(e.to_string()))?;
    let builder = match &files.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(ca_file) => {
            let mut roots = rustls::RootCertStore::empty();
            for ca in certificates(ca_file)? {
                roots
                    .add(ca)
                    .map_err(|e| TlsError::Rejected(format!("`{}`: {e}", ca_file.display())))?;
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| TlsError::Rejected(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Rejected(e.to_string()))?;
    config.alpn_protocols = alpn();
    Ok(Arc::new(config))
}

#[cfg(feature = "http2")]
fn alpn() -> Vec<Vec<u8>> {
    vec![b"h2".to_vec(), b"http/1.1".to_vec()]
}

#[cfg(not(feature = "http2"))]
fn alpn() -> Vec<Vec<u8>> {
    vec![b"http/1.1".to_vec()]
}

/// The listener's TLS, as connections load it: the acceptor of the files in use.
pub(super) struct TlsState {
    pub(super) files: TlsFiles,
    pub(super) acceptor: TlsAcceptor,
    stamp: Vec<Option<(SystemTime, u64)>>,
}

impl fmt::Debug for TlsState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsState")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl TlsState {
    /// Loads `files`.
    pub(super) fn load(files: TlsFiles) -> Result<TlsState, TlsError> {
        // Stamped before reading: a change made while reading is seen at the next poll.
        let stamp = files.stamp();
        let config = server_config(&files)?;
        Ok(TlsState {
            files,
            acceptor: TlsAcceptor::from(config),
            stamp,
        })
    }
}

/// The listener's TLS slot: what the node set (from the environment), what the config document
/// set, and the one in effect (the document's, else the node's), which connections load.
#[derive(Default)]
pub(super) struct TlsSlot {
    pub(super) current: ArcSwapOption<TlsState>,
    pub(super) base: std::sync::Mutex<Option<TlsFiles>>,
    pub(super) configured: std::sync::Mutex<Option<TlsFiles>>,
    /// How often the files are polled, in milliseconds.
    pub(super) reload_ms: std::sync::atomic::AtomicU64,
}

impl TlsSlot {
    pub(super) fn new() -> TlsSlot {
        let slot = TlsSlot::default();
        slot.reload_ms.store(
            u64::try_from(DEFAULT_TLS_RELOAD_INTERVAL.as_millis()).unwrap_or(5000),
            std::sync::atomic::Ordering::Relaxed,
        );
        slot
    }

    /// The files in effect: the document's, else the node's.
    pub(super) fn wanted(&self) -> Option<TlsFiles> {
        let configured = self
            .configured
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        configured.or_else(|| {
            self.base
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        })
    }

    /// Loads `wanted` and puts it in effect; on failure what is in effect stays.
    pub(super) fn install(&self, wanted: Option<TlsFiles>) -> Result<(), TlsError> {
        match wanted {
            None => self.current.store(None),
            Some(files) => self.current.store(Some(Arc::new(TlsState::load(files)?))),
        }
        Ok(())
    }

    /// One poll: reloads the files in effect when they changed since they were loaded.
    fn poll(&self, last_failed: &mut Option<Vec<Option<(SystemTime, u64)>>>) {
        let Some(state) = self.current.load_full() else {
            return;
        };
        let stamp = state.files.stamp();
        if stamp == state.stamp {
            return;
        }
        match TlsState::load(state.files.clone()) {
            Ok(next) => {
                // Only if nobody put other files in effect meanwhile.
                let prev = self.current.compare_and_swap(&state, Some(Arc::new(next)));
                if prev.as_ref().is_some_and(|p| Arc::ptr_eq(p, &state)) {
                    tracing::info!(cert = %state.files.cert_file.display(), "http listener certificate reloaded");
                }
                *last_failed = None;
            }
            Err(e) => {
                // Said once per state of the files, not at every poll.
                if last_failed.as_ref() != Some(&stamp) {
                    tracing::warn!(error = %e, "http listener certificate changed but cannot be loaded; the previous one stays in use");
                    *last_failed = Some(stamp);
                }
            }
        }
    }

    fn reload_interval(&self) -> Duration {
        Duration::from_millis(
            self.reload_ms
                .load(std::sync::atomic::Ordering::Relaxed)
                .max(10),
        )
    }
}

/// Polls the files in effect until the slot's owner is gone.
pub(super) async fn watch_files<O: Send + Sync + 'static>(
    owner: Weak<O>,
    slot: impl Fn(&O) -> &TlsSlot + Send + 'static,
) {
    let mut last_failed = None;
    loop {
        let interval = match owner.upgrade() {
            Some(o) => slot(&o).reload_interval(),
            None => return,
        };
        tokio::time::sleep(interval).await;
        let Some(o) = owner.upgrade() else { return };
        let slot = slot(&o);
        // Reading files blocks; they are small, and a poll happens seconds apart.
        slot.poll(&mut last_failed);
    }
}

impl crate::HttpServer {
    /// Serves TLS with the certificate and key in `files` from the next connection on, or plain
    /// HTTP again with `None`. Connections already open keep what they were accepted with. The
    /// files are watched: a new certificate written there is put in use within the
    /// [reload interval](Self::set_tls_reload_interval), with no restart and no connection
    /// dropped. A `tls` object of the config document (`channels.http_tls`) takes precedence
    /// over what is set here while it exists.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use zato_channels::{HttpServer, TlsFiles};
    /// use zato_core::Platform;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let server = HttpServer::bind("127.0.0.1:0", Platform::new()).await?;
    /// server.set_tls(Some(TlsFiles::new("server.crt", "server.key")))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// A [`TlsError`] when the files cannot be loaded; what was in use stays.
    pub fn set_tls(&self, files: Option<TlsFiles>) -> Result<(), TlsError> {
        let slot = &self.shared.tls;
        let configured = slot
            .configured
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some();
        if !configured {
            slot.install(files.clone())?;
        } else if let Some(files) = &files {
            // Checked now, so that a mistake shows at once rather than when the document's
            // object is removed.
            server_config(files)?;
        }
        *slot
            .base
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = files;
        self.watch_tls_files();
        Ok(())
    }

    /// Puts the config document's TLS files in effect (`Some`), or goes back to those of
    /// [`set_tls`](Self::set_tls) (`None`).
    pub(super) fn set_configured_tls(&self, files: Option<TlsFiles>) -> Result<(), TlsError> {
        let slot = &self.shared.tls;
        let wanted = files.clone().or_else(|| {
            slot.base
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        });
        slot.install(wanted)?;
        *slot
            .configured
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = files;
        self.watch_tls_files();
        Ok(())
    }

    /// Whether new connections are served TLS.
    pub fn is_tls(&self) -> bool {
        self.shared.tls.current.load().is_some()
    }

    /// The files the listener's TLS comes from, when it has TLS.
    pub fn tls_files(&self) -> Option<TlsFiles> {
        self.shared.tls.wanted()
    }

    /// Sets how often the certificate files are looked at for a change (at least 10 ms);
    /// [`DEFAULT_TLS_RELOAD_INTERVAL`] by default. Takes effect after the current wait.
    pub fn set_tls_reload_interval(&self, interval: Duration) {
        self.shared.tls.reload_ms.store(
            u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    fn watch_tls_files(&self) {
        // Outside a runtime nothing can poll; the files are then read only when set.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let shared = Arc::downgrade(&self.shared);
        self.shared.tls_watched.call_once(|| {
            runtime.spawn(watch_files(shared, |s: &super::shared::Shared| &s.tls));
        });
    }
}

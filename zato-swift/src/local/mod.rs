//! A local Swift-compatible endpoint for development and tests (feature `local`).
//!
//! It speaks real HTTP on 127.0.0.1, so the connector runs exactly its production path: auth
//! v1.0; account, container and object GET/PUT/HEAD/DELETE/POST; JSON listings with `prefix`,
//! `marker`, `end_marker`, `delimiter` and `limit`; ETags; ranges; server-side copy; static
//! large objects; bulk delete; temp URLs (SHA-1 and SHA-256). Objects live in memory, or in a
//! directory that survives restarts.
//!
//! # Examples
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use zato_swift::local::{LocalSwift, LocalSwiftConfig};
//!
//! let local = LocalSwift::start(LocalSwiftConfig::default()).await?;
//! assert!(local.auth_url().starts_with("http://127.0.0.1:"));
//! assert!(local.object("CRM", "123.json").is_none());
//! local.shutdown().await;
//! # Ok(()) }
//! ```

mod objects;
mod server;
mod store;
mod wire;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use self::server::State;
use self::store::Store;

/// How to start a [`LocalSwift`].
#[derive(Clone, PartialEq, Eq)]
pub struct LocalSwiftConfig {
    /// The address to bind; `127.0.0.1` on a random port when unset.
    pub addr: Option<SocketAddr>,
    /// A directory to keep objects in; memory when unset.
    pub dir: Option<PathBuf>,
    /// The auth v1.0 user, `account:user`; the account is `AUTH_account`.
    pub user: String,
    /// The auth v1.0 key.
    pub key: String,
}

impl Default for LocalSwiftConfig {
    /// `test:tester` / `testing`, as Swift's own TempAuth sample, on a random port, in memory.
    fn default() -> Self {
        LocalSwiftConfig {
            addr: None,
            dir: None,
            user: "test:tester".into(),
            key: "testing".into(),
        }
    }
}

impl fmt::Debug for LocalSwiftConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalSwiftConfig")
            .field("addr", &self.addr)
            .field("dir", &self.dir)
            .field("user", &self.user)
            .field("key", &"***")
            .finish()
    }
}

/// A running local Swift endpoint. Stop it with [`shutdown`](Self::shutdown); dropping it stops
/// it too.
pub struct LocalSwift {
    addr: SocketAddr,
    state: Arc<State>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for LocalSwift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalSwift")
            .field("addr", &self.addr)
            .field("user", &self.state.user)
            .finish_non_exhaustive()
    }
}

impl LocalSwift {
    /// Binds and starts serving in a tokio task.
    ///
    /// # Errors
    ///
    /// When the address cannot be bound or the directory cannot be read or created.
    pub async fn start(config: LocalSwiftConfig) -> std::io::Result<Self> {
        let store = Store::open(config.dir.clone())?;
        let addr = config
            .addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let account = format!(
            "AUTH_{}",
            config.user.split(':').next().unwrap_or(&config.user)
        );
        let state = Arc::new(State {
            user: config.user,
            key: config.key,
            account,
            base: format!("http://{addr}"),
            tokens: Mutex::new(Vec::new()),
            store: Mutex::new(store),
            faults: Mutex::new(Vec::new()),
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(server::serve(listener, state.clone(), stopped));
        tracing::info!(%addr, "local swift endpoint started");
        Ok(LocalSwift {
            addr,
            state,
            stop,
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The auth v1.0 URL, `http://127.0.0.1:PORT/auth/v1.0`.
    pub fn auth_url(&self) -> String {
        format!("{}/auth/v1.0", self.state.base)
    }

    /// The storage URL of the account, `http://127.0.0.1:PORT/v1/AUTH_account`.
    pub fn storage_url(&self) -> String {
        self.state.storage_url()
    }

    /// The auth v1.0 user.
    pub fn user(&self) -> &str {
        &self.state.user
    }

    /// The auth v1.0 key.
    pub fn key(&self) -> &str {
        &self.state.key
    }

    /// The content of an object, read directly from the store.
    pub fn object(&self, container: &str, object: &str) -> Option<Bytes> {
        let store = self.state.store.lock().ok()?;
        Some(
            store
                .containers
                .get(container)?
                .objects
                .get(object)?
                .data
                .clone(),
        )
    }

    /// The content type an object was stored with, read directly from the store.
    pub fn content_type(&self, container: &str, object: &str) -> Option<String> {
        let store = self.state.store.lock().ok()?;
        Some(
            store
                .containers
                .get(container)?
                .objects
                .get(object)?
                .content_type
                .clone(),
        )
    }

    /// Makes the requests to `container` (to every container and the account with `None`; the
    /// auth endpoint never) meet `fault` before they are served, the next `times` of them (all
    /// of them with `None`), so that a test drives its error paths. Faults added first are met
    /// first; [`clear_faults`](Self::clear_faults) removes them.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use zato_swift::local::{Fault, LocalSwift, LocalSwiftConfig};
    ///
    /// let local = LocalSwift::start(LocalSwiftConfig::default()).await?;
    /// local.inject(Some("Billing"), Fault::Status(503), None);
    /// let auth = reqwest::Client::new()
    ///     .get(local.auth_url())
    ///     .header("x-auth-user", local.user())
    ///     .header("x-auth-key", local.key())
    ///     .send()
    ///     .await
    ///     .unwrap();
    /// let token = auth.headers()["x-auth-token"].clone();
    /// let put = reqwest::Client::new()
    ///     .put(format!("{}/Billing", local.storage_url()))
    ///     .header("x-auth-token", token)
    ///     .send()
    ///     .await
    ///     .unwrap();
    /// assert_eq!(put.status(), 503);
    /// # local.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn inject(&self, container: Option<&str>, fault: Fault, times: Option<u32>) {
        if let Ok(mut faults) = self.state.faults.lock() {
            faults.push(FaultRule {
                container: container.map(str::to_owned),
                fault,
                left: times,
            });
        }
    }

    /// Removes every fault [`inject`](Self::inject) added.
    pub fn clear_faults(&self) {
        if let Ok(mut faults) = self.state.faults.lock() {
            faults.clear();
        }
    }

    /// The names of the objects of a container, sorted, read directly from the store.
    pub fn object_names(&self, container: &str) -> Vec<String> {
        self.state
            .store
            .lock()
            .ok()
            .and_then(|s| {
                s.containers
                    .get(container)
                    .map(|c| c.objects.keys().cloned().collect())
            })
            .unwrap_or_default()
    }

    /// Forgets every token handed out, so the next request with one is answered 401.
    pub fn revoke_tokens(&self) {
        if let Ok(mut t) = self.state.tokens.lock() {
            t.clear();
        }
    }

    /// Stops accepting connections and waits for the server task to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// What the local endpoint does to a request instead of, or before, serving it:
/// [`LocalSwift::inject`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answers with this status (`503`, `500`, `401`, `404`, …) and an empty body.
    Status(u16),
    /// Waits this long, then serves the request: longer than the connection's timeout, a
    /// timeout.
    Delay(Duration),
}

/// One injected fault and how many more requests meet it.
#[derive(Debug)]
pub(crate) struct FaultRule {
    container: Option<String>,
    fault: Fault,
    left: Option<u32>,
}

/// The fault the next request to `container` meets, if any, counted.
pub(crate) fn take_fault(rules: &Mutex<Vec<FaultRule>>, container: &str) -> Option<Fault> {
    let mut rules = rules.lock().ok()?;
    let at = rules
        .iter()
        .position(|r| r.container.as_deref().is_none_or(|c| c == container))?;
    let fault = rules[at].fault;
    match &mut rules[at].left {
        Some(1) => {
            rules.remove(at);
        }
        Some(n) => *n -= 1,
        None => {}
    }
    Some(fault)
}

impl Drop for LocalSwift {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

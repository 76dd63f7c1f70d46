//! Channel adapters as the platform sees them: one object-safe trait for every transport, and
//! the platform's list of running adapters.
//!
//! A transport crate (zato-channels: HTTP now, AMQP, ZeroMQ and a Swift inbox next) implements
//! [`ChannelAdapter`]; the host hands its adapters to [`Platform::channels`](crate::Platform::channels),
//! which from then on lists every channel of every kind, applies a change to the adapter that
//! owns the channel, starts them with [`Platform::start`](crate::Platform::start) and drains them
//! all with [`Platform::shutdown`](crate::Platform::shutdown).
//!
//! A channel's configuration crosses this boundary as a JSON value, in the adapter's own serde
//! schema: zato-core knows no transport's types.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use crate::config::{ConfigError, key};
use crate::message::ChannelKind;

/// One channel as listings show it, whatever its transport.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ChannelSummary {
    /// The transport.
    pub kind: ChannelKind,
    /// The channel's name, unique within its kind.
    pub name: String,
    /// The name of the adapter serving it.
    pub adapter: String,
    /// The service it invokes.
    pub service: String,
    /// Whether it takes requests now.
    pub is_active: bool,
    /// Where it takes them from: a URL path, a queue, a socket address.
    pub endpoint: String,
}

impl ChannelSummary {
    /// An active channel `name` of `kind`, served by the adapter `adapter`, with no service and
    /// no endpoint yet: set them with the `with_` methods.
    ///
    /// # Examples
    ///
    /// ```
    /// use zato_core::{ChannelKind, ChannelSummary};
    ///
    /// const HTTP: ChannelKind = ChannelKind::new("http");
    /// let summary = ChannelSummary::new(HTTP, "invoice.json", "http@127.0.0.1:11223")
    ///     .with_service("invoice.dispatcher")
    ///     .with_endpoint("POST /invoice.dispatcher");
    /// assert!(summary.is_active);
    /// ```
    pub fn new(kind: ChannelKind, name: impl Into<String>, adapter: impl Into<String>) -> Self {
        ChannelSummary {
            kind,
            name: name.into(),
            adapter: adapter.into(),
            service: String::new(),
            is_active: true,
            endpoint: String::new(),
        }
    }

    /// The same summary with the service the channel invokes.
    pub fn with_service(mut self, service: impl Into<String>) -> Self {
        self.service = service.into();
        self
    }

    /// The same summary, active or not.
    pub fn with_active(mut self, is_active: bool) -> Self {
        self.is_active = is_active;
        self
    }

    /// The same summary with where the channel takes requests from.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = endpoint.into();
        self
    }
}

/// A change to one channel, addressed as KIND NAME.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ChannelChange {
    /// Creates the channel named by the config's `name`, or replaces the one of that name.
    Upsert {
        /// The transport.
        kind: ChannelKind,
        /// The channel's whole configuration, in its adapter's schema.
        config: serde_json::Value,
        /// The adapter to create it in, when the platform has several of this kind and the
        /// channel is new. A channel that exists stays in its adapter: naming another is an
        /// error.
        adapter: Option<String>,
    },
    /// Removes a channel.
    Remove {
        /// The transport.
        kind: ChannelKind,
        /// The channel's name.
        name: String,
    },
}

impl ChannelChange {
    /// Creates or replaces a channel, in whichever adapter serves it or, for a new channel, the
    /// only adapter of its kind.
    pub fn upsert(kind: ChannelKind, config: serde_json::Value) -> Self {
        ChannelChange::Upsert {
            kind,
            config,
            adapter: None,
        }
    }

    /// Creates or replaces a channel in the adapter named `adapter`.
    pub fn upsert_in(
        kind: ChannelKind,
        config: serde_json::Value,
        adapter: impl Into<String>,
    ) -> Self {
        ChannelChange::Upsert {
            kind,
            config,
            adapter: Some(adapter.into()),
        }
    }

    /// Removes a channel.
    pub fn remove(kind: ChannelKind, name: impl Into<String>) -> Self {
        ChannelChange::Remove {
            kind,
            name: name.into(),
        }
    }
}

/// Why a channel adapter could not start, stop or take a configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// The configuration was refused; the adapter keeps its previous one.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The listening socket could not be bound; why is the error's `source()` (an address in
    /// use, an address that is not one).
    #[error("could not listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The operating system's error, or what was wrong with the address.
        #[source]
        source: std::io::Error,
    },
    /// `start` was called on an adapter that serves already.
    #[error("the channel adapter `{0}` is already serving")]
    AlreadyServing(String),
    /// `start` was called on an adapter that was stopped: a stopped adapter does not start again.
    #[error("the channel adapter `{0}` was stopped")]
    Stopped(String),
    /// The platform already has an adapter of that name.
    #[error("a channel adapter named `{0}` is already on the platform")]
    DuplicateAdapter(String),
}

/// A transport bringing requests to services, as the platform drives it.
///
/// An adapter is created bound to its resources (a listening socket, a broker connection) but
/// idle; [`start`](Self::start) begins serving, the channel methods change its channels while it
/// serves, with no restart and no failed request, and [`stop`](Self::stop) ends it gracefully,
/// finishing the requests in flight.
///
/// The trait is object safe: the platform holds adapters of every kind as
/// `Arc<dyn ChannelAdapter>`. A channel's configuration crosses it as JSON in the adapter's own
/// schema, so zato-core needs no transport's types; changing a channel is async, because
/// building one may take I/O (declaring a queue, binding a socket).
///
/// # Examples
///
/// An adapter serving nothing but its list of channels, owned and driven by the platform:
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use zato_core::{ChannelAdapter, ChannelChange, ChannelError, ChannelKind, ChannelSummary};
/// use zato_core::{ConfigError, Platform};
///
/// /// The kind's name in the config document: `channels.listed`.
/// const LISTED: ChannelKind = ChannelKind::new("listed");
///
/// #[derive(Debug, Default)]
/// struct Listed(Mutex<Vec<String>>);
///
/// #[async_trait::async_trait]
/// impl ChannelAdapter for Listed {
///     fn kind(&self) -> ChannelKind { LISTED }
///     fn name(&self) -> &str { "listed" }
///     fn channels(&self) -> Vec<ChannelSummary> {
///         let names = self.0.lock().unwrap();
///         names.iter().map(|n| ChannelSummary::new(self.kind(), n, self.name())).collect()
///     }
///     fn channel_config(&self, name: &str) -> Option<serde_json::Value> {
///         let names = self.0.lock().unwrap();
///         names.iter().any(|n| n == name).then(|| serde_json::json!({ "name": name }))
///     }
///     async fn upsert_channel(&self, config: serde_json::Value) -> Result<(), ConfigError> {
///         let name = config["name"].as_str().ok_or_else(|| ConfigError::one("name", "required"))?;
///         self.0.lock().unwrap().push(name.to_owned());
///         Ok(())
///     }
///     async fn remove_channel(&self, name: &str) -> Result<(), ConfigError> {
///         self.0.lock().unwrap().retain(|n| n != name);
///         Ok(())
///     }
///     async fn start(&self) -> Result<(), ChannelError> { Ok(()) }
///     fn is_serving(&self) -> bool { false }
///     async fn stop(&self) {}
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let platform = Platform::new();
/// platform.channels().add(Arc::new(Listed::default())).unwrap();
/// let config = serde_json::json!({ "name": "orders" });
/// platform.channels().apply(ChannelChange::upsert(LISTED, config)).await.unwrap();
/// assert_eq!(platform.channels().list()[0].name, "orders");
/// # });
/// ```
#[async_trait::async_trait]
pub trait ChannelAdapter: Send + Sync + fmt::Debug + 'static {
    /// The transport of every channel it serves.
    fn kind(&self) -> ChannelKind;

    /// The adapter's name, unique on the platform (an HTTP listener's name, a broker's).
    fn name(&self) -> &str;

    /// Its channels now, sorted by name.
    fn channels(&self) -> Vec<ChannelSummary>;

    /// The configuration of the channel `name`, in the adapter's schema, secrets redacted.
    fn channel_config(&self, name: &str) -> Option<serde_json::Value>;

    /// Creates the channel its configuration names, or replaces the one of that name. Validated
    /// and built first; on error nothing changes.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] listing every problem, paths relative to the channel.
    async fn upsert_channel(&self, config: serde_json::Value) -> Result<(), ConfigError>;

    /// Removes the channel `name`. Requests already running on it finish.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when there is no such channel.
    async fn remove_channel(&self, name: &str) -> Result<(), ConfigError>;

    /// Begins serving. Returns once serving has begun, not when it ends.
    ///
    /// # Errors
    ///
    /// [`ChannelError::AlreadyServing`] when the adapter serves already,
    /// [`ChannelError::Stopped`] when it was stopped, or why it could not start.
    async fn start(&self) -> Result<(), ChannelError>;

    /// Whether it serves now.
    fn is_serving(&self) -> bool;

    /// Stops gracefully: no new request is taken, those in flight are answered, then it returns.
    async fn stop(&self);
}

/// The channel adapters of a platform, by name.
#[derive(Default)]
pub struct Channels {
    adapters: RwLock<BTreeMap<String, Arc<dyn ChannelAdapter>>>,
    /// Held by [`apply`](Self::apply) from finding a channel's adapter to changing it, so two
    /// changes cannot create one name in two adapters.
    changing: tokio::sync::Mutex<()>,
}

impl fmt::Debug for Channels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channels")
            .field("adapters", &self.names())
            .finish()
    }
}

impl Channels {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<dyn ChannelAdapter>>> {
        // A panic while holding the lock leaves the map itself consistent: every write is one
        // insert or remove.
        self.adapters
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<dyn ChannelAdapter>>> {
        self.adapters
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds an adapter. The platform owns it from now on: [`Platform::start`](crate::Platform::start)
    /// starts it and [`Platform::shutdown`](crate::Platform::shutdown) drains it.
    ///
    /// # Errors
    ///
    /// [`ChannelError::DuplicateAdapter`] when an adapter of that name is already there.
    pub fn add(&self, adapter: Arc<dyn ChannelAdapter>) -> Result<(), ChannelError> {
        let name = adapter.name().to_owned();
        let mut map = self.write();
        if map.contains_key(&name) {
            return Err(ChannelError::DuplicateAdapter(name));
        }
        tracing::info!(adapter = %name, kind = %adapter.kind(), "channel adapter added");
        map.insert(name, adapter);
        Ok(())
    }

    /// Takes the adapter `name` off the platform, without stopping it.
    pub fn remove(&self, name: &str) -> Option<Arc<dyn ChannelAdapter>> {
        self.write().remove(name)
    }

    /// Takes `adapter` off the platform if it is still there under its name, not another that
    /// took the name after it left; returns whether it was. Checked and removed under one lock.
    pub fn remove_exact(&self, adapter: &Arc<dyn ChannelAdapter>) -> bool {
        let mut map = self.write();
        let same = map
            .get(adapter.name())
            .is_some_and(|there| Arc::ptr_eq(there, adapter));
        if same {
            map.remove(adapter.name());
        }
        same
    }

    /// The adapter `name`.
    pub fn adapter(&self, name: &str) -> Option<Arc<dyn ChannelAdapter>> {
        self.read().get(name).cloned()
    }

    /// Every adapter, sorted by name.
    pub fn adapters(&self) -> Vec<Arc<dyn ChannelAdapter>> {
        self.read().values().cloned().collect()
    }

    /// The adapters' names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    /// Every channel of every kind, sorted by kind and name.
    pub fn list(&self) -> Vec<ChannelSummary> {
        let mut all: Vec<ChannelSummary> =
            self.adapters().iter().flat_map(|a| a.channels()).collect();
        all.sort_by(|a, b| (a.kind.as_str(), &a.name).cmp(&(b.kind.as_str(), &b.name)));
        all
    }

    /// The adapter serving the channel `name` of `kind`, if any: channel names are unique within
    /// a kind across the platform, so an adapter creating a channel checks here that no other
    /// adapter serves one of that name.
    pub fn owner(&self, kind: ChannelKind, name: &str) -> Option<Arc<dyn ChannelAdapter>> {
        self.adapters()
            .into_iter()
            .find(|a| a.kind() == kind && a.channels().iter().any(|c| c.name == name))
    }

    /// The configuration of the channel `name` of `kind`, secrets redacted.
    pub fn config(&self, kind: ChannelKind, name: &str) -> Option<serde_json::Value> {
        self.owner(kind, name)?.channel_config(name)
    }

    /// Applies a change to the adapter that owns the channel. A new channel goes to the only
    /// adapter of its kind, or to the one the change names. Changes are applied one at a time.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] whose paths start at `channels.<kind>.<name>`: the adapter's own
    /// problems, a config without a `name`, no adapter for the kind, several with none named, a
    /// named adapter other than the one serving the channel, or no such channel.
    pub async fn apply(&self, change: ChannelChange) -> Result<(), ConfigError> {
        let _one_at_a_time = self.changing.lock().await;
        match change {
            ChannelChange::Upsert {
                kind,
                config,
                adapter,
            } => {
                let Some(name) = config.get("name").and_then(serde_json::Value::as_str) else {
                    return Err(ConfigError::one(
                        format!("channels.{kind}"),
                        "a channel needs a `name`, as text",
                    ));
                };
                let at = format!("channels.{kind}.{}", key(name));
                let target = match (self.owner(kind, name), adapter.as_deref()) {
                    (Some(owner), Some(named)) if owner.name() != named => {
                        return Err(ConfigError::one(
                            at,
                            format!(
                                "the channel is served by adapter `{}`, not `{named}`; remove it there first",
                                owner.name()
                            ),
                        ));
                    }
                    (Some(owner), _) => owner,
                    (None, named) => self.pick(kind, named).map_err(|e| e.within(&at))?,
                };
                target
                    .upsert_channel(config)
                    .await
                    .map_err(|e| e.within(&at))
            }
            ChannelChange::Remove { kind, name } => {
                let at = format!("channels.{kind}.{}", key(&name));
                match self.owner(kind, &name) {
                    Some(owner) => owner.remove_channel(&name).await.map_err(|e| e.within(&at)),
                    None => Err(ConfigError::one(at, "no such channel")),
                }
            }
        }
    }

    /// The adapter a new channel of `kind` goes to.
    fn pick(
        &self,
        kind: ChannelKind,
        named: Option<&str>,
    ) -> Result<Arc<dyn ChannelAdapter>, ConfigError> {
        let of_kind: Vec<_> = self
            .adapters()
            .into_iter()
            .filter(|a| a.kind() == kind)
            .collect();
        match (named, of_kind.as_slice()) {
            (Some(n), _) => of_kind
                .iter()
                .find(|a| a.name() == n)
                .cloned()
                .ok_or_else(|| {
                    ConfigError::one("", format!("no {kind} channel adapter named `{n}`"))
                }),
            (None, [only]) => Ok(only.clone()),
            (None, []) => Err(ConfigError::one(
                "",
                format!("the platform has no {kind} channel adapter"),
            )),
            (None, _) => Err(ConfigError::one(
                "",
                format!("the platform has several {kind} channel adapters; name one"),
            )),
        }
    }
}

//! [`ZmqAdapter`]: the ZeroMQ channels of a platform, changed while messages flow.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use zato_core::{ChannelAdapter, ChannelError, ChannelKind, ChannelSummary, ConfigError, Platform};

use super::config::ZmqChannelConfig;
use super::receiver::{Receiver, Settings, SocketSpec};
use super::socket::{BIND_GRACE, OpenError, REBIND_WAIT};

/// The adapter's name on the platform unless another is given.
pub const DEFAULT_ZMQ_ADAPTER: &str = "zmq";

/// One channel: its configuration, what its messages go to, and its socket when active.
struct Entry {
    config: ZmqChannelConfig,
    settings: Arc<ArcSwap<Settings>>,
    receiver: Option<Receiver>,
}

struct Inner {
    name: String,
    platform: Platform,
    /// Set by `start`, cleared by `stop`: the sockets' threads read only while it is set.
    serving: Arc<AtomicBool>,
    stopped: AtomicBool,
    entries: Mutex<BTreeMap<String, Entry>>,
    /// Held by every change, from reading the entry to putting it back: one change at a time.
    changing: tokio::sync::Mutex<()>,
}

/// The ZeroMQ channel adapter: PULL and SUB sockets, each invoking a service with every message
/// it receives.
///
/// A channel's socket is opened (bound or connected) when the channel is created, so a bad or
/// taken address is refused at once, but nothing is read before [`start`](ChannelAdapter::start):
/// until then messages wait in ZeroMQ's queue, up to the channel's `rcv_hwm`.
///
/// Each message invokes the channel's service, at most `max_concurrency` at once, each within
/// the channel's `timeout`. ZeroMQ has no reply, acknowledgement or requeue for PULL and SUB.
/// So an outcome other than success goes to the logs, with the message's cid, and to the
/// channel's metrics under its status: a warning for bad input (4xx, a non-UTF-8 leading frame
/// among them), an error for a failure or a timeout (5xx). Then the next message is taken.
///
/// Changes while serving:
///
/// - an edit of the service, data format, timeout or `max_items` is swapped in place: the socket
///   stays, no message is lost;
/// - an edit of the socket (type, address, method, prefixes, `rcv_hwm`, `max_msg_size`,
///   `max_concurrency`) opens the new socket, then closes the old one; when both bind the same
///   address, the old one is closed first and the new one binds as soon as libzmq frees it; if
///   the new one cannot be opened, the old configuration is restored and the edit refused;
/// - deactivating or removing a channel closes its socket: messages already received still go to
///   the service, those still queued in ZeroMQ are dropped with the socket (ZeroMQ has nothing to
///   acknowledge or requeue).
///
/// # Examples
///
/// ```no_run
/// use zato_channels::{ZmqAdapter, ZmqChannelConfig, ZmqChannelType};
/// use zato_core::{ChannelAdapter, Platform};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let platform = Platform::new();
/// let zmq = ZmqAdapter::new(&platform)?;
/// let channel = ZmqChannelConfig::new(
///     "invoices", ZmqChannelType::Pull, "tcp://127.0.0.1:11225", "invoice.dispatcher");
/// zmq.upsert_channel(serde_json::to_value(channel)?).await?;
/// zmq.start().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ZmqAdapter {
    inner: Arc<Inner>,
}

impl fmt::Debug for ZmqAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZmqAdapter")
            .field("name", &self.inner.name)
            .field("channels", &self.names())
            .field("serving", &self.is_serving())
            .finish()
    }
}

impl ZmqAdapter {
    /// An adapter named [`DEFAULT_ZMQ_ADAPTER`] with no channel, added to `platform`.
    ///
    /// # Errors
    ///
    /// [`ChannelError::DuplicateAdapter`] when the platform has an adapter of that name.
    pub fn new(platform: &Platform) -> Result<ZmqAdapter, ChannelError> {
        ZmqAdapter::named(DEFAULT_ZMQ_ADAPTER, platform)
    }

    /// An adapter named `name` with no channel, added to `platform`.
    ///
    /// # Errors
    ///
    /// [`ChannelError::DuplicateAdapter`] when the platform has an adapter of that name.
    pub fn named(name: impl Into<String>, platform: &Platform) -> Result<ZmqAdapter, ChannelError> {
        let adapter = ZmqAdapter {
            inner: Arc::new(Inner {
                name: name.into(),
                platform: platform.clone(),
                serving: Arc::new(AtomicBool::new(false)),
                stopped: AtomicBool::new(false),
                entries: Mutex::new(BTreeMap::new()),
                changing: tokio::sync::Mutex::new(()),
            }),
        };
        platform.channels().add(Arc::new(adapter.clone()))?;
        Ok(adapter)
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        // Every write is one insert or remove: a panic elsewhere leaves the map consistent.
        self.inner
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn names(&self) -> Vec<String> {
        self.entries().keys().cloned().collect()
    }

    /// The channel named `name`, as configured.
    pub fn channel(&self, name: &str) -> Option<ZmqChannelConfig> {
        self.entries().get(name).map(|e| e.config.clone())
    }

    /// Where the channel `name`'s socket is bound or connected now: for an address with a
    /// wildcard port (`tcp://127.0.0.1:*`), the port libzmq picked. `None` when the channel is
    /// missing or inactive.
    pub fn endpoint(&self, name: &str) -> Option<String> {
        self.entries()
            .get(name)
            .and_then(|e| e.receiver.as_ref().map(|r| r.endpoint.clone()))
    }

    /// Adds a channel, or replaces the one of the same name, as described on [`ZmqAdapter`].
    ///
    /// # Errors
    ///
    /// A [`ConfigError`], paths relative to the channel: it is invalid, its name is a ZeroMQ
    /// channel of another adapter, its socket cannot be opened (`address`), or the adapter was
    /// stopped. Nothing changed.
    pub async fn put_channel(&self, config: ZmqChannelConfig) -> Result<(), ConfigError> {
        config.validate()?;
        if self.inner.stopped.load(Ordering::Acquire) {
            return Err(ConfigError::one(
                "",
                format!("the ZeroMQ adapter `{}` was stopped", self.inner.name),
            ));
        }
        if let Some(owner) = self
            .inner
            .platform
            .channels()
            .owner(super::config::ZMQ_KIND, &config.name)
            .filter(|o| o.name() != self.inner.name)
        {
            return Err(ConfigError::one(
                "name",
                format!(
                    "`{}` is a channel of the adapter `{}` on the same platform",
                    config.name,
                    owner.name()
                ),
            ));
        }
        let _one = self.inner.changing.lock().await;
        let existing = self.entries().remove(&config.name);
        let result = match existing {
            None => self.create(config).await,
            Some(entry) => self.replace(entry, config).await,
        };
        let (entry, outcome) = result;
        if let Some(entry) = entry {
            self.entries().insert(entry.config.name.clone(), entry);
        }
        outcome
    }

    /// A new channel. Returns the entry to keep (none when opening failed) and the outcome.
    async fn create(&self, config: ZmqChannelConfig) -> (Option<Entry>, Result<(), ConfigError>) {
        self.warn_undeployed(&config);
        let settings = Arc::new(ArcSwap::from_pointee(Settings::of(
            &config,
            &self.inner.platform,
        )));
        let receiver = if config.is_active {
            match self.open(&config, &settings, false).await {
                Ok(r) => Some(r),
                Err(e) => return (None, Err(e.into_config())),
            }
        } else {
            None
        };
        tracing::info!(adapter = %self.inner.name, channel = %config.name, is_active = config.is_active, "zmq channel created");
        (
            Some(Entry {
                config,
                settings,
                receiver,
            }),
            Ok(()),
        )
    }

    /// A channel replaced. On error the old one is back as it was, or as near as libzmq allows.
    async fn replace(
        &self,
        mut entry: Entry,
        config: ZmqChannelConfig,
    ) -> (Option<Entry>, Result<(), ConfigError>) {
        self.warn_undeployed(&config);
        let new_spec = SocketSpec::of(&config);
        let same_socket = entry
            .receiver
            .as_ref()
            .is_some_and(|r| r.spec == new_spec && config.is_active);
        let new_settings = Settings::of(&config, &self.inner.platform);
        if same_socket || (!config.is_active && entry.receiver.is_none()) {
            // What the messages go to changes; the socket stays.
            entry.settings.store(Arc::new(new_settings));
            entry.config = config;
            tracing::info!(adapter = %self.inner.name, channel = %entry.config.name, "zmq channel changed in place");
            return (Some(entry), Ok(()));
        }
        if !config.is_active {
            if let Some(mut old) = entry.receiver.take() {
                // Closed before returning, so the address can be bound again at once.
                old.close().await;
                tokio::spawn(old.drain());
            }
            entry.settings.store(Arc::new(new_settings));
            entry.config = config;
            tracing::info!(adapter = %self.inner.name, channel = %entry.config.name, "zmq channel deactivated: socket closed");
            return (Some(entry), Ok(()));
        }
        // A new socket: messages received from now on go to the new settings.
        let settings = Arc::new(ArcSwap::from_pointee(new_settings));
        let frees_first = entry
            .receiver
            .as_ref()
            .is_some_and(|r| r.spec.binds_same(&new_spec));
        if frees_first && let Some(mut old) = entry.receiver.take() {
            old.close().await;
            tokio::spawn(old.drain());
        }
        // A channel coming back from inactive may bind the address its old socket just freed.
        let rebinding = frees_first || entry.receiver.is_none();
        match self.open(&config, &settings, rebinding).await {
            Ok(receiver) => {
                if let Some(old) = entry.receiver.take() {
                    old.retire();
                }
                tracing::info!(adapter = %self.inner.name, channel = %config.name, endpoint = %receiver.endpoint, "zmq channel socket replaced");
                (
                    Some(Entry {
                        config,
                        settings,
                        receiver: Some(receiver),
                    }),
                    Ok(()),
                )
            }
            Err(e) => {
                if entry.receiver.is_none() && entry.config.is_active {
                    // The old socket was closed to free its address: bring it back.
                    match self.open(&entry.config, &entry.settings, true).await {
                        Ok(r) => entry.receiver = Some(r),
                        Err(again) => {
                            tracing::error!(adapter = %self.inner.name, channel = %entry.config.name, error = ?again, "zmq channel: the previous socket could not be reopened; the channel receives nothing until it is changed again");
                        }
                    }
                }
                (Some(entry), Err(e.into_config()))
            }
        }
    }

    /// Opens a channel's socket. A bind finding its address in use is tried again for a moment,
    /// and with `rebinding` for a while: a socket just closed frees its address in libzmq's I/O
    /// thread, a moment later.
    async fn open(
        &self,
        config: &ZmqChannelConfig,
        settings: &Arc<ArcSwap<Settings>>,
        rebinding: bool,
    ) -> Result<Receiver, OpenError> {
        let deadline = Instant::now() + if rebinding { REBIND_WAIT } else { BIND_GRACE };
        loop {
            let attempt = Receiver::open(
                SocketSpec::of(config),
                settings.clone(),
                self.inner.serving.clone(),
                self.inner.platform.clone(),
            )
            .await;
            match attempt {
                Err(e) if e.in_use() && Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(25)).await;
                }
                other => return other,
            }
        }
    }

    /// Removes the channel `name` and closes its socket; messages already received finish.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when there is no such channel.
    pub async fn take_channel(&self, name: &str) -> Result<ZmqChannelConfig, ConfigError> {
        let _one = self.inner.changing.lock().await;
        let Some(mut entry) = self.entries().remove(name) else {
            return Err(ConfigError::one("", "no such channel"));
        };
        if let Some(mut receiver) = entry.receiver.take() {
            // Closed before returning, so the address can be bound again at once.
            receiver.close().await;
            tokio::spawn(receiver.drain());
        }
        tracing::info!(adapter = %self.inner.name, channel = %name, "zmq channel removed");
        Ok(entry.config)
    }

    /// A channel may name a service deployed later: a warning, not an error.
    fn warn_undeployed(&self, config: &ZmqChannelConfig) {
        if !self.inner.platform.services().contains(&config.service) {
            tracing::warn!(channel = %config.name, service = %config.service, "zmq channel names a service not deployed");
        }
    }
}

/// One channel as the platform lists it: its endpoint is `pull bind tcp://127.0.0.1:11225`.
fn summary(adapter: &str, entry: &Entry) -> ChannelSummary {
    let c = &entry.config;
    let at = entry
        .receiver
        .as_ref()
        .map_or(c.address.as_str(), |r| r.endpoint.as_str());
    ChannelSummary::new(super::config::ZMQ_KIND, c.name.as_str(), adapter)
        .with_service(c.service.as_str())
        .with_active(c.is_active)
        .with_endpoint(format!("{} {} {at}", c.socket_type, c.socket_method))
}

/// Reads a channel, naming every unknown or wrong field.
pub(super) fn channel_from_json(
    value: &serde_json::Value,
) -> Result<ZmqChannelConfig, ConfigError> {
    let (config, _) = zato_core::config::decode_as::<ZmqChannelConfig>(value, &[])?;
    config.validate()?;
    Ok(config)
}

#[async_trait]
impl ChannelAdapter for ZmqAdapter {
    fn kind(&self) -> ChannelKind {
        super::config::ZMQ_KIND
    }

    fn name(&self) -> &str {
        &self.inner.name
    }

    fn channels(&self) -> Vec<ChannelSummary> {
        self.entries()
            .values()
            .map(|e| summary(&self.inner.name, e))
            .collect()
    }

    /// The channel as JSON in [`ZmqChannelConfig`]'s schema; it holds no secret.
    fn channel_config(&self, name: &str) -> Option<serde_json::Value> {
        let config = self.channel(name)?;
        match serde_json::to_value(&config) {
            Ok(value) => Some(value),
            Err(e) => {
                tracing::error!(channel = %name, error = %e, "zmq channel could not be written as JSON");
                None
            }
        }
    }

    async fn upsert_channel(&self, config: serde_json::Value) -> Result<(), ConfigError> {
        let channel = channel_from_json(&config)?;
        self.put_channel(channel).await
    }

    async fn remove_channel(&self, name: &str) -> Result<(), ConfigError> {
        self.take_channel(name).await.map(drop)
    }

    async fn start(&self) -> Result<(), ChannelError> {
        if self.inner.stopped.load(Ordering::Acquire) {
            return Err(ChannelError::Stopped(self.inner.name.clone()));
        }
        if self.inner.serving.swap(true, Ordering::AcqRel) {
            return Err(ChannelError::AlreadyServing(self.inner.name.clone()));
        }
        tracing::info!(adapter = %self.inner.name, channels = self.names().len(), "zmq channels receiving");
        Ok(())
    }

    fn is_serving(&self) -> bool {
        self.inner.serving.load(Ordering::Acquire) && !self.inner.stopped.load(Ordering::Acquire)
    }

    /// Closes every socket, then waits until every message received has been handled.
    async fn stop(&self) {
        self.inner.stopped.store(true, Ordering::Release);
        let _one = self.inner.changing.lock().await;
        self.inner.serving.store(false, Ordering::Release);
        let receivers: Vec<Receiver> = self
            .entries()
            .values_mut()
            .filter_map(|e| e.receiver.take())
            .collect();
        futures_join(receivers.into_iter().map(Receiver::drain)).await;
        tracing::info!(adapter = %self.inner.name, "zmq channels stopped");
    }
}

/// Awaits every future, concurrently.
async fn futures_join<F>(futures: impl Iterator<Item = F>)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    for handle in handles {
        let _ = handle.await;
    }
}

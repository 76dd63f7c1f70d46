//! [`Amqp10Connection`]: a connection to an AMQP 1.0 broker with a sender link per address,
//! swapped whole on reconfiguration, and [`Amqp10Outgoing`], how a service reaches it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use fe2o3_amqp::connection::ConnectionHandle;
use fe2o3_amqp::sasl_profile::SaslProfile;
use fe2o3_amqp::session::SessionHandle;
use fe2o3_amqp::types::messaging::{Body, Outcome, Source, Target, TerminusDurability};
use fe2o3_amqp::types::primitives::Value;
use fe2o3_amqp::{Connection, Receiver, Sendable, Sender, Session};
use tokio::sync::{OwnedMutexGuard, watch};
use zato_core::{
    Cid, ConfigError, OutgoingConnections, OutgoingError, OutgoingErrorKind, Secret, ServiceError,
};

use crate::config::Amqp10ConnectionConfig;
use crate::jms::{self, Amqp10Body, Amqp10Message, Amqp10Received};

/// An open connection and its one session.
pub(crate) struct Opened {
    pub(crate) connection: ConnectionHandle<()>,
    pub(crate) session: SessionHandle<()>,
}

impl Opened {
    /// Ends the session and closes the connection, within `limit`.
    pub(crate) async fn close(mut self, limit: Duration) {
        let _ = tokio::time::timeout(limit, async {
            let _ = self.session.end().await;
            let _ = self.connection.close().await;
        })
        .await;
    }
}

/// Opens a connection for `config` as `container`, and begins a session on it, within the
/// connection's timeout.
pub(crate) async fn open(
    config: &Amqp10ConnectionConfig,
    container: &str,
) -> Result<Opened, String> {
    let (tls, host, port) = config.endpoint()?;
    let url = format!("{}://{host}:{port}", if tls { "amqps" } else { "amqp" });
    let profile = match &config.username {
        Some(user) => SaslProfile::Plain {
            username: user.clone(),
            password: config
                .password
                .as_ref()
                .map(Secret::expose)
                .cloned()
                .unwrap_or_default(),
        },
        None => SaslProfile::Anonymous,
    };
    let hostname = config.hostname.clone();
    let mut builder = Connection::builder()
        .container_id(container.to_owned())
        .sasl_profile(profile)
        // amqps: TLS from the first byte, as brokers listen on 5671 (not the AMQP TLS header).
        .alt_tls_establishment(true);
    if config.idle_timeout > 0.0 {
        let ms = (config.idle_timeout * 1000.0) as u32;
        builder = builder.idle_time_out(ms);
    }
    if let Some(h) = hostname.as_deref() {
        builder = builder.hostname(h);
    }
    let limit = config.timeout_duration();
    let opened = tokio::time::timeout(limit, async {
        let mut connection = builder
            .open(url.as_str())
            .await
            .map_err(|e| format!("cannot open a connection to {url}: {e}"))?;
        match Session::begin(&mut connection).await {
            Ok(session) => Ok(Opened {
                connection,
                session,
            }),
            Err(e) => {
                let _ = connection.close().await;
                Err(format!("cannot begin a session on {url}: {e}"))
            }
        }
    })
    .await;
    match opened {
        Ok(r) => r,
        Err(_) => Err(format!("no connection to {url} within {limit:?}")),
    }
}

/// A target terminus for `address` that survives the link: RabbitMQ 3 declares the queue behind
/// `/queue/NAME` durable only when the terminus is, and a durable queue must be asked for as one.
pub(crate) fn durable_target(address: &str) -> Target {
    Target::builder()
        .address(address.to_owned())
        .durable(TerminusDurability::Configuration)
        .build()
}

/// A source terminus for `address`, durable as [`durable_target`] says why.
pub(crate) fn durable_source(address: &str) -> Source {
    Source::builder()
        .address(address.to_owned())
        .durable(TerminusDurability::Configuration)
        .build()
}

/// A sender link, held by one send at a time.
type SharedSender = Arc<tokio::sync::Mutex<Sender>>;

/// The open link state of one generation: its connection, and a sender per address.
struct Link {
    opened: Opened,
    senders: HashMap<String, (Vec<SharedSender>, Instant)>,
}

/// One configuration and, once used, its connection.
struct Generation {
    config: Arc<Amqp10ConnectionConfig>,
    number: u64,
    link: tokio::sync::Mutex<Option<Link>>,
    /// Calls under way on this generation: a replaced one is closed once they are done.
    in_flight: AtomicUsize,
    turns: AtomicUsize,
}

/// The most sender links a connection keeps to one address: that many sends to it are under
/// way at once, each waiting for its settlement on its own link.
const LINKS_PER_ADDRESS: usize = 4;

impl Generation {
    fn new(config: Amqp10ConnectionConfig, number: u64) -> Self {
        Generation {
            config: Arc::new(config),
            number,
            link: tokio::sync::Mutex::new(None),
            in_flight: AtomicUsize::new(0),
            turns: AtomicUsize::new(0),
        }
    }

    fn error(&self, kind: OutgoingErrorKind, what: impl Into<String>) -> OutgoingError {
        OutgoingError::new(&self.config.name, kind, what.into())
    }

    /// The sender to `address`, opening the connection and attaching the link if need be.
    async fn sender(&self, address: &str) -> Result<OwnedMutexGuard<Sender>, OutgoingError> {
        let limit = self.config.timeout_duration();
        let busy = {
            let mut guard = tokio::time::timeout(limit, self.link.lock())
                .await
                .map_err(|_| {
                    self.error(OutgoingErrorKind::Timeout, "the connection is busy opening")
                })?;
            if guard
                .as_ref()
                .is_some_and(|l| l.opened.connection.is_closed() || l.opened.session.is_ended())
            {
                *guard = None;
            }
            if guard.is_none() {
                let opened = open(&self.config, &self.config.container())
                    .await
                    .map_err(|why| self.error(OutgoingErrorKind::BadGateway, why))?;
                *guard = Some(Link {
                    opened,
                    senders: HashMap::new(),
                });
            }
            let Some(link) = guard.as_mut() else {
                return Err(self.error(OutgoingErrorKind::BadGateway, "no connection"));
            };
            let now = Instant::now();
            let pool_len = match link.senders.get_mut(address) {
                Some((pool, used)) => {
                    *used = now;
                    for sender in pool.iter() {
                        if let Ok(free) = sender.clone().try_lock_owned() {
                            return Ok(free);
                        }
                    }
                    pool.len()
                }
                None => 0,
            };
            if pool_len >= LINKS_PER_ADDRESS {
                // Every link busy: wait for one, outside the connection's lock.
                link.senders
                    .get(address)
                    .and_then(|(pool, _)| pool.get(usize::from(self.turn()) % pool.len()).cloned())
            } else {
                if pool_len == 0
                    && link.senders.len() >= self.config.max_links as usize
                    && let Some(oldest) = link
                        .senders
                        .iter()
                        .min_by_key(|(_, (_, used))| *used)
                        .map(|(a, _)| a.clone())
                {
                    // Dropped once the sends under way on them are done.
                    link.senders.remove(&oldest);
                }
                let name = format!("zato-{}-{}", self.config.name, Cid::new());
                let attached = tokio::time::timeout(
                    limit,
                    Sender::builder()
                        .name(name)
                        .target(durable_target(address))
                        .attach(&mut link.opened.session),
                )
                .await;
                let sender = match attached {
                    Ok(Ok(s)) => Arc::new(tokio::sync::Mutex::new(s)),
                    Ok(Err(e)) => {
                        // A broker refusing a link may end the session with it: start afresh.
                        *guard = None;
                        return Err(self.error(
                            OutgoingErrorKind::BadGateway,
                            format!("the broker refused a link to `{address}`: {e}"),
                        ));
                    }
                    Err(_) => {
                        // A session that cannot attach in time is not to be trusted again.
                        *guard = None;
                        return Err(self.error(
                            OutgoingErrorKind::Timeout,
                            format!("no link to `{address}` within {limit:?}"),
                        ));
                    }
                };
                let locked = sender.clone().try_lock_owned();
                link.senders
                    .entry(address.to_owned())
                    .or_insert_with(|| (Vec::new(), now))
                    .0
                    .push(sender.clone());
                match locked {
                    Ok(g) => return Ok(g),
                    Err(_) => Some(sender),
                }
            }
        };
        let Some(busy) = busy else {
            return Err(self.error(OutgoingErrorKind::BadGateway, "no link"));
        };
        tokio::time::timeout(limit, busy.lock_owned())
            .await
            .map_err(|_| {
                self.error(
                    OutgoingErrorKind::Timeout,
                    format!("every link to `{address}` was busy for {limit:?}"),
                )
            })
    }

    /// A number that goes round, to spread waits over the links of an address.
    fn turn(&self) -> u8 {
        let n = self.turns.fetch_add(1, Ordering::Relaxed);
        (n % 251) as u8
    }

    /// A receiver from `address` with one message of credit at a time, settled by the caller.
    async fn receiver(&self, address: &str) -> Result<Receiver, OutgoingError> {
        let limit = self.config.timeout_duration();
        let mut guard = self.link.lock().await;
        let Some(link) = guard.as_mut() else {
            return Err(self.error(OutgoingErrorKind::BadGateway, "no connection"));
        };
        let attached = tokio::time::timeout(
            limit,
            Receiver::builder()
                .name(format!("zato-{}-{}", self.config.name, Cid::new()))
                .source(durable_source(address))
                .credit_mode(fe2o3_amqp::link::receiver::CreditMode::Auto(1))
                .auto_accept(false)
                .attach(&mut link.opened.session),
        )
        .await;
        match attached {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err({
                *guard = None;
                self.error(
                    OutgoingErrorKind::BadGateway,
                    format!("cannot receive from `{address}`: {e}"),
                )
            }),
            Err(_) => Err(self.error(
                OutgoingErrorKind::Timeout,
                format!("no link from `{address}` within {limit:?}"),
            )),
        }
    }

    /// Forgets the link to `address` (it failed); the next call attaches a new one.
    async fn drop_sender(&self, address: &str, broken_connection: bool) {
        let mut guard = self.link.lock().await;
        if broken_connection {
            if let Some(link) = guard.take() {
                tokio::spawn(link.opened.close(Duration::from_secs(5)));
            }
        } else if let Some(link) = guard.as_mut() {
            link.senders.remove(address);
        }
    }

    /// Sends `message` to `address` and waits for the broker's settlement.
    async fn send(&self, address: &str, message: &Sendable<Body<Value>>) -> Result<(), Attempt> {
        let limit = self.config.timeout_duration();
        // A link of the address's few, held for the send and its settlement: sends to one
        // address overlap up to LINKS_PER_ADDRESS, and a reconfiguration never waits on them.
        let mut link = self.sender(address).await.map_err(Attempt::Final)?;
        let settled = tokio::time::timeout(limit, link.send_ref(message)).await;
        drop(link);
        match settled {
            Ok(Ok(Outcome::Accepted(_))) => Ok(()),
            Ok(Ok(Outcome::Rejected(r))) => Err(Attempt::Final(self.error(
                OutgoingErrorKind::BadGateway,
                format!(
                    "the broker rejected the message to `{address}`: {}",
                    r.error.map(|e| e.to_string()).unwrap_or_default()
                ),
            ))),
            Ok(Ok(other)) => Err(Attempt::Retry(self.error(
                OutgoingErrorKind::Unavailable,
                format!("the broker did not take the message to `{address}`: {other:?}"),
            ))),
            Ok(Err(e)) => {
                self.drop_sender(address, true).await;
                Err(Attempt::Retry(self.error(
                    OutgoingErrorKind::BadGateway,
                    format!("the message to `{address}` was not settled: {e}"),
                )))
            }
            Err(_) => {
                // A settlement that never comes (seen with RabbitMQ 3 under load) leaves the
                // link suspect: a fresh connection, and the message once more (at least once).
                self.drop_sender(address, true).await;
                Err(Attempt::Retry(self.error(
                    OutgoingErrorKind::Timeout,
                    format!(
                        "the broker did not settle the message to `{address}` within {limit:?}"
                    ),
                )))
            }
        }
    }

    /// Closes the connection once the calls under way are done, within a bound.
    async fn retire(self: Arc<Self>) {
        let deadline = Instant::now() + self.config.timeout_duration() * 3;
        while self.in_flight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let link = self.link.lock().await.take();
        if let Some(link) = link {
            drop(link.senders);
            link.opened.close(Duration::from_secs(5)).await;
        }
    }
}

/// How one try of a send ended.
enum Attempt {
    /// The link or connection failed: worth one more try on a fresh one.
    Retry(OutgoingError),
    /// The broker answered: final.
    Final(OutgoingError),
}

/// Counts a call under way on a generation while it lives.
struct InFlight(Arc<Generation>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An AMQP 1.0 connection, `outgoing.amqp10.<name>`: one connection to the broker (opened on
/// first use, opened again after a failure) with a sender link per address, shared by every
/// service sending through it.
///
/// Reconfiguring it builds and opens a new connection and swaps it in; sends under way
/// finish on the old one, which is closed once they are done, and a send whose old link failed
/// is tried once more on the new one. Channels consuming through the connection reconnect
/// with the new settings once they have settled the messages they hold.
pub struct Amqp10Connection {
    current: ArcSwap<Generation>,
    reconfiguring: Mutex<()>,
    changes: watch::Sender<u64>,
    pub(crate) sent: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) retried: AtomicU64,
    /// Set on a test double: what is sent is kept here, and no broker is involved.
    recording: Option<Arc<Amqp10Recording>>,
}

/// What a test double was asked to send: the address and the message
/// ([`Amqp10Connection::recording`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Amqp10Sent {
    /// The address it was sent to.
    pub address: String,
    /// The message, with the `reply-to` and correlation id a request gave it.
    pub message: Amqp10Message,
}

/// The AMQP 1.0 test double's record ([`Amqp10Connection::recording`]): what was sent and
/// requested, a way to make calls fail, and the reply requests get.
#[derive(Debug, Default)]
pub struct Amqp10Recording {
    sent: zato_core::Recording<Amqp10Sent>,
    reply: Mutex<Option<Amqp10Body>>,
}

impl Amqp10Recording {
    /// Everything sent so far, oldest first (at most [`zato_core::MAX_RECORDED`]).
    pub fn messages(&self) -> Vec<Amqp10Sent> {
        self.sent.messages()
    }

    /// Makes every call from now on fail with `kind` (502, 503 or 504) and `reason`; nothing is
    /// recorded.
    pub fn fail(&self, kind: OutgoingErrorKind, reason: impl Into<String>) {
        self.sent.fail(kind, reason);
    }

    /// Makes calls succeed again.
    pub fn succeed(&self) {
        self.sent.succeed();
    }

    /// Answers every request from now on with `body`, carrying the request's correlation id.
    /// Until this is called, a request times out as it does when nobody answers (a 504).
    pub fn reply_with(&self, body: Amqp10Body) {
        *self.reply.lock().unwrap_or_else(PoisonError::into_inner) = Some(body);
    }

    fn reply(&self) -> Option<Amqp10Body> {
        self.reply
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl std::fmt::Debug for Amqp10Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.current.load();
        f.debug_struct("Amqp10Connection")
            .field("name", &g.config.name)
            .field("url", &g.config.url)
            .field("generation", &g.number)
            .finish_non_exhaustive()
    }
}

/// A reply to a request.
pub type Amqp10Reply = Amqp10Received;

impl Amqp10Connection {
    /// A connection for `config`. It opens on first use: a broker that is down makes calls
    /// fail (and [`ping`](Self::ping) say so), not this.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] listing every problem of the configuration.
    pub fn new(config: Amqp10ConnectionConfig) -> Result<Self, ConfigError> {
        ConfigError::check(config.problems())?;
        Ok(Amqp10Connection {
            current: ArcSwap::from_pointee(Generation::new(config, 1)),
            reconfiguring: Mutex::new(()),
            changes: watch::Sender::new(1),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            recording: None,
        })
    }

    /// A test double named `name`: it connects to no broker, and keeps what a service sends
    /// and requests through it in the [`Amqp10Recording`] returned beside it, which can also
    /// make calls fail and answer requests. Register it as any connection
    /// ([`Amqp10Outgoing::add_amqp10`]), under the name the service uses.
    ///
    /// # Examples
    ///
    /// ```
    /// use zato_amqp10::{Amqp10Body, Amqp10Connection, Amqp10Message};
    /// use zato_core::OutgoingErrorKind;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (mq, sent) = Amqp10Connection::recording("MQ");
    /// mq.send("INVOICES", Amqp10Message::text("{}")).await.unwrap();
    /// assert_eq!(sent.messages()[0].address, "INVOICES");
    ///
    /// sent.reply_with(Amqp10Body::Text("accepted".into()));
    /// let reply = mq.request("RATES", Amqp10Message::text("EUR"), "REPLIES").await.unwrap();
    /// assert_eq!(&reply.body[..], b"accepted");
    /// assert_eq!(reply.correlation_id, sent.messages()[1].message.correlation_id);
    ///
    /// sent.fail(OutgoingErrorKind::Unavailable, "the queue manager is down");
    /// let err = mq.send("INVOICES", Amqp10Message::text("{}")).await.unwrap_err();
    /// assert_eq!(err.kind(), OutgoingErrorKind::Unavailable);
    /// # });
    /// ```
    pub fn recording(name: &str) -> (Amqp10Connection, Arc<Amqp10Recording>) {
        let recording = Arc::new(Amqp10Recording::default());
        let config = Amqp10ConnectionConfig {
            name: name.to_owned(),
            ..Amqp10ConnectionConfig::default()
        };
        let conn = Amqp10Connection {
            current: ArcSwap::from_pointee(Generation::new(config, 1)),
            reconfiguring: Mutex::new(()),
            changes: watch::Sender::new(1),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            recording: Some(recording.clone()),
        };
        (conn, recording)
    }

    /// The connection's name.
    pub fn name(&self) -> String {
        self.current.load().config.name.clone()
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Amqp10ConnectionConfig> {
        self.current.load().config.clone()
    }

    /// Messages the broker accepted, and sends that failed, since the connection was made.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }

    /// Notified each time the configuration changes, for channels consuming through it.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Replaces the configuration while messages flow (see the type's docs).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when the configuration is invalid, renames the connection, or (when
    /// active) the broker cannot be reached with it; the old one then stays in force.
    pub async fn reconfigure(&self, config: Amqp10ConnectionConfig) -> Result<(), ConfigError> {
        ConfigError::check(config.problems())?;
        let current = self.current.load_full();
        if config.name != current.config.name {
            return Err(ConfigError::one(
                "name",
                format!(
                    "cannot rename connection `{}` to `{}` by reconfiguring it",
                    current.config.name, config.name
                ),
            ));
        }
        let next = Generation::new(config, 0);
        if next.config.is_active {
            let opened = open(&next.config, &next.config.container())
                .await
                .map_err(|why| ConfigError::one("url", why))?;
            *next.link.lock().await = Some(Link {
                opened,
                senders: HashMap::new(),
            });
        }
        let number = {
            let _serial = self
                .reconfiguring
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let number = self.current.load().number + 1;
            let next = Generation { number, ..next };
            let old = self.current.swap(Arc::new(next));
            self.changes.send_replace(number);
            tokio::spawn(old.retire());
            number
        };
        drop(current);
        tracing::info!(connection = %self.name(), generation = number, "amqp10 connection reconfigured");
        Ok(())
    }

    fn active(&self) -> Result<InFlight, OutgoingError> {
        let g = self.current.load_full();
        if !g.config.is_active {
            return Err(g.error(OutgoingErrorKind::Unavailable, "the connection is inactive"));
        }
        g.in_flight.fetch_add(1, Ordering::AcqRel);
        Ok(InFlight(g))
    }

    /// Sends `message` to `address` (a queue or topic as the broker names it) and waits (at
    /// most `timeout`) until the broker settles it as accepted.
    ///
    /// # Errors
    ///
    /// An error naming the connection: 503 when it is inactive or the broker released the
    /// message, 504 when the broker did not settle it in time, 502 when the broker rejected
    /// it or could not be reached.
    pub async fn send(&self, address: &str, message: Amqp10Message) -> Result<(), OutgoingError> {
        if let Some(recording) = &self.recording {
            let g = self.active()?;
            let sent = Amqp10Sent {
                address: address.to_owned(),
                message,
            };
            let result = recording.sent.record(&g.0.config.name, sent);
            match &result {
                Ok(()) => self.sent.fetch_add(1, Ordering::Relaxed),
                Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
            };
            return result;
        }
        let sendable = Sendable::builder()
            .message(message.to_amqp())
            .settled(false)
            .build();
        let result = self.send_sendable(address, &sendable).await;
        match &result {
            Ok(()) => self.sent.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
        result
    }

    async fn send_sendable(
        &self,
        address: &str,
        sendable: &Sendable<Body<Value>>,
    ) -> Result<(), OutgoingError> {
        let first = self.active()?;
        match first.0.send(address, sendable).await {
            Ok(()) => Ok(()),
            Err(Attempt::Final(e)) => Err(e),
            Err(Attempt::Retry(e)) => {
                // The link failed under the send: once more, on the generation in force now
                // (a new one after an edit, or this one reconnected).
                drop(first);
                tracing::warn!(connection = %self.name(), error = %e, "amqp10 send failed; trying once more on a fresh link");
                self.retried.fetch_add(1, Ordering::Relaxed);
                let again = self.active()?;
                match again.0.send(address, sendable).await {
                    Ok(()) => Ok(()),
                    Err(Attempt::Final(e) | Attempt::Retry(e)) => Err(e),
                }
            }
        }
    }

    /// Sends `message` to `address` with `reply-to` set to `reply_address` and a fresh
    /// correlation id (unless it has one), and waits (at most `request_timeout`) for the
    /// reply on `reply_address` that carries that correlation id; the reply is accepted.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send); 504 when no reply came in time.
    pub async fn request(
        &self,
        address: &str,
        mut message: Amqp10Message,
        reply_address: &str,
    ) -> Result<Amqp10Reply, OutgoingError> {
        let id = message
            .correlation_id
            .clone()
            .unwrap_or_else(|| Cid::new().to_string());
        message.correlation_id = Some(id.clone());
        if message.message_id.is_none() {
            message.message_id = Some(id.clone());
        }
        message.reply_to = Some(reply_address.to_owned());
        if let Some(recording) = &self.recording {
            self.send(address, message).await?;
            let g = self.active()?;
            let Some(body) = recording.reply() else {
                return Err(g.0.error(
                    OutgoingErrorKind::Timeout,
                    format!("no reply on `{reply_address}`: the test double was given none"),
                ));
            };
            let (body, is_text) = match body {
                Amqp10Body::Text(text) => (Bytes::from(text), true),
                Amqp10Body::Bytes(bytes) => (bytes, false),
            };
            return Ok(Amqp10Received {
                body,
                is_text,
                message_id: None,
                correlation_id: Some(id),
                reply_to: None,
                subject: None,
                content_type: None,
                properties: Vec::new(),
                delivery_count: 0,
            });
        }
        let g = self.active()?;
        let gen_ = g.0.clone();
        let limit = gen_.config.timeout_duration();
        // The reply receiver first, so that no reply comes before anyone listens.
        let _ = gen_.sender(address).await?;
        let mut receiver = gen_.receiver(reply_address).await?;
        let sent = self.send(address, message).await;
        if let Err(e) = sent {
            let _ = tokio::time::timeout(limit, receiver.close()).await;
            return Err(e);
        }
        let wait = gen_.config.request_timeout_duration();
        let deadline = tokio::time::Instant::now() + wait;
        let reply = loop {
            match tokio::time::timeout_at(deadline, receiver.recv::<Body<Value>>()).await {
                Ok(Ok(delivery)) => {
                    let got = jms::received(delivery.message());
                    if got.correlation_id.as_deref() == Some(id.as_str()) {
                        let _ = receiver.accept(&delivery).await;
                        break Ok(got);
                    }
                    // Another caller's reply: back to the queue for it.
                    let _ = receiver.release(&delivery).await;
                }
                Ok(Err(e)) => {
                    break Err(gen_.error(
                        OutgoingErrorKind::BadGateway,
                        format!("the reply link failed: {e}"),
                    ));
                }
                Err(_) => {
                    break Err(gen_.error(
                        OutgoingErrorKind::Timeout,
                        format!("no reply on `{reply_address}` within {wait:?}"),
                    ));
                }
            }
        };
        let _ = tokio::time::timeout(limit, receiver.close()).await;
        drop(g);
        reply
    }

    /// Takes one message from `address` (waiting at most `limit`) and accepts it: for a
    /// service that reads a queue on demand (a dead-letter queue, say) rather than through a
    /// channel.
    ///
    /// # Errors
    ///
    /// 504 when no message came in time; 502 when the broker could not be reached or refused
    /// the link.
    pub async fn receive(
        &self,
        address: &str,
        limit: Duration,
    ) -> Result<Amqp10Received, OutgoingError> {
        let g = self.active()?;
        let gen_ = g.0.clone();
        let _ = gen_.sender(address).await?;
        let mut receiver = gen_.receiver(address).await?;
        let got = match tokio::time::timeout(limit, receiver.recv::<Body<Value>>()).await {
            Ok(Ok(delivery)) => {
                let got = jms::received(delivery.message());
                match receiver.accept(&delivery).await {
                    Ok(()) => Ok(got),
                    Err(e) => Err(gen_.error(
                        OutgoingErrorKind::BadGateway,
                        format!("could not accept the message from `{address}`: {e}"),
                    )),
                }
            }
            Ok(Err(e)) => Err(gen_.error(
                OutgoingErrorKind::BadGateway,
                format!("receiving from `{address}` failed: {e}"),
            )),
            Err(_) => Err(gen_.error(
                OutgoingErrorKind::Timeout,
                format!("no message on `{address}` within {limit:?}"),
            )),
        };
        let _ = tokio::time::timeout(gen_.config.timeout_duration(), receiver.close()).await;
        drop(g);
        got
    }

    /// Checks that the broker answers and lets us in now: a connection of its own opened (TCP,
    /// TLS, SASL, open, begin) and closed, within `timeout`; how long opening took.
    ///
    /// # Errors
    ///
    /// Why the broker could not be reached or refused us, naming the connection.
    pub async fn ping(&self) -> Result<Duration, OutgoingError> {
        let g = self.current.load_full();
        let started = Instant::now();
        let container = format!("{}-ping-{}", g.config.container(), Cid::new());
        let opened = open(&g.config, &container)
            .await
            .map_err(|why| g.error(OutgoingErrorKind::BadGateway, why))?;
        let took = started.elapsed();
        opened.close(g.config.timeout_duration()).await;
        Ok(took)
    }
}

/// How a service reaches its AMQP 1.0 connections: `ctx.outgoing().amqp10("broker")?`.
///
/// # Examples
///
/// ```
/// use zato_core::OutgoingConnections;
/// use zato_amqp10::Amqp10Outgoing;
///
/// let conns = OutgoingConnections::new();
/// assert_eq!(conns.amqp10("broker").unwrap_err().status().as_u16(), 503);
/// ```
pub trait Amqp10Outgoing {
    /// The AMQP 1.0 connection named `name`.
    ///
    /// # Errors
    ///
    /// A 503 [`ServiceError`] naming the connection when none is defined.
    fn amqp10(&self, name: &str) -> Result<Arc<Amqp10Connection>, ServiceError>;

    /// Registers `conn` under its configured name, replacing any of that name.
    fn add_amqp10(&self, conn: Amqp10Connection) -> Arc<Amqp10Connection>;
}

impl Amqp10Outgoing for OutgoingConnections {
    fn amqp10(&self, name: &str) -> Result<Arc<Amqp10Connection>, ServiceError> {
        self.require::<Amqp10Connection>(name)
    }

    fn add_amqp10(&self, conn: Amqp10Connection) -> Arc<Amqp10Connection> {
        let conn = Arc::new(conn);
        self.insert(conn.name(), conn.clone());
        conn
    }
}

//! [`NatsConnection`]: a client to the NATS servers, swapped whole on reconfiguration, and
//! [`NatsOutgoing`], how a service reaches it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use tokio::sync::watch;
use zato_core::{
    ConfigError, OutgoingConnections, OutgoingError, OutgoingErrorKind, Secret, ServiceError,
};

use crate::config::NatsConnectionConfig;

/// A published message as JetStream acknowledged it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Published {
    /// The stream that took it.
    pub stream: String,
    /// Its sequence number in the stream.
    pub sequence: u64,
    /// Whether the stream had it already (the same `Nats-Msg-Id` within its window).
    pub duplicate: bool,
}

/// A reply to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NatsReply {
    /// Its body.
    pub payload: Bytes,
    /// Its headers, each name with its first value.
    pub headers: Vec<(String, String)>,
}

impl NatsReply {
    /// The first value of the header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a test double sent: the subject, the headers and the body of a publication or a
/// request ([`NatsConnection::recording`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NatsSent {
    /// The subject.
    pub subject: String,
    /// The headers, in the order given.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub payload: Bytes,
    /// How it was sent.
    pub how: NatsSend,
}

/// How a [`NatsSent`] was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NatsSend {
    /// [`NatsConnection::publish`] or [`publish_with_headers`](NatsConnection::publish_with_headers).
    JetStream,
    /// [`NatsConnection::publish_core`].
    Core,
    /// [`NatsConnection::request`].
    Request,
}

/// The NATS test double's record ([`NatsConnection::recording`]): what was sent, a way to make
/// sends fail, and the reply requests get.
#[derive(Debug, Default)]
pub struct NatsRecording {
    sent: zato_core::Recording<NatsSent>,
    reply: Mutex<Option<Bytes>>,
}

impl NatsRecording {
    /// Everything sent so far, oldest first (at most [`zato_core::MAX_RECORDED`]).
    pub fn messages(&self) -> Vec<NatsSent> {
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

    /// Answers every request from now on with `payload`. Until this is called, a request fails
    /// as it does when nobody listens on its subject (a 503).
    pub fn reply_with(&self, payload: impl Into<Bytes>) {
        *self.reply.lock().unwrap_or_else(PoisonError::into_inner) = Some(payload.into());
    }

    fn record(
        &self,
        connection: &str,
        how: NatsSend,
        subject: &str,
        headers: &[(&str, &str)],
        payload: Bytes,
    ) -> Result<(), OutgoingError> {
        let sent = NatsSent {
            subject: subject.to_owned(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            payload,
            how,
        };
        self.sent.record(connection, sent)
    }
}

/// A client and its JetStream context.
struct Wire {
    client: async_nats::Client,
    jetstream: async_nats::jetstream::Context,
}

/// One configuration and its client (none on a test double).
struct Generation {
    config: Arc<NatsConnectionConfig>,
    wire: Option<Wire>,
    number: u64,
}

/// A NATS connection, `outgoing.nats.<name>`: one client (which reconnects by itself), shared
/// by every service publishing or making requests through it.
///
/// Reconfiguring it builds a new client and swaps it in; calls under way finish on the old
/// one, which is drained, and channels consuming through the connection reconnect with the new
/// settings once they have settled the messages they hold.
pub struct NatsConnection {
    current: ArcSwap<Generation>,
    reconfiguring: Mutex<()>,
    changes: watch::Sender<u64>,
    published: AtomicU64,
    failed: AtomicU64,
    /// Set on a test double: what is sent is kept here, and no server is involved.
    recording: Option<Arc<NatsRecording>>,
}

impl std::fmt::Debug for NatsConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.current.load();
        f.debug_struct("NatsConnection")
            .field("name", &g.config.name)
            .field("url", &g.config.url)
            .field("generation", &g.number)
            .finish_non_exhaustive()
    }
}

/// The client options of `config`: its credentials, bounds, and a first connection made in the
/// background, so that a node starts while the servers are down.
pub(crate) fn options(config: &NatsConnectionConfig, label: &str) -> async_nats::ConnectOptions {
    let mut options = async_nats::ConnectOptions::new()
        .name(format!("zato {label}"))
        .connection_timeout(config.timeout_duration())
        .request_timeout(Some(config.request_timeout_duration()))
        .require_tls(config.tls)
        .client_capacity(usize::try_from(config.client_capacity).unwrap_or(2048))
        .retry_on_initial_connect();
    if let Some(user) = &config.username {
        let password = config.password.as_ref().map(Secret::expose).cloned();
        options = options.user_and_password(user.clone(), password.unwrap_or_default());
    }
    if let Some(token) = &config.token {
        options = options.token(token.expose().clone());
    }
    options
}

/// A client for `config`; it connects (and reconnects) in the background.
pub(crate) async fn client(
    config: &NatsConnectionConfig,
    options: async_nats::ConnectOptions,
) -> Result<async_nats::Client, ConfigError> {
    let servers = config
        .servers()
        .map_err(|why| ConfigError::one("url", why))?;
    options
        .connect(servers)
        .await
        .map_err(|e| ConfigError::one("url", format!("cannot make a NATS client: {}", e.kind())))
}

async fn build(config: NatsConnectionConfig, number: u64) -> Result<Generation, ConfigError> {
    ConfigError::check(config.problems())?;
    let client = client(&config, options(&config, &config.name)).await?;
    let mut jetstream = async_nats::jetstream::new(client.clone());
    jetstream.set_timeout(config.timeout_duration());
    Ok(Generation {
        config: Arc::new(config),
        wire: Some(Wire { client, jetstream }),
        number,
    })
}

impl NatsConnection {
    /// A connection for `config`. Its client connects in the background: a server that is
    /// down makes calls fail (and [`ping`](Self::ping) say so), not this.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] listing every problem of the configuration.
    pub async fn new(config: NatsConnectionConfig) -> Result<Self, ConfigError> {
        Ok(NatsConnection {
            current: ArcSwap::from_pointee(build(config, 1).await?),
            reconfiguring: Mutex::new(()),
            changes: watch::Sender::new(1),
            published: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            recording: None,
        })
    }

    /// A test double named `name`: it connects to no server, and keeps what a service sends
    /// through it in the [`NatsRecording`] returned beside it, which can also make calls fail
    /// and answer requests. Register it as any connection ([`NatsOutgoing::add_nats`]), under
    /// the name the service uses.
    ///
    /// # Examples
    ///
    /// ```
    /// use zato_core::OutgoingErrorKind;
    /// use zato_nats::{NatsConnection, NatsSend};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (bus, sent) = NatsConnection::recording("Bus");
    /// bus.publish("invoices.stored", "{}").await.unwrap();
    /// assert_eq!(sent.messages()[0].subject, "invoices.stored");
    /// assert_eq!(sent.messages()[0].how, NatsSend::JetStream);
    ///
    /// let nobody = bus.request("rates", "EUR").await.unwrap_err();
    /// assert_eq!(nobody.kind(), OutgoingErrorKind::Unavailable);
    /// sent.reply_with("1.08");
    /// assert_eq!(&bus.request("rates", "EUR").await.unwrap().payload[..], b"1.08");
    ///
    /// sent.fail(OutgoingErrorKind::Timeout, "no acknowledgement");
    /// let err = bus.publish("invoices.stored", "{}").await.unwrap_err();
    /// assert_eq!(err.kind(), OutgoingErrorKind::Timeout);
    /// # });
    /// ```
    pub fn recording(name: &str) -> (NatsConnection, Arc<NatsRecording>) {
        let recording = Arc::new(NatsRecording::default());
        let config = NatsConnectionConfig {
            name: name.to_owned(),
            ..NatsConnectionConfig::default()
        };
        let conn = NatsConnection {
            current: ArcSwap::from_pointee(Generation {
                config: Arc::new(config),
                wire: None,
                number: 1,
            }),
            reconfiguring: Mutex::new(()),
            changes: watch::Sender::new(1),
            published: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            recording: Some(recording.clone()),
        };
        (conn, recording)
    }

    /// The connection's name.
    pub fn name(&self) -> String {
        self.current.load().config.name.clone()
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<NatsConnectionConfig> {
        self.current.load().config.clone()
    }

    /// Messages JetStream acknowledged, and calls that failed, since the connection was made.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.published.load(Ordering::Relaxed),
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
    /// A [`ConfigError`] when the configuration is invalid or renames the connection; the old
    /// one then stays in force.
    pub async fn reconfigure(&self, config: NatsConnectionConfig) -> Result<(), ConfigError> {
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
        let next = match &self.recording {
            Some(_) => {
                ConfigError::check(config.problems())?;
                Generation {
                    config: Arc::new(config),
                    wire: None,
                    number: 0,
                }
            }
            None => build(config, 0).await?,
        };
        let number = {
            let _serial = self
                .reconfiguring
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let number = self.current.load().number + 1;
            self.current.store(Arc::new(Generation { number, ..next }));
            self.changes.send_replace(number);
            number
        };
        // Calls under way hold their own clone of the old client; drain what it has queued.
        if let Some(wire) = &current.wire {
            let old = wire.client.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(30), old.drain()).await;
            });
        }
        drop(current);
        tracing::info!(connection = %self.name(), generation = number, "nats connection reconfigured");
        Ok(())
    }

    fn active(&self) -> Result<Arc<Generation>, OutgoingError> {
        let g = self.current.load_full();
        if g.config.is_active {
            Ok(g)
        } else {
            Err(OutgoingError::new(
                &g.config.name,
                OutgoingErrorKind::Unavailable,
                "the connection is inactive",
            ))
        }
    }

    fn count<T>(&self, result: &Result<T, OutgoingError>) {
        match result {
            Ok(_) => self.published.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// Publishes `payload` to `subject`, which a JetStream stream takes, and waits (at most
    /// `timeout`) until the stream acknowledges it.
    ///
    /// # Errors
    ///
    /// An error naming the connection: 503 when it is inactive, 504 when no acknowledgement
    /// came in time, 502 when the server refused it or no stream takes the subject.
    pub async fn publish(
        &self,
        subject: &str,
        payload: impl Into<Bytes>,
    ) -> Result<Published, OutgoingError> {
        self.publish_with_headers(subject, &[], payload).await
    }

    /// Like [`publish`](Self::publish), with headers (`Nats-Msg-Id` makes JetStream drop
    /// duplicates).
    ///
    /// # Errors
    ///
    /// As [`publish`](Self::publish); a header name or value that NATS cannot carry is a 502
    /// naming it.
    pub async fn publish_with_headers(
        &self,
        subject: &str,
        headers: &[(&str, &str)],
        payload: impl Into<Bytes>,
    ) -> Result<Published, OutgoingError> {
        let result = async {
            let g = self.active()?;
            let name = &g.config.name;
            let Some(wire) = &g.wire else {
                let payload = payload.into();
                let recording = self.recording.as_ref().ok_or_else(|| unwired(name))?;
                recording.record(name, NatsSend::JetStream, subject, headers, payload)?;
                return Ok(Published {
                    stream: "recording".to_owned(),
                    sequence: u64::try_from(recording.sent.len()).unwrap_or(u64::MAX),
                    duplicate: false,
                });
            };
            let headers = header_map(name, headers)?;
            let failed = |kind, what: String| OutgoingError::new(name, kind, what);
            let ack = wire
                .jetstream
                .publish_with_headers(subject.to_owned(), headers, payload.into())
                .await
                .map_err(|e| {
                    failed(
                        OutgoingErrorKind::BadGateway,
                        format!("could not publish to `{subject}`: {e}"),
                    )
                })?;
            let ack = ack.await.map_err(|e| {
                use async_nats::jetstream::context::PublishErrorKind as K;
                let kind = match e.kind() {
                    K::TimedOut => OutgoingErrorKind::Timeout,
                    _ => OutgoingErrorKind::BadGateway,
                };
                failed(
                    kind,
                    format!("JetStream did not acknowledge the message to `{subject}`: {e}"),
                )
            })?;
            Ok(Published {
                stream: ack.stream,
                sequence: ack.sequence,
                duplicate: ack.duplicate,
            })
        }
        .await;
        self.count(&result);
        result
    }

    /// Publishes `payload` to `subject` on core NATS, and waits until the server has it
    /// (a flush): at most once, whoever listens now gets it.
    ///
    /// # Errors
    ///
    /// An error naming the connection: 503 when it is inactive, 504 or 502 when the server
    /// could not be reached in time.
    pub async fn publish_core(
        &self,
        subject: &str,
        payload: impl Into<Bytes>,
    ) -> Result<(), OutgoingError> {
        let result = async {
            let g = self.active()?;
            let name = &g.config.name;
            let Some(wire) = &g.wire else {
                let recording = self.recording.as_ref().ok_or_else(|| unwired(name))?;
                return recording.record(name, NatsSend::Core, subject, &[], payload.into());
            };
            wire.client
                .publish(subject.to_owned(), payload.into())
                .await
                .map_err(|e| {
                    OutgoingError::new(
                        name,
                        OutgoingErrorKind::BadGateway,
                        format!("could not publish to `{subject}`: {e}"),
                    )
                })?;
            match tokio::time::timeout(g.config.timeout_duration(), wire.client.flush()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(OutgoingError::new(
                    name,
                    OutgoingErrorKind::BadGateway,
                    format!("could not reach the server: {e}"),
                )),
                Err(_) => Err(OutgoingError::new(
                    name,
                    OutgoingErrorKind::Timeout,
                    "the server did not take the message in time",
                )),
            }
        }
        .await;
        self.count(&result);
        result
    }

    /// Sends `payload` to `subject` as a request and waits (at most `request_timeout`) for
    /// the reply.
    ///
    /// # Errors
    ///
    /// An error naming the connection: 503 when it is inactive or nobody listens on the
    /// subject, 504 when no reply came in time, 502 when the server could not be reached.
    pub async fn request(
        &self,
        subject: &str,
        payload: impl Into<Bytes>,
    ) -> Result<NatsReply, OutgoingError> {
        let result = async {
            let g = self.active()?;
            let name = &g.config.name;
            let Some(wire) = &g.wire else {
                let recording = self.recording.as_ref().ok_or_else(|| unwired(name))?;
                recording.record(name, NatsSend::Request, subject, &[], payload.into())?;
                let reply = recording
                    .reply
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                return match reply {
                    Some(payload) => Ok(NatsReply {
                        payload,
                        headers: Vec::new(),
                    }),
                    None => Err(OutgoingError::new(
                        name,
                        OutgoingErrorKind::Unavailable,
                        format!("request to `{subject}` failed: nobody listens on the subject"),
                    )),
                };
            };
            let reply = wire
                .client
                .request(subject.to_owned(), payload.into())
                .await
                .map_err(|e| {
                    use async_nats::client::RequestErrorKind as K;
                    let (kind, what) = match e.kind() {
                        K::TimedOut => (OutgoingErrorKind::Timeout, "no reply in time".to_owned()),
                        K::NoResponders => (
                            OutgoingErrorKind::Unavailable,
                            "nobody listens on the subject".to_owned(),
                        ),
                        _ => (OutgoingErrorKind::BadGateway, e.to_string()),
                    };
                    OutgoingError::new(name, kind, format!("request to `{subject}` failed: {what}"))
                })?;
            Ok(NatsReply {
                payload: reply.payload,
                headers: headers_of(reply.headers.as_ref()),
            })
        }
        .await;
        self.count(&result);
        result
    }

    /// Checks that the servers answer: a round trip (a flush) within `timeout`.
    ///
    /// # Errors
    ///
    /// Why they could not be reached, naming the connection.
    pub async fn ping(&self) -> Result<Duration, OutgoingError> {
        let g = self.current.load_full();
        let name = &g.config.name;
        let started = Instant::now();
        let Some(wire) = &g.wire else {
            return Ok(started.elapsed());
        };
        match tokio::time::timeout(g.config.timeout_duration(), wire.client.flush()).await {
            Ok(Ok(()))
                if wire.client.connection_state() == async_nats::connection::State::Connected =>
            {
                Ok(started.elapsed())
            }
            Ok(Ok(())) | Err(_) => Err(OutgoingError::new(
                name,
                OutgoingErrorKind::Timeout,
                format!(
                    "no answer from {} within {:?}",
                    g.config.address(),
                    g.config.timeout_duration()
                ),
            )),
            Ok(Err(e)) => Err(OutgoingError::new(
                name,
                OutgoingErrorKind::BadGateway,
                format!("could not reach {}: {e}", g.config.address()),
            )),
        }
    }
}

/// A connection with neither a client nor a recording: not one this crate builds.
fn unwired(name: &str) -> OutgoingError {
    OutgoingError::new(
        name,
        OutgoingErrorKind::Unavailable,
        "the connection has no client",
    )
}

/// `headers` as NATS carries them.
fn header_map(
    connection: &str,
    headers: &[(&str, &str)],
) -> Result<async_nats::HeaderMap, OutgoingError> {
    let mut map = async_nats::HeaderMap::new();
    for (name, value) in headers {
        let n: async_nats::HeaderName = name.parse().map_err(|_| {
            OutgoingError::new(
                connection,
                OutgoingErrorKind::BadGateway,
                format!("`{name}` cannot be a NATS header name"),
            )
        })?;
        let v: async_nats::HeaderValue = value.parse().map_err(|_| {
            OutgoingError::new(
                connection,
                OutgoingErrorKind::BadGateway,
                format!("the value of header `{name}` cannot be carried by NATS"),
            )
        })?;
        map.insert(n, v);
    }
    Ok(map)
}

/// The headers of a message, each name with its first value.
pub(crate) fn headers_of(headers: Option<&async_nats::HeaderMap>) -> Vec<(String, String)> {
    let Some(headers) = headers else {
        return Vec::new();
    };
    let mut list: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(n, values)| Some((n.to_string(), values.first()?.as_str().to_owned())))
        .collect();
    list.sort();
    list
}

/// How a service reaches its NATS connections: `ctx.outgoing().nats("bus")?`.
///
/// # Examples
///
/// ```
/// use zato_core::OutgoingConnections;
/// use zato_nats::NatsOutgoing;
///
/// let conns = OutgoingConnections::new();
/// assert_eq!(conns.nats("bus").unwrap_err().status().as_u16(), 503);
/// ```
pub trait NatsOutgoing {
    /// The NATS connection named `name`.
    ///
    /// # Errors
    ///
    /// A 503 [`ServiceError`] naming the connection when none is defined.
    fn nats(&self, name: &str) -> Result<Arc<NatsConnection>, ServiceError>;

    /// Registers `conn` under its configured name, replacing any NATS connection of that name.
    fn add_nats(&self, conn: NatsConnection) -> Arc<NatsConnection>;
}

impl NatsOutgoing for OutgoingConnections {
    fn nats(&self, name: &str) -> Result<Arc<NatsConnection>, ServiceError> {
        self.require::<NatsConnection>(name)
    }

    fn add_nats(&self, conn: NatsConnection) -> Arc<NatsConnection> {
        let conn = Arc::new(conn);
        self.insert(conn.name(), conn.clone());
        conn
    }
}

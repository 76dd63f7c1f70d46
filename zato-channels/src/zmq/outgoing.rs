//! [`ZmqConnection`]: a named PUSH or PUB socket that services send through, reconfigured live,
//! and its place in zato-core's outgoing-connection registry.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use zato_core::{ConfigError, OutgoingConnections, OutgoingError, OutgoingErrorKind, ServiceError};

use super::config::{SocketMethod, ZmqConnectionConfig, ZmqOutgoingType};
use super::socket::{OpenError, REBIND_WAIT, attach, context};

/// How many sends may wait for the socket's thread; one more waits for a slot, within its send
/// timeout.
const QUEUED_SENDS: usize = 256;

/// One message for the socket's thread, and where to say how it went.
struct Job {
    frames: Vec<Bytes>,
    deadline: Instant,
    reply: oneshot::Sender<Result<(), ::zmq::Error>>,
}

/// One generation of the connection: a socket on its thread, built from one configuration.
struct Generation {
    config: Arc<ZmqConnectionConfig>,
    /// `None` for an inactive connection. Dropping the last sender ends the thread, once the
    /// messages queued before have been sent.
    jobs: Option<mpsc::Sender<Job>>,
    endpoint: Option<String>,
}

/// A named ZeroMQ outgoing connection (PUSH or PUB), reconfigurable while services send.
///
/// The socket lives on a thread of its own; a send hands it the message and waits, at most the
/// connection's `send_timeout`, for libzmq to queue it. Errors name the connection:
///
/// | what | status |
/// | --- | --- |
/// | the connection is inactive or being closed | 503 |
/// | no room within `send_timeout`: every peer's queue is at `snd_hwm`, or no peer is connected (PUSH) | 504 |
/// | libzmq refused the message | 502 |
///
/// A PUB socket never waits: a subscriber whose queue is full misses the message, and with no
/// subscriber it goes nowhere, as in ZeroMQ. A PUB message's first frame is its topic.
///
/// # Examples
///
/// ```no_run
/// use zato_channels::{ZmqConnection, ZmqConnectionConfig, ZmqOutgoing, ZmqOutgoingType};
/// use zato_core::Platform;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let platform = Platform::new();
/// let config = ZmqConnectionConfig::new("billing", ZmqOutgoingType::Push, "tcp://127.0.0.1:11226");
/// platform.outgoing().add_zmq(ZmqConnection::open(config).await?);
/// // In a service: ctx.outgoing().zmq("billing")?.send(req.raw_request.clone()).await?;
/// platform.outgoing().zmq("billing")?.send_multipart(["invoices", r#"{"id":"1"}"#]).await?;
/// # Ok(()) }
/// ```
pub struct ZmqConnection {
    name: String,
    current: ArcSwap<Generation>,
    reconfiguring: tokio::sync::Mutex<()>,
    stats: Counters,
}

/// What a connection's sends came to, for its metrics.
#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    timeouts: AtomicU64,
    unavailable: AtomicU64,
    failed: AtomicU64,
}

/// How many sends of a connection ended each way, since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ZmqSendStats {
    /// Sends libzmq queued.
    pub sent: u64,
    /// Sends that found no room within the send timeout (504).
    pub timeouts: u64,
    /// Sends refused because the connection was inactive or closing (503).
    pub unavailable: u64,
    /// Sends libzmq refused otherwise (502).
    pub failed: u64,
}

impl fmt::Debug for ZmqConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = self.current.load();
        f.debug_struct("ZmqConnection")
            .field("config", &g.config)
            .field("endpoint", &g.endpoint)
            .finish()
    }
}

impl ZmqConnection {
    /// Opens the connection's socket (bound or connected), unless it is inactive.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`], paths relative to the connection: it is invalid, or libzmq refused its
    /// address.
    pub async fn open(config: ZmqConnectionConfig) -> Result<ZmqConnection, ConfigError> {
        config.validate()?;
        let generation = Generation::open(config)
            .await
            .map_err(OpenError::into_config)?;
        Ok(ZmqConnection {
            name: generation.config.name.clone(),
            current: ArcSwap::from_pointee(generation),
            reconfiguring: tokio::sync::Mutex::new(()),
            stats: Counters::default(),
        })
    }

    /// Replaces the configuration: the new socket is opened, then swapped in; sends already
    /// handed to the old one are still sent (it closes once they are, lingering at most its
    /// send timeout). When both bind the same address the old socket is closed first. On error
    /// the connection keeps its configuration.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`]: the configuration is invalid, names another connection, or libzmq
    /// refused its address.
    pub async fn reconfigure(&self, config: ZmqConnectionConfig) -> Result<(), ConfigError> {
        config.validate()?;
        if config.name != self.name {
            return Err(ConfigError::one(
                "name",
                format!("this is the connection `{}`", self.name),
            ));
        }
        let _one = self.reconfiguring.lock().await;
        let old = self.current.load_full();
        let frees_first = old.jobs.is_some()
            && config.is_active
            && config.socket_method == SocketMethod::Bind
            && old.config.socket_method == SocketMethod::Bind
            && old.config.address == config.address;
        if frees_first {
            // The old socket must let go of the address: new sends wait for the new one.
            let closed = Arc::new(Generation {
                config: old.config.clone(),
                jobs: None,
                endpoint: None,
            });
            self.current.store(closed);
            drop(old);
            let deadline = Instant::now() + REBIND_WAIT;
            loop {
                match Generation::open(config.clone()).await {
                    Ok(g) => {
                        self.current.store(Arc::new(g));
                        break;
                    }
                    Err(e) if e.in_use() && Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(25)).await;
                    }
                    Err(e) => {
                        let previous = (*self.closed_config()).clone();
                        if let Ok(g) = Generation::open(previous).await {
                            self.current.store(Arc::new(g));
                        }
                        return Err(e.into_config());
                    }
                }
            }
        } else {
            let g = Generation::open(config)
                .await
                .map_err(OpenError::into_config)?;
            self.current.store(Arc::new(g));
        }
        tracing::info!(connection = %self.name, "zmq outgoing connection reconfigured");
        Ok(())
    }

    fn closed_config(&self) -> Arc<ZmqConnectionConfig> {
        self.current.load().config.clone()
    }

    /// The connection's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<ZmqConnectionConfig> {
        self.current.load().config.clone()
    }

    /// Where the socket is bound or connected: for a bind to `tcp://host:*`, the port libzmq
    /// picked. `None` while inactive.
    pub fn endpoint(&self) -> Option<String> {
        self.current.load().endpoint.clone()
    }

    /// How many sends ended each way since the connection was opened.
    pub fn stats(&self) -> ZmqSendStats {
        let c = &self.stats;
        ZmqSendStats {
            sent: c.sent.load(Ordering::Relaxed),
            timeouts: c.timeouts.load(Ordering::Relaxed),
            unavailable: c.unavailable.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
        }
    }

    /// Sends a message of one frame.
    ///
    /// # Errors
    ///
    /// An [`OutgoingError`] naming the connection, as in the table on [`ZmqConnection`].
    pub async fn send(&self, body: impl Into<Bytes>) -> Result<(), OutgoingError> {
        self.send_multipart([body.into()]).await
    }

    /// Sends a message of several frames, atomically: a peer gets all of them or none. For PUB,
    /// the first frame is the topic subscribers match.
    ///
    /// # Errors
    ///
    /// An [`OutgoingError`] naming the connection, as in the table on [`ZmqConnection`]; a
    /// message of no frame is refused as a 502.
    pub async fn send_multipart<I, B>(&self, frames: I) -> Result<(), OutgoingError>
    where
        I: IntoIterator<Item = B>,
        B: Into<Bytes>,
    {
        let frames: Vec<Bytes> = frames.into_iter().map(Into::into).collect();
        let result = self.send_frames(frames).await;
        let counter = match &result {
            Ok(()) => &self.stats.sent,
            Err(e) => match e.kind() {
                OutgoingErrorKind::Timeout => &self.stats.timeouts,
                OutgoingErrorKind::Unavailable => &self.stats.unavailable,
                _ => &self.stats.failed,
            },
        };
        counter.fetch_add(1, Ordering::Relaxed);
        result
    }

    async fn send_frames(&self, frames: Vec<Bytes>) -> Result<(), OutgoingError> {
        if frames.is_empty() {
            return Err(self.error(OutgoingErrorKind::BadGateway, "a message needs a frame"));
        }
        let g = self.current.load_full();
        let Some(jobs) = g.jobs.clone() else {
            let why = if g.config.is_active {
                "the connection is being reopened"
            } else {
                "the connection is inactive"
            };
            return Err(self.error(OutgoingErrorKind::Unavailable, why));
        };
        let timeout = g.config.send_timeout;
        let hwm = g.config.snd_hwm;
        drop(g);
        let deadline = Instant::now() + timeout;
        let (reply, outcome) = oneshot::channel();
        let job = Job {
            frames,
            deadline,
            reply,
        };
        let full = || {
            self.error(
                OutgoingErrorKind::Timeout,
                format!(
                    "no room for the message within {timeout:?}: every peer's queue is full \
                     (snd_hwm {hwm}) or no peer is connected"
                ),
            )
        };
        match tokio::time::timeout_at(deadline.into(), jobs.send(job)).await {
            Err(_) => return Err(full()),
            Ok(Err(_)) => {
                return Err(self.error(OutgoingErrorKind::Unavailable, "the socket was closed"));
            }
            Ok(Ok(())) => {}
        }
        // The thread answers by the deadline (its send timeout); the margin covers its turn.
        let margin = deadline + Duration::from_secs(1);
        match tokio::time::timeout_at(margin.into(), outcome).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(::zmq::Error::EAGAIN))) | Err(_) => Err(full()),
            Ok(Ok(Err(e))) => Err(self
                .error(OutgoingErrorKind::BadGateway, format!("send failed: {e}"))
                .with_source(e)),
            Ok(Err(_)) => Err(self.error(OutgoingErrorKind::Unavailable, "the socket was closed")),
        }
    }

    fn error(&self, kind: OutgoingErrorKind, message: impl Into<String>) -> OutgoingError {
        OutgoingError::new(self.name.as_str(), kind, message)
    }
}

impl Generation {
    async fn open(config: ZmqConnectionConfig) -> Result<Generation, OpenError> {
        let config = Arc::new(config);
        if !config.is_active {
            return Ok(Generation {
                config,
                jobs: None,
                endpoint: None,
            });
        }
        let (jobs, rx) = mpsc::channel(QUEUED_SENDS);
        let (ready_tx, ready_rx) = oneshot::channel();
        let thread_config = config.clone();
        std::thread::Builder::new()
            .name("zato-zmq-outgoing".to_owned())
            .spawn(move || match open_socket(&thread_config) {
                Ok((socket, endpoint)) => {
                    let _ = ready_tx.send(Ok(endpoint));
                    send_loop(&socket, rx, &thread_config.name);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            })
            .map_err(|e| OpenError::Thread(format!("cannot start the socket's thread: {e}")))?;
        let endpoint = ready_rx
            .await
            .map_err(|_| OpenError::Thread("the socket's thread ended".to_owned()))??;
        tracing::info!(connection = %config.name, socket_type = %config.socket_type, socket_method = %config.socket_method, %endpoint, "zmq outgoing socket open");
        Ok(Generation {
            config,
            jobs: Some(jobs),
            endpoint: Some(endpoint),
        })
    }
}

fn open_socket(config: &ZmqConnectionConfig) -> Result<(::zmq::Socket, String), OpenError> {
    let bind = config.socket_method == SocketMethod::Bind;
    let err = |error| OpenError::Zmq {
        bind,
        address: config.address.clone(),
        error,
    };
    let kind = match config.socket_type {
        ZmqOutgoingType::Push => ::zmq::PUSH,
        ZmqOutgoingType::Pub => ::zmq::PUB,
    };
    let socket = context().socket(kind).map_err(err)?;
    socket
        .set_sndhwm(i32::try_from(config.snd_hwm).unwrap_or(i32::MAX))
        .map_err(err)?;
    // Messages still queued when the socket closes get this long to leave, in libzmq's own
    // threads; then they are dropped.
    let linger = i32::try_from(config.send_timeout.as_millis()).unwrap_or(i32::MAX);
    socket.set_linger(linger).map_err(err)?;
    // Messages are queued only for peers whose connection is complete: with none, a send
    // waits (within its send timeout) instead of piling up for a peer that may never come.
    socket.set_immediate(true).map_err(err)?;
    let endpoint = attach(&socket, &config.address, bind).map_err(err)?;
    Ok((socket, endpoint))
}

/// The thread's loop: each message sent with what is left of its send timeout. Ends when the
/// last sender is gone, after the messages queued before.
fn send_loop(socket: &::zmq::Socket, mut rx: mpsc::Receiver<Job>, name: &str) {
    let mut timeout_ms = -1;
    while let Some(job) = rx.blocking_recv() {
        let left = job.deadline.saturating_duration_since(Instant::now());
        let result = if left.is_zero() {
            Err(::zmq::Error::EAGAIN)
        } else {
            let ms = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
            let set = if ms == timeout_ms {
                Ok(())
            } else {
                socket.set_sndtimeo(ms).map(|()| timeout_ms = ms)
            };
            set.and_then(|()| socket.send_multipart(job.frames.iter().map(|f| &f[..]), 0))
        };
        if let Err(e) = &result {
            tracing::debug!(connection = %name, error = %e, "zmq send failed");
        }
        let _ = job.reply.send(result);
    }
    tracing::debug!(connection = %name, "zmq outgoing socket closed");
}

/// `ctx.outgoing().zmq("billing")`: ZeroMQ connections in zato-core's registry.
pub trait ZmqOutgoing {
    /// The ZeroMQ connection named `name`.
    ///
    /// # Errors
    ///
    /// A 503 [`ServiceError`] naming the connection when none is defined.
    fn zmq(&self, name: &str) -> Result<Arc<ZmqConnection>, ServiceError>;

    /// Registers `conn` under its name, replacing any ZeroMQ connection of that name.
    fn add_zmq(&self, conn: ZmqConnection) -> Arc<ZmqConnection>;
}

impl ZmqOutgoing for OutgoingConnections {
    fn zmq(&self, name: &str) -> Result<Arc<ZmqConnection>, ServiceError> {
        self.require::<ZmqConnection>(name)
    }

    fn add_zmq(&self, conn: ZmqConnection) -> Arc<ZmqConnection> {
        let conn = Arc::new(conn);
        self.insert(conn.name(), conn.clone());
        conn
    }
}

//! [`MqttConnection`]: an MQTT client publishing with the broker's acknowledgements, its event
//! loop driven by a task of its own, reconfigured live; and its place in zato-core's
//! outgoing-connection registry.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use rumqttc::{AsyncClient, Event, Incoming, Outgoing, QoS, Request};
use tokio::sync::{OnceCell, watch};
use tokio::task::AbortHandle;
use zato_core::{ConfigError, OutgoingConnections, OutgoingError, OutgoingErrorKind, ServiceError};

use crate::config::{MqttConfig, valid_topic};
use crate::link::{Link, Unconfirmed, options};

/// How a publication failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MqttErrorKind {
    /// The connection is inactive.
    Inactive,
    /// The queue of publications stayed full, or the client is closed.
    Unavailable,
    /// The broker did not acknowledge it in time (it may still arrive: at least once).
    Timeout,
    /// The topic is not one to publish to (empty, or with a wildcard).
    Topic,
    /// The publication is larger than the connection's `max_packet_size`.
    TooLarge,
}

/// A failure of an MQTT outgoing connection, naming it. Holds no secret.
#[derive(Debug, thiserror::Error)]
#[error("mqtt connection `{connection}`: {message}")]
pub struct MqttError {
    connection: String,
    kind: MqttErrorKind,
    message: String,
}

impl MqttError {
    fn new(connection: &str, kind: MqttErrorKind, message: impl Into<String>) -> Self {
        MqttError {
            connection: connection.to_owned(),
            kind,
            message: message.into(),
        }
    }

    /// How it failed.
    pub fn kind(&self) -> MqttErrorKind {
        self.kind
    }
}

impl From<MqttError> for ServiceError {
    fn from(e: MqttError) -> Self {
        let kind = match e.kind {
            MqttErrorKind::Inactive | MqttErrorKind::Unavailable => OutgoingErrorKind::Unavailable,
            MqttErrorKind::Timeout => OutgoingErrorKind::Timeout,
            MqttErrorKind::Topic | MqttErrorKind::TooLarge => OutgoingErrorKind::BadGateway,
        };
        let outgoing = OutgoingError::new(e.connection.clone(), kind, e.message.clone());
        ServiceError::Outgoing(outgoing.with_source(e))
    }
}

/// A message to publish.
///
/// # Examples
///
/// ```
/// use zato_mqtt::{MqttMessage, QoS};
///
/// let message = MqttMessage::new("invoices/42", r#"{"id":"42"}"#).with_qos(QoS::ExactlyOnce).retained();
/// assert!(message.retain);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MqttMessage {
    /// The topic.
    pub topic: String,
    /// The payload.
    pub payload: Vec<u8>,
    /// The QoS: at least once unless set.
    pub qos: QoS,
    /// Whether the broker retains it for later subscribers.
    pub retain: bool,
}

impl MqttMessage {
    /// A message to `topic`, at QoS 1, not retained.
    pub fn new(topic: impl Into<String>, payload: impl Into<Vec<u8>>) -> Self {
        MqttMessage {
            topic: topic.into(),
            payload: payload.into(),
            qos: QoS::AtLeastOnce,
            retain: false,
        }
    }

    /// The same at `qos`.
    pub fn with_qos(mut self, qos: QoS) -> Self {
        self.qos = qos;
        self
    }

    /// The same, retained by the broker.
    pub fn retained(mut self) -> Self {
        self.retain = true;
        self
    }
}

/// The running client of a generation: its link and its event loop's task.
struct Running {
    link: Arc<Link>,
    task: AbortHandle,
}

struct Generation {
    config: Arc<MqttConfig>,
    number: u64,
    running: OnceCell<Running>,
}

impl Drop for Generation {
    /// Says goodbye (`DISCONNECT`, so the will is not published), within a few seconds.
    fn drop(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            running.task.abort();
            return;
        };
        rt.spawn(async move {
            let _ = running.link.client.try_disconnect();
            tokio::time::sleep(Duration::from_secs(5)).await;
            running.task.abort();
        });
    }
}

/// A snapshot of what a connection did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MqttStats {
    /// How many times the connection was configured (1 for a new one).
    pub generation: u64,
    /// Publications the broker acknowledged (or, at QoS 0, that were written).
    pub published: u64,
    /// Publications that failed.
    pub failed: u64,
    /// Times the client lost the broker.
    pub disconnects: u64,
}

#[derive(Debug, Default)]
struct Counters {
    published: AtomicU64,
    failed: AtomicU64,
    disconnects: AtomicU64,
}

/// A named MQTT outgoing connection: publishes at QoS 0, 1 or 2, retained or not, waiting for
/// the broker's acknowledgement; its will (if configured) is published by the broker when it
/// goes away without saying goodbye.
///
/// It connects at the first publication and reconnects by itself; at most `max_in_flight`
/// publications await their acknowledgement at once, at most `queue_size` wait to be sent, and
/// each waits at most `publish_timeout`.
///
/// # Examples
///
/// ```no_run
/// use zato_mqtt::{MqttConfig, MqttConnection, MqttMessage, QoS};
///
/// # async fn run() -> Result<(), zato_mqtt::MqttError> {
/// let broker = MqttConnection::new(MqttConfig::new("broker", "mqtt://127.0.0.1:1883"))
///     .expect("a valid configuration");
/// broker.publish(&MqttMessage::new("invoices/42", r#"{"id":"42"}"#).with_qos(QoS::ExactlyOnce)).await?;
/// # Ok(()) }
/// ```
pub struct MqttConnection {
    current: ArcSwap<Generation>,
    reconfiguring: Mutex<()>,
    changes: watch::Sender<u64>,
    counters: Arc<Counters>,
    /// Set on a test double: publications are kept here, and no broker is involved.
    recording: Option<Arc<MqttRecording>>,
}

/// What a recording [`MqttConnection`] was asked to publish, and whether it fails: the MQTT
/// test double, [`MqttConnection::recording`].
pub type MqttRecording = zato_core::Recording<MqttMessage>;

impl fmt::Debug for MqttConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttConnection")
            .field("config", &self.current.load().config)
            .field("stats", &self.stats())
            .finish()
    }
}

fn build(config: MqttConfig, number: u64) -> Result<Generation, ConfigError> {
    ConfigError::check(config.problems())?;
    options(&config, &config.client_id(), true)?;
    Ok(Generation {
        config: Arc::new(config),
        number,
        running: OnceCell::new(),
    })
}

/// The size of `message` as an MQTT 3.1.1 PUBLISH packet: the fixed header with its remaining
/// length, the topic, the packet id (QoS 1, 2) and the payload.
fn packet_size(message: &MqttMessage) -> u64 {
    let pkid = if message.qos == QoS::AtMostOnce { 0 } else { 2 };
    let remaining = (2 + message.topic.len() + pkid + message.payload.len()) as u64;
    let length_bytes = match remaining {
        0..128 => 1,
        128..16_384 => 2,
        16_384..2_097_152 => 3,
        _ => 4,
    };
    1 + length_bytes + remaining
}

/// Drives a client's event loop until it is told to stop (its task aborted) or it said goodbye.
async fn drive(
    mut eventloop: rumqttc::EventLoop,
    link: Arc<Link>,
    name: String,
    counters: Arc<Counters>,
) {
    let mut attempt = 0u32;
    // What the client had not yet seen acknowledged when it lost the broker: rumqttc keeps it
    // for the next connection, but drops it when the broker starts a new session (always, for a
    // clean session), and with it every publication still queued in the client. Each of those has
    // a caller waiting, paired by order (see `Link`): it is sent again on the new connection, in
    // the same order, so no caller waits in vain and the pairing stays in step.
    let mut unsent: VecDeque<Request> = VecDeque::new();
    loop {
        match eventloop.poll().await {
            Ok(event) => {
                if let Event::Incoming(Incoming::ConnAck(_)) = &event {
                    attempt = 0;
                    let newer = std::mem::take(&mut eventloop.pending);
                    eventloop.pending = std::mem::take(&mut unsent);
                    eventloop.pending.extend(newer);
                }
                link.on_event(&event);
                if let Event::Outgoing(Outgoing::Disconnect) = event {
                    return;
                }
            }
            Err(rumqttc::ConnectionError::RequestsDone) => return,
            Err(e) => {
                unsent.extend(
                    eventloop
                        .pending
                        .drain(..)
                        .filter(|r| matches!(r, Request::Publish(_) | Request::PubRel(_))),
                );
                counters.disconnects.fetch_add(1, Ordering::Relaxed);
                let delay = crate::consumer::backoff(attempt);
                attempt = attempt.saturating_add(1);
                tracing::warn!(connection = %name, error = %e, retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "mqtt connection lost its broker; reconnecting");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

impl MqttConnection {
    /// A connection for `config`. Nothing is sent until the first publication.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] listing the configuration's problems.
    pub fn new(config: MqttConfig) -> Result<Self, ConfigError> {
        Ok(MqttConnection {
            current: ArcSwap::from_pointee(build(config, 1)?),
            reconfiguring: Mutex::new(()),
            changes: watch::channel(1).0,
            counters: Arc::default(),
            recording: None,
        })
    }

    /// A test double named `name`: it connects to no broker, and keeps every message a service
    /// publishes through it in the [`MqttRecording`] returned beside it, which can also make
    /// publications fail. Register it as any connection ([`MqttOutgoing::add_mqtt`]), under the
    /// name the service uses.
    ///
    /// # Examples
    ///
    /// ```
    /// use zato_core::OutgoingErrorKind;
    /// use zato_mqtt::{MqttConnection, MqttMessage};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (broker, sent) = MqttConnection::recording("Plant");
    /// broker.publish(&MqttMessage::new("invoices/42", "{}").retained()).await.unwrap();
    /// assert!(sent.messages()[0].retain);
    ///
    /// sent.fail(OutgoingErrorKind::Unavailable, "the broker is down");
    /// let err = broker.publish(&MqttMessage::new("invoices/43", "{}")).await.unwrap_err();
    /// assert_eq!(err.to_string(), "mqtt connection `Plant`: the broker is down");
    /// // Checked as by a real connection: no wildcard in a topic to publish to.
    /// sent.succeed();
    /// assert!(broker.publish(&MqttMessage::new("invoices/+", "{}")).await.is_err());
    /// # });
    /// ```
    pub fn recording(name: &str) -> (MqttConnection, Arc<MqttRecording>) {
        let recording = Arc::new(MqttRecording::default());
        let config = MqttConfig::new(name, "mqtt://127.0.0.1:1883");
        let conn = MqttConnection {
            current: ArcSwap::from_pointee(Generation {
                config: Arc::new(config),
                number: 1,
                running: OnceCell::new(),
            }),
            reconfiguring: Mutex::new(()),
            changes: watch::channel(1).0,
            counters: Arc::default(),
            recording: Some(recording.clone()),
        };
        (conn, recording)
    }

    /// The connection's name.
    pub fn name(&self) -> String {
        self.current.load().config.name.clone()
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<MqttConfig> {
        self.current.load().config.clone()
    }

    /// Hears of each reconfiguration.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Replaces the configuration while messages flow: publications already sent finish on the
    /// old client, which then says goodbye; the channels using it reconnect with the new
    /// settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when the configuration is invalid or renames the connection; the old one
    /// stays in force.
    pub fn reconfigure(&self, config: MqttConfig) -> Result<(), ConfigError> {
        let _serial = self
            .reconfiguring
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let current = self.current.load_full();
        if config.name != current.config.name {
            return Err(ConfigError::one(
                "name",
                "cannot rename a connection by reconfiguring it; add a new one instead",
            ));
        }
        let next = build(config, current.number + 1)?;
        let number = next.number;
        self.current.store(Arc::new(next));
        self.changes.send_replace(number);
        tracing::info!(connection = %current.config.name, generation = number, "mqtt connection reconfigured");
        Ok(())
    }

    /// What the connection did.
    pub fn stats(&self) -> MqttStats {
        MqttStats {
            generation: self.current.load().number,
            published: self.counters.published.load(Ordering::Relaxed),
            failed: self.counters.failed.load(Ordering::Relaxed),
            disconnects: self.counters.disconnects.load(Ordering::Relaxed),
        }
    }

    /// Publishes `message` and waits until the broker acknowledged it (`PUBACK` at QoS 1,
    /// `PUBCOMP` at QoS 2) or, at QoS 0, until it was written.
    ///
    /// # Errors
    ///
    /// An [`MqttError`]: inactive, a bad topic, the queue full for `publish_timeout`, or no
    /// acknowledgement in time.
    pub async fn publish(&self, message: &MqttMessage) -> Result<(), MqttError> {
        let g = self.current.load_full();
        let name = g.config.name.as_str();
        let result = self.publish_on(&g, message).await;
        match &result {
            Ok(()) => self.counters.published.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.counters.failed.fetch_add(1, Ordering::Relaxed),
        };
        result.map_err(|(kind, message)| MqttError::new(name, kind, message))
    }

    async fn publish_on(
        &self,
        g: &Generation,
        message: &MqttMessage,
    ) -> Result<(), (MqttErrorKind, String)> {
        if !g.config.is_active {
            return Err((
                MqttErrorKind::Inactive,
                "the connection is not active".to_owned(),
            ));
        }
        if !valid_topic(&message.topic) {
            return Err((
                MqttErrorKind::Topic,
                format!(
                    "cannot publish to {:?}: a topic has no wildcards and is not empty",
                    message.topic
                ),
            ));
        }
        // The client would fail the whole connection over a packet above its limit, and the
        // publications queued behind it with it: refused here instead.
        let size = packet_size(message);
        if size > g.config.max_packet_size {
            return Err((
                MqttErrorKind::TooLarge,
                format!(
                    "cannot publish {size} bytes to {:?}: the connection's max_packet_size is {}",
                    message.topic, g.config.max_packet_size
                ),
            ));
        }
        if let Some(recording) = &self.recording {
            return recording
                .record(&g.config.name, message.clone())
                .map_err(|e| {
                    let kind = match e.kind() {
                        OutgoingErrorKind::Timeout => MqttErrorKind::Timeout,
                        _ => MqttErrorKind::Unavailable,
                    };
                    (kind, e.message().to_owned())
                });
        }
        let running = g
            .running
            .get_or_try_init(|| async {
                let options = options(&g.config, &g.config.client_id(), true)
                    .map_err(|e| (MqttErrorKind::Unavailable, e.to_string()))?;
                let cap = usize::try_from(g.config.queue_size).unwrap_or(100).max(1);
                let (client, eventloop) = AsyncClient::new(options, cap);
                let link = Arc::new(Link::new(client));
                let task = tokio::spawn(drive(
                    eventloop,
                    link.clone(),
                    g.config.name.clone(),
                    self.counters.clone(),
                ));
                Ok::<_, (MqttErrorKind, String)>(Running {
                    link,
                    task: task.abort_handle(),
                })
            })
            .await?;
        let limit = g.config.publish_timeout();
        running
            .link
            .publish(
                &message.topic,
                message.qos,
                message.retain,
                message.payload.clone(),
                limit,
            )
            .await
            .map_err(|e| match e {
                Unconfirmed::TimedOut => (
                    MqttErrorKind::Timeout,
                    format!("the broker did not acknowledge the publication within {limit:?}"),
                ),
                Unconfirmed::Full => (
                    MqttErrorKind::Unavailable,
                    format!("the queue of publications stayed full for {limit:?}"),
                ),
                Unconfirmed::Refused(why) => (MqttErrorKind::Unavailable, why),
            })
    }

    /// Connects a client of its own with the connection's settings (its own client id, a clean
    /// session, no will) and waits for the broker's `CONNACK`; how long it took.
    ///
    /// # Errors
    ///
    /// Why the broker could not be reached or refused, in one line.
    pub async fn ping(&self) -> Result<Duration, MqttError> {
        let config = self.config();
        let name = config.name.clone();
        let mut probe = MqttConfig::clone(&config);
        probe.will = None;
        let id = format!("zato.ping.{}.{}", std::process::id(), rand::random::<u32>());
        let options = options(&probe, &id, true)
            .map_err(|e| MqttError::new(&name, MqttErrorKind::Unavailable, e.to_string()))?;
        let (client, mut eventloop) = AsyncClient::new(options, 10);
        let started = Instant::now();
        let limit = Duration::from_secs(u64::from(config.connect_timeout)) + Duration::from_secs(1);
        let connected = tokio::time::timeout(limit, async {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Incoming::ConnAck(_))) => return Ok(()),
                    Ok(_) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
        })
        .await;
        let took = started.elapsed();
        let _ = client.try_disconnect();
        let _ = tokio::time::timeout(Duration::from_secs(1), eventloop.poll()).await;
        match connected {
            Ok(Ok(())) => Ok(took),
            Ok(Err(why)) => Err(MqttError::new(&name, MqttErrorKind::Unavailable, why)),
            Err(_) => Err(MqttError::new(
                &name,
                MqttErrorKind::Timeout,
                format!("no CONNACK within {limit:?}"),
            )),
        }
    }
}

/// Reaches MQTT connections of zato-core's outgoing-connection registry by name:
/// `ctx.outgoing().mqtt("broker")?`.
///
/// # Examples
///
/// ```
/// use zato_core::OutgoingConnections;
/// use zato_mqtt::{MqttConfig, MqttConnection, MqttOutgoing};
///
/// let conns = OutgoingConnections::new();
/// conns.add_mqtt(MqttConnection::new(MqttConfig::new("broker", "mqtt://127.0.0.1")).unwrap());
/// assert!(conns.mqtt("broker").is_ok());
/// assert_eq!(conns.mqtt("other").unwrap_err().status().as_u16(), 503);
/// ```
pub trait MqttOutgoing {
    /// The MQTT connection named `name`.
    ///
    /// # Errors
    ///
    /// A 503 [`ServiceError`] naming the connection when none is defined.
    fn mqtt(&self, name: &str) -> Result<Arc<MqttConnection>, ServiceError>;

    /// Registers `conn` under its configured name, replacing any MQTT connection of that name.
    fn add_mqtt(&self, conn: MqttConnection) -> Arc<MqttConnection>;
}

impl MqttOutgoing for OutgoingConnections {
    fn mqtt(&self, name: &str) -> Result<Arc<MqttConnection>, ServiceError> {
        self.require::<MqttConnection>(name)
    }

    fn add_mqtt(&self, conn: MqttConnection) -> Arc<MqttConnection> {
        let conn = Arc::new(conn);
        self.insert(conn.name(), conn.clone());
        conn
    }
}

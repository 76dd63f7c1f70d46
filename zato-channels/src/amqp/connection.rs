//! [`AmqpConnection`]: a broker connection defined by configuration, publishing with publisher
//! confirms through a bounded pool of channels, reconfigured live.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use bb8::{ManageConnection, Pool, RunError};
use bytes::Bytes;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use tokio::sync::watch;
use zato_core::telemetry::{self, Span, SpanKind, attr};
use zato_core::{ConfigError, OutgoingConnections, OutgoingError, OutgoingErrorKind, ServiceError};

use super::config::AmqpConnectionConfig;

/// Opens a broker connection with `config`, within its timeout.
pub(crate) async fn open(
    config: &AmqpConnectionConfig,
    purpose: &str,
) -> Result<Connection, OutgoingError> {
    let props =
        ConnectionProperties::default().with_connection_name(format!("zato {purpose}").into());
    let uri = config.uri();
    match tokio::time::timeout(
        config.timeout_duration(),
        Connection::connect_uri(uri, props),
    )
    .await
    {
        Ok(Ok(conn)) => Ok(conn),
        // lapin's messages name the broker's reason (ACCESS_REFUSED, a refused connection);
        // they never hold the password, which travels only inside the SASL frame.
        Ok(Err(e)) => Err(OutgoingError::new(
            &config.name,
            OutgoingErrorKind::BadGateway,
            format!("cannot connect to {}: {e}", config.address()),
        )),
        Err(_) => Err(OutgoingError::new(
            &config.name,
            OutgoingErrorKind::Timeout,
            format!(
                "no connection to {} within {:?}",
                config.address(),
                config.timeout_duration()
            ),
        )),
    }
}

/// The broker connection of one configuration, opened on first use and opened again when the
/// broker drops it.
struct Broker {
    config: Arc<AmqpConnectionConfig>,
    slot: tokio::sync::Mutex<Option<Arc<Connection>>>,
}

impl Broker {
    async fn connection(&self) -> Result<Arc<Connection>, OutgoingError> {
        let mut slot = self.slot.lock().await;
        if let Some(conn) = slot.as_ref()
            && conn.status().connected()
        {
            return Ok(conn.clone());
        }
        let conn = Arc::new(open(&self.config, &format!("outgoing {}", self.config.name)).await?);
        *slot = Some(conn.clone());
        Ok(conn)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        // The last handle on an old configuration is gone: close its connection politely.
        let conn = self.slot.get_mut().take();
        if let (Some(conn), Ok(rt)) = (conn, tokio::runtime::Handle::try_current()) {
            rt.spawn(async move {
                let _ = conn.close(200, "reconfigured".into()).await;
            });
        }
    }
}

/// Hands out confirm-mode channels of one broker connection.
struct Manager {
    broker: Arc<Broker>,
}

impl ManageConnection for Manager {
    type Connection = Channel;
    type Error = OutgoingError;

    async fn connect(&self) -> Result<Channel, OutgoingError> {
        let broker = self.broker.connection().await?;
        let failed = |e: lapin::Error| {
            OutgoingError::new(
                &self.broker.config.name,
                OutgoingErrorKind::BadGateway,
                format!("cannot open a channel: {e}"),
            )
        };
        let channel = broker.create_channel().await.map_err(failed)?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(failed)?;
        Ok(channel)
    }

    async fn is_valid(&self, channel: &mut Channel) -> Result<(), OutgoingError> {
        if channel.status().connected() {
            Ok(())
        } else {
            Err(OutgoingError::new(
                &self.broker.config.name,
                OutgoingErrorKind::BadGateway,
                "the channel was closed",
            ))
        }
    }

    fn has_broken(&self, channel: &mut Channel) -> bool {
        !channel.status().connected()
    }
}

/// One configuration's pool.
struct Generation {
    config: Arc<AmqpConnectionConfig>,
    broker: Arc<Broker>,
    pool: Pool<Manager>,
    number: u64,
}

fn build(config: AmqpConnectionConfig, number: u64) -> Generation {
    let config = Arc::new(config);
    let broker = Arc::new(Broker {
        config: config.clone(),
        slot: tokio::sync::Mutex::new(None),
    });
    let pool = Pool::builder()
        .max_size(config.pool_size)
        .min_idle(Some(0))
        .connection_timeout(config.pool_wait_duration())
        .retry_connection(false)
        .test_on_check_out(true)
        .idle_timeout(None)
        .max_lifetime(None)
        .build_unchecked(Manager {
            broker: broker.clone(),
        });
    Generation {
        config,
        broker,
        pool,
        number,
    }
}

/// A message to publish.
///
/// # Examples
///
/// ```
/// use zato_channels::amqp::AmqpMessage;
///
/// let message = AmqpMessage::new("", "invoices", r#"{"id":"300","target":["CRM"]}"#)
///     .with_content_type("application/json")
///     .with_header("source", "billing");
/// assert_eq!(message.routing_key, "invoices");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AmqpMessage {
    /// The exchange; empty is the default exchange, which routes by queue name.
    pub exchange: String,
    /// The routing key.
    pub routing_key: String,
    /// The body.
    pub body: Bytes,
    /// Its media type.
    pub content_type: Option<String>,
    /// Headers, as text.
    pub headers: Vec<(String, String)>,
    /// The correlation id of a request or reply.
    pub correlation_id: Option<String>,
    /// Where the reply to a request goes.
    pub reply_to: Option<String>,
    /// Whether the broker keeps it on disk (delivery mode 2); true by default.
    pub persistent: bool,
    /// Whether a message no queue takes is an error (it comes back); true by default.
    pub mandatory: bool,
}

impl AmqpMessage {
    /// A persistent, mandatory message with `body` for `routing_key` on `exchange`.
    pub fn new(
        exchange: impl Into<String>,
        routing_key: impl Into<String>,
        body: impl Into<Bytes>,
    ) -> Self {
        AmqpMessage {
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            body: body.into(),
            content_type: None,
            headers: Vec::new(),
            correlation_id: None,
            reply_to: None,
            persistent: true,
            mandatory: true,
        }
    }

    /// The same message with a media type.
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// The same message with one more header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The same message with a correlation id.
    pub fn with_correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// The same message with a queue for the reply.
    pub fn with_reply_to(mut self, queue: impl Into<String>) -> Self {
        self.reply_to = Some(queue.into());
        self
    }

    /// The same message, mandatory or not.
    pub fn with_mandatory(mut self, mandatory: bool) -> Self {
        self.mandatory = mandatory;
        self
    }

    pub(crate) fn properties(&self) -> BasicProperties {
        let mut props = BasicProperties::default();
        if self.persistent {
            props = props.with_delivery_mode(2);
        }
        if let Some(ct) = &self.content_type {
            props = props.with_content_type(ShortString::from(ct.as_str()));
        }
        if let Some(id) = &self.correlation_id {
            props = props.with_correlation_id(ShortString::from(id.as_str()));
        }
        if let Some(to) = &self.reply_to {
            props = props.with_reply_to(ShortString::from(to.as_str()));
        }
        if !self.headers.is_empty() {
            let mut table = FieldTable::default();
            for (k, v) in &self.headers {
                table.insert(
                    ShortString::from(k.as_str()),
                    AMQPValue::LongString(LongString::from(v.as_bytes())),
                );
            }
            props = props.with_headers(table);
        }
        props
    }
}

/// Publishes `props` and `body` on `channel` and waits for the broker's confirm, within
/// `limit`. The error says what happened, for [`OutgoingError`]s naming the connection.
pub(crate) async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    mandatory: bool,
    body: &[u8],
    props: BasicProperties,
    limit: Duration,
) -> Result<(), (OutgoingErrorKind, String)> {
    let publish = async {
        let confirm = channel
            .basic_publish(
                ShortString::from(exchange),
                ShortString::from(routing_key),
                BasicPublishOptions {
                    mandatory,
                    immediate: false,
                },
                body,
                props,
            )
            .await
            .map_err(|e| {
                (
                    OutgoingErrorKind::BadGateway,
                    format!("publish failed: {e}"),
                )
            })?;
        confirm
            .await
            .map_err(|e| (OutgoingErrorKind::BadGateway, format!("no confirm: {e}")))
    };
    match tokio::time::timeout(limit, publish).await {
        Err(_) => Err((
            OutgoingErrorKind::Timeout,
            format!("the broker did not confirm within {limit:?}"),
        )),
        Ok(Err(e)) => Err(e),
        Ok(Ok(Confirmation::Ack(None) | Confirmation::NotRequested)) => Ok(()),
        Ok(Ok(Confirmation::Ack(Some(returned)))) => Err((
            OutgoingErrorKind::BadGateway,
            format!(
                "no queue is bound for exchange {exchange:?} and routing key {routing_key:?} ({} {})",
                returned.reply_code,
                returned.reply_text.as_str()
            ),
        )),
        Ok(Ok(Confirmation::Nack(_))) => Err((
            OutgoingErrorKind::BadGateway,
            "the broker refused the message (nack)".to_owned(),
        )),
    }
}

/// A named AMQP broker connection: services publish through it with publisher confirms, and
/// AMQP channels consume through it. Reconfigured while messages flow.
pub struct AmqpConnection {
    current: ArcSwap<Generation>,
    reconfiguring: Mutex<()>,
    changes: watch::Sender<u64>,
    published: AtomicU64,
    failed: AtomicU64,
    /// Set on a test double: publications are kept here, and no broker is involved.
    recording: Option<Arc<Recording>>,
}

pub use zato_core::MAX_RECORDED;

/// What a recording [`AmqpConnection`] was asked to publish, and whether it fails: the AMQP
/// test double, [`AmqpConnection::recording`].
pub type Recording = zato_core::Recording<AmqpMessage>;

impl fmt::Debug for AmqpConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = self.current.load();
        f.debug_struct("AmqpConnection")
            .field("config", &g.config)
            .field("generation", &g.number)
            .finish()
    }
}

/// A snapshot of a connection's publishing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AmqpStats {
    /// How many times it was configured (1 for a new one).
    pub generation: u64,
    /// The configured most channels.
    pub max_size: u32,
    /// Channels open now.
    pub size: u32,
    /// Channels checked out now.
    pub in_use: u32,
    /// Messages the broker confirmed.
    pub published: u64,
    /// Publications that failed.
    pub failed: u64,
}

impl AmqpConnection {
    /// A connection for `config`. Nothing is sent until the first publication.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] listing every problem of the configuration.
    pub fn new(mut config: AmqpConnectionConfig) -> Result<Self, ConfigError> {
        config.split_url()?;
        ConfigError::check(config.problems())?;
        Ok(AmqpConnection {
            current: ArcSwap::from_pointee(build(config, 1)),
            reconfiguring: Mutex::new(()),
            changes: watch::Sender::new(1),
            published: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            recording: None,
        })
    }

    /// A test double named `name`: it connects to no broker, and keeps every message a service
    /// publishes through it in the [`Recording`] returned beside it, which can also make
    /// publications fail. Register it as any connection ([`AmqpOutgoing::add_amqp`]), under the
    /// name the service uses.
    ///
    /// # Examples
    ///
    /// ```
    /// use zato_channels::amqp::{AmqpConnection, AmqpMessage};
    /// use zato_core::OutgoingErrorKind;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, sent) = AmqpConnection::recording("Billing");
    /// conn.publish(&AmqpMessage::new("", "invoices", "{}")).await.unwrap();
    /// assert_eq!(sent.messages()[0].routing_key, "invoices");
    ///
    /// sent.fail(OutgoingErrorKind::Unavailable, "the broker is down");
    /// let err = conn.publish(&AmqpMessage::new("", "invoices", "{}")).await.unwrap_err();
    /// assert_eq!(err.to_string(), "outgoing connection `Billing`: the broker is down");
    /// # });
    /// ```
    pub fn recording(name: &str) -> (AmqpConnection, Arc<Recording>) {
        let config = AmqpConnectionConfig {
            name: name.to_owned(),
            ..AmqpConnectionConfig::default()
        };
        let recording = Arc::new(Recording::default());
        let conn = AmqpConnection {
            current: ArcSwap::from_pointee(build(config, 1)),
            reconfiguring: Mutex::new(()),
            changes: watch::Sender::new(1),
            published: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            recording: Some(Arc::clone(&recording)),
        };
        (conn, recording)
    }

    /// The connection's name.
    pub fn name(&self) -> String {
        self.current.load().config.name.clone()
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<AmqpConnectionConfig> {
        self.current.load().config.clone()
    }

    /// Notified each time the configuration changes, for channels consuming through it.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Replaces the configuration while messages flow: the new pool is built and swapped in;
    /// publications under way finish on the old one, whose broker connection is closed once
    /// they are done, and channels consuming through this connection reconnect with the new
    /// settings after finishing and acknowledging the messages they hold.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when the configuration is invalid or renames the connection; the old
    /// one then stays in force.
    pub fn reconfigure(&self, mut config: AmqpConnectionConfig) -> Result<(), ConfigError> {
        let _serial = self
            .reconfiguring
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        config.split_url()?;
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
        let number = current.number + 1;
        self.current.store(Arc::new(build(config, number)));
        self.changes.send_replace(number);
        tracing::info!(connection = %current.config.name, generation = number, "amqp connection reconfigured");
        Ok(())
    }

    /// Publishes `message` and waits until the broker confirms it (within `timeout`).
    ///
    /// # Errors
    ///
    /// An error naming the connection: 503 when it is inactive or no channel became free within
    /// `pool_wait`, 504 when the broker did not confirm in time, 502 when it could not be
    /// reached, refused the message, or no queue took a mandatory one.
    pub async fn publish(&self, message: &AmqpMessage) -> Result<(), OutgoingError> {
        let g = self.current.load_full();
        // When tracing is on: a producer span under the caller's, and the trace context in the
        // message's headers, so that the consumer continues the trace.
        let mut otel = Span::none();
        let traced;
        let message = match telemetry::current() {
            None => message,
            Some(cur) => {
                let destination = if message.exchange.is_empty() {
                    message.routing_key.clone()
                } else {
                    message.exchange.clone()
                };
                otel = cur
                    .child(format!("publish {destination}"), SpanKind::Producer)
                    .attr(attr::MESSAGING_SYSTEM, "rabbitmq")
                    .attr(attr::MESSAGING_OPERATION_TYPE, "publish")
                    .attr(attr::MESSAGING_DESTINATION_NAME, destination)
                    .attr(
                        "messaging.rabbitmq.destination.routing_key",
                        message.routing_key.clone(),
                    )
                    .attr(attr::ZATO_CONNECTION, g.config.name.clone())
                    .start();
                let mut copy = message.clone();
                if let Some(ctx) = otel.context() {
                    copy.headers.retain(|(k, _)| !telemetry::is_trace_header(k));
                    for (k, v) in ctx.headers() {
                        copy.headers.push((k.to_owned(), v));
                    }
                }
                traced = copy;
                &traced
            }
        };
        let result = match &self.recording {
            Some(recording) => recording.record(&g.config.name, message.clone()),
            None => self.publish_on(&g, message).await,
        };
        if let Err(e) = &result {
            otel.error(&e.to_string());
        }
        match &result {
            Ok(()) => self.published.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
        result
    }

    async fn publish_on(&self, g: &Generation, message: &AmqpMessage) -> Result<(), OutgoingError> {
        let name = &g.config.name;
        if !g.config.is_active {
            return Err(OutgoingError::new(
                name,
                OutgoingErrorKind::Unavailable,
                "the connection is inactive",
            ));
        }
        // bb8 opens channels in the background and only logs why it could not: open the broker
        // connection here first, so a refused login or an unreachable broker is the caller's
        // answer, not a pool timeout.
        g.broker.connection().await?;
        let channel = match g.pool.get().await {
            Ok(channel) => channel,
            Err(RunError::User(e)) => return Err(e),
            Err(RunError::TimedOut) => {
                return Err(OutgoingError::new(
                    name,
                    OutgoingErrorKind::Unavailable,
                    format!(
                        "no free channel within {:?} (pool_size {})",
                        g.config.pool_wait_duration(),
                        g.config.pool_size
                    ),
                ));
            }
        };
        publish_confirmed(
            &channel,
            &message.exchange,
            &message.routing_key,
            message.mandatory,
            &message.body,
            message.properties(),
            g.config.timeout_duration(),
        )
        .await
        .map_err(|(kind, why)| OutgoingError::new(name, kind, why))
    }

    /// Connects with the configuration in force and closes again: whether the broker is there
    /// and takes the credentials.
    ///
    /// # Errors
    ///
    /// Why not, naming the connection.
    pub async fn ping(&self) -> Result<Duration, OutgoingError> {
        let config = self.config();
        let started = std::time::Instant::now();
        let conn = open(&config, &format!("ping {}", config.name)).await?;
        let took = started.elapsed();
        let _ = conn.close(200, "ping".into()).await;
        Ok(took)
    }

    /// Its publishing so far.
    pub fn stats(&self) -> AmqpStats {
        let g = self.current.load();
        let s = g.pool.state();
        AmqpStats {
            generation: g.number,
            max_size: g.config.pool_size,
            size: s.connections,
            in_use: s.connections.saturating_sub(s.idle_connections),
            published: self.published.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }
}

/// Reaches AMQP connections of zato-core's outgoing-connection registry by name.
///
/// # Examples
///
/// ```
/// use zato_core::OutgoingConnections;
/// use zato_channels::amqp::{AmqpConnection, AmqpConnectionConfig, AmqpOutgoing};
///
/// let conns = OutgoingConnections::new();
/// let config = AmqpConnectionConfig::from_url("broker", "amqp://guest:guest@127.0.0.1:5672/%2f")
///     .unwrap();
/// conns.add_amqp(AmqpConnection::new(config).unwrap());
/// assert!(conns.amqp("broker").is_ok());
/// assert_eq!(conns.amqp("other").unwrap_err().status().as_u16(), 503);
/// ```
pub trait AmqpOutgoing {
    /// The AMQP connection named `name`.
    ///
    /// # Errors
    ///
    /// A 503 [`ServiceError`] naming the connection when none is defined.
    fn amqp(&self, name: &str) -> Result<Arc<AmqpConnection>, ServiceError>;

    /// Registers `conn` under its configured name, replacing any AMQP connection of that name.
    fn add_amqp(&self, conn: AmqpConnection) -> Arc<AmqpConnection>;
}

impl AmqpOutgoing for OutgoingConnections {
    fn amqp(&self, name: &str) -> Result<Arc<AmqpConnection>, ServiceError> {
        self.require::<AmqpConnection>(name)
    }

    fn add_amqp(&self, conn: AmqpConnection) -> Arc<AmqpConnection> {
        let conn = Arc::new(conn);
        self.insert(conn.name(), conn.clone());
        conn
    }
}

//! AMQP 1.0 for zato-rs, on fe2o3-amqp: channels that consume an address (a queue or a topic)
//! into services, and outgoing connections that send with the broker's settlement and make
//! requests over a reply address. AMQP 1.0 is the wire protocol that JMS brokers speak besides
//! their own: IBM MQ (AMQP channels, since 8.0.0.4), ActiveMQ and Artemis, Azure Service Bus,
//! Solace, and RabbitMQ (its `rabbitmq_amqp1_0` plugin).
//!
//! A broker connection is `outgoing.amqp10.<name>` ([`Amqp10ConnectionConfig`]): services send
//! through it with `ctx.outgoing().amqp10(name)?.send(address, message)` ([`Amqp10Outgoing`],
//! [`Amqp10Connection`], [`Amqp10Message`]), and channels (`channels.amqp10.<name>`,
//! [`Amqp10ChannelConfig`]) consume with a connection of their own made from it. Both are
//! configuration, changed while messages flow through the config store, the admin API and the
//! `zato` CLI like every other kind.
//!
//! # Delivery
//!
//! - Each message is the service's SimpleIO input: its body (read through the JMS mapping, see
//!   [`Amqp10Received`]) in the channel's data format, with its properties (`message_id`,
//!   `correlation_id`, `reply_to`, `subject`, `content_type`), `address`, `delivery_count` and
//!   its application properties as channel parameters. The correlation id (else the message
//!   id) is in the span of its invocation beside the cid.
//! - A message is settled **accepted** only after its service returned Ok (and its reply, when
//!   it has a `reply-to`, was accepted by the broker): at least once.
//! - A failed message is settled **modified** (`delivery-failed`), or **released** with
//!   `failed_outcome: released` (RabbitMQ 3 takes no other), and comes again; its
//!   `max_deliveries`th failure, or input the service refuses as malformed (400, 413, 415,
//!   422), is **rejected** with the error condition `zato:service-failed` (its description the
//!   error, its info the status and the cid), so the broker's dead-lettering takes it; with
//!   `dead_letter_address`, it is sent there instead with the error in the application
//!   properties `zato_error`, `zato_status`, `zato_cid`, and then accepted.
//! - Deliveries are counted by the header's `delivery-count` where the broker keeps it, and by
//!   the channel itself (per message id) where it does not (RabbitMQ 3's classic queues).
//! - The link credit (`credit`) is the bound: at most that many messages are handed over and
//!   unsettled at once.
//!
//! # Recovery
//!
//! A channel that loses its broker, or cannot attach, connects again with backoff (200 ms
//! doubling up to 30 s, jittered); what it had not settled comes again. A changed connection
//! makes its channels settle the messages they hold, then reconnect with the new settings; a
//! send under way when its connection is edited finishes on the old connection, or is tried
//! once more on the new one.
//!
//! # Examples
//!
//! ```no_run
//! use zato_core::{ChannelAdapter, Platform};
//! use zato_amqp10::{
//!     Amqp10Adapter, Amqp10ChannelConfig, Amqp10Connection, Amqp10ConnectionConfig, Amqp10Message,
//!     Amqp10Outgoing,
//! };
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let platform = Platform::new();
//! // platform.services().deploy(invoice_dispatcher)?;
//! let broker = Amqp10ConnectionConfig::new("broker", "amqp://127.0.0.1:5672")
//!     .with_credentials("guest", "guest");
//! platform.outgoing().add_amqp10(Amqp10Connection::new(broker)?);
//! let amqp10 = Amqp10Adapter::attach(&platform)?;
//! amqp10
//!     .upsert(Amqp10ChannelConfig::new("invoices", "broker", "/queue/invoices", "invoice.dispatcher"))
//!     .await?;
//! platform.start().await?; // consuming from here on
//!
//! // In a service: ctx.outgoing().amqp10("broker")?.send(address, message).await?
//! let conn = platform.outgoing().amqp10("broker")?;
//! conn.send("/queue/invoices", Amqp10Message::text(r#"{"id":"1"}"#).with_property("target", "CRM"))
//!     .await?;
//! # Ok(())
//! # }
//! ```

mod adapter;
mod config;
mod connection;
mod consumer;
mod jms;
mod kind;

pub use self::adapter::{Amqp10Adapter, Amqp10ChannelStats};
pub use self::config::{AMQP10_KIND, Amqp10ChannelConfig, Amqp10ConnectionConfig, FailedOutcome};
pub use self::connection::{
    Amqp10Connection, Amqp10Outgoing, Amqp10Recording, Amqp10Reply, Amqp10Sent,
};
pub use self::consumer::{CID_PROPERTY, ERROR_PROPERTY, REJECT_CONDITION, STATUS_PROPERTY};
pub use self::jms::{Amqp10Body, Amqp10Message, Amqp10Received};
pub use self::kind::{
    Amqp10ChannelKind, Amqp10ConnectionKind, Amqp10Plugin, config_schemas, plugin,
};

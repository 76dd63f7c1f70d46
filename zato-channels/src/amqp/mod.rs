//! AMQP 0-9-1 (RabbitMQ) on lapin: channels that consume queues into services, and outgoing
//! connections that publish with publisher confirms.
//!
//! A broker connection is `outgoing.amqp.<name>` ([`AmqpConnectionConfig`]): services publish
//! through it with `ctx.outgoing().amqp(name)?.publish(&message)` ([`AmqpOutgoing`]), and
//! channels (`channels.amqp.<name>`, [`AmqpChannelConfig`]) consume through it. Both are
//! configuration, changed while messages flow through the config store, the admin API and the
//! `zato` CLI like every other kind.
//!
//! # Delivery
//!
//! - Each message is the service's SimpleIO input: the body in the channel's data format, with
//!   the message's properties (`content_type`, `correlation_id`, `reply_to`, `message_id`,
//!   `routing_key`, …) and its headers as channel parameters.
//! - A message is acknowledged only after its service returned Ok: at-least-once delivery. A
//!   crash, a lost connection or a stopped channel leaves it unacknowledged, and the broker
//!   delivers it again.
//! - When the service fails (a 5xx) the channel's `on_error` decides:
//!   - `requeue` publishes a copy to the queue, with the header `x-zato-redeliveries` counting
//!     the times, waits for the broker to confirm the copy, and only then acknowledges the
//!     original; after `max_redeliveries` the message is dead-lettered instead;
//!   - `dead_letter` dead-letters it at once.
//! - Input the service refuses as malformed (400, 413, 415, 422) is the sender's fault and goes
//!   straight to the dead letters. A dead letter is published, with a confirm, to
//!   `dead_letter_exchange` / `dead_letter_routing_key` (the default exchange and
//!   `<queue>.dead` unless set), with the reason in `x-zato-error`, the status in
//!   `x-zato-status` and the cid in `x-zato-cid`; then the original is acknowledged. A copy or
//!   dead letter the broker does not confirm leaves the original on the queue.
//! - RPC: a message with `reply_to` gets the service's reply there, with its `correlation_id`
//!   and the status in `x-zato-status`; a request dead-lettered gets the error as the reply.
//! - Up to `prefetch` messages are handled at once; each is settled on its own.
//!
//! # Recovery
//!
//! A channel whose broker connection drops connects again with backoff (200 ms doubling up to
//! 30 s, each delay drawn between half and all of it) and resumes consuming; each reconnect is
//! logged and counted (`amqp_channel_reconnects_total`). A changed connection (a new password)
//! makes its channels finish and acknowledge the messages they hold, then reconnect with the
//! new settings.
//!
//! # Examples
//!
//! ```no_run
//! use std::sync::Arc;
//! use zato_channels::amqp::{AmqpAdapter, AmqpChannelConfig, AmqpConnection, AmqpConnectionConfig, AmqpOutgoing};
//! use zato_core::{ChannelAdapter, Platform};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let platform = Platform::new();
//! // platform.services().deploy(invoice_dispatcher)?;
//! let broker = AmqpConnectionConfig::from_url("broker", "amqp://guest:guest@127.0.0.1:5672/%2f")?;
//! platform.outgoing().add_amqp(AmqpConnection::new(broker)?);
//! let amqp = AmqpAdapter::attach(&platform)?;
//! let channel = AmqpChannelConfig::new("invoices", "broker", "invoices", "invoice.dispatcher")
//!     .with_declare(true);
//! amqp.upsert_channel(serde_json::to_value(channel)?).await?;
//! platform.start().await?; // consuming from here on
//! # Ok(())
//! # }
//! ```

mod adapter;
mod config;
mod connection;
mod consumer;
mod kind;

pub use self::adapter::{AmqpAdapter, AmqpChannelStats};
pub use self::config::AMQP_KIND;
pub use self::config::{AmqpChannelConfig, AmqpConnectionConfig, OnError};
pub use self::connection::{
    AmqpConnection, AmqpMessage, AmqpOutgoing, AmqpStats, MAX_RECORDED, Recording,
};
pub use self::consumer::{CID_HEADER, ERROR_HEADER, REDELIVERIES_HEADER, STATUS_HEADER};
pub use self::kind::{AmqpChannelKind, AmqpConnectionKind, AmqpPlugin, config_schemas, plugin};

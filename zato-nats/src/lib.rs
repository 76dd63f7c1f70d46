//! NATS for zato-rs, on async-nats: channels that consume JetStream durable consumers or core
//! subjects into services, and outgoing connections that publish with JetStream
//! acknowledgements and make requests.
//!
//! A server connection is `outgoing.nats.<name>` ([`NatsConnectionConfig`]): services publish
//! through it with `ctx.outgoing().nats(name)?.publish(subject, body)` ([`NatsOutgoing`],
//! [`NatsConnection`]), and channels (`channels.nats.<name>`, [`NatsChannelConfig`]) consume
//! with clients of their own made from it. Both are configuration, changed while messages flow
//! through the config store, the admin API and the `zato` CLI like every other kind.
//!
//! # Delivery
//!
//! - Each message is the service's SimpleIO input: the body in the channel's data format, with
//!   its subject, its headers and (JetStream) `stream_sequence` and `delivered` as channel
//!   parameters.
//! - **JetStream** (`mode: jetstream`, the default): a durable pull consumer (`durable`, by
//!   default `zato-<channel>`) on `stream`, filtered to `subject`. A message is acknowledged
//!   only after its service returned Ok: at least once. A crash, a lost connection or a stopped
//!   channel leaves it unacknowledged, and JetStream delivers it again (after `timeout` + 10 s).
//!   - A failed message (a 5xx) is nak'ed with a delay (`nak_delay`) and comes again;
//!   - its `max_deliver`th failure, or input the service refuses as malformed (400, 413, 415,
//!     422), publishes it with JetStream's acknowledgement to `dead_letter_subject` (by default
//!     `<subject>.dead`) with the error in `Zato-Error`, the status in `Zato-Status` and the
//!     cid in `Zato-Cid`, and only then terminates it. A dead letter that no stream takes
//!     leaves the original to come again.
//! - **Core** (`mode: core`): a subscription to `subject` (in `queue_group` when given): at most
//!   once. A message with a reply subject is answered with the service's output, or its error,
//!   with the status in `Zato-Status`.
//! - Up to `concurrency` messages are handled at once; each is settled on its own.
//!
//! # Recovery
//!
//! A channel's client reconnects by itself; each loss is logged and counted
//! (`nats_channel_disconnects_total`). A channel that cannot consume (its stream missing, the
//! server down) tries again with backoff (200 ms doubling up to 30 s). A changed connection
//! makes its channels finish and settle the messages they hold, then reconnect with the new
//! settings.
//!
//! # Examples
//!
//! ```no_run
//! use zato_core::{ChannelAdapter, Platform};
//! use zato_nats::{NatsAdapter, NatsChannelConfig, NatsConnection, NatsConnectionConfig, NatsOutgoing};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let platform = Platform::new();
//! // platform.services().deploy(invoice_dispatcher)?;
//! let bus = NatsConnectionConfig::new("bus", "nats://127.0.0.1:4222");
//! platform.outgoing().add_nats(NatsConnection::new(bus).await?);
//! let nats = NatsAdapter::attach(&platform)?;
//! let channel = NatsChannelConfig::jetstream("invoices", "bus", "INVOICES", "invoices", "invoice.dispatcher")
//!     .with_declare(true);
//! nats.upsert(channel).await?;
//! platform.start().await?; // consuming from here on
//!
//! // In a service: ctx.outgoing().nats("bus")?.publish("invoices", body).await?
//! let published = platform.outgoing().nats("bus")?.publish("invoices", r#"{"id":"1"}"#).await?;
//! println!("stored as {} in {}", published.sequence, published.stream);
//! # Ok(())
//! # }
//! ```

mod adapter;
mod config;
mod connection;
mod consumer;
mod kind;

pub use self::adapter::{NatsAdapter, NatsChannelStats};
pub use self::config::{NATS_KIND, NatsChannelConfig, NatsConnectionConfig, NatsMode};
pub use self::connection::{
    NatsConnection, NatsOutgoing, NatsRecording, NatsReply, NatsSend, NatsSent, Published,
};
pub use self::consumer::{CID_HEADER, ERROR_HEADER, STATUS_HEADER};
pub use self::kind::{NatsChannelKind, NatsConnectionKind, NatsPlugin, config_schemas, plugin};

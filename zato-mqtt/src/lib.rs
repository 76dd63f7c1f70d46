//! MQTT 3.1.1 for zato-rs, on rumqttc: `outgoing.mqtt`, a broker connection services publish
//! through, and `channels.mqtt`, topic filters subscribed to into a service.
//!
//! # Outgoing connections
//!
//! `ctx.outgoing().mqtt("broker")?.publish(&MqttMessage::new(topic, payload))` ([`MqttOutgoing`])
//! publishes at QoS 0, 1 or 2 ([`MqttMessage::with_qos`]), retained or not
//! ([`MqttMessage::retained`]), and returns once the broker acknowledged it (`PUBACK`,
//! `PUBCOMP`) or, at QoS 0, once it was written. A connection's `will` is published by the
//! broker when the connection goes away without saying goodbye (a crash, a lost network, its
//! client id taken over). Every bound is configured: `max_in_flight` publications awaiting
//! their acknowledgement, `queue_size` waiting to be sent, `publish_timeout` for each.
//!
//! # Channels
//!
//! A channel connects with a client of its own (`client_id`, `zato.channel.<name>` unless set)
//! to the broker of the connection it names, and subscribes to its `topics` at its `qos`:
//!
//! - each message's payload is the service's input in the channel's data format; its `topic`,
//!   `qos`, `retain` and `dup` are channel parameters;
//! - QoS 1 and 2 messages are acknowledged (manual acks: `PUBACK`, `PUBREC`) only after the
//!   service succeeded; up to `max_in_flight` are handled at once;
//! - a failing message is tried again `retry_delay` apart, up to `max_deliveries` times; then,
//!   or at once for input the service refuses as malformed (400, 413, 415, 422), a dead letter
//!   is published at QoS 1 to `dead_letter_topic` (`zato/dead-letters/<name>`): a JSON object
//!   with `topic`, `payload` (or `payload_base64`), `error`, `status`, `deliveries`, `cid` and
//!   `channel`; the message is acknowledged once the broker took the dead letter;
//! - the session is persistent (`clean_session` false, `persistent: true`): the broker keeps
//!   the subscriptions and queues QoS 1 and 2 messages while the node is away, and sends again
//!   those left unacknowledged (a crash, a lost connection, a stop mid-retry), at least once;
//! - a lost connection is retried with backoff (200 ms doubling to 30 s, jittered); a changed
//!   connection or channel settles what it holds and reconnects with the new settings;
//!   removing a channel ends its session at the broker.
//!
//! The count of tries lives in the node: a message sent again by the broker after a restart
//! starts from one.
//!
//! # Examples
//!
//! ```no_run
//! use zato_core::{ChannelAdapter, Platform};
//! use zato_mqtt::{MqttAdapter, MqttChannelConfig, MqttConfig, MqttConnection, MqttOutgoing};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let platform = Platform::new();
//! // platform.services().deploy(invoice_dispatcher)?;
//! platform.outgoing().add_mqtt(MqttConnection::new(MqttConfig::new("broker", "mqtt://127.0.0.1:1883"))?);
//! let mqtt = MqttAdapter::attach(&platform)?;
//! mqtt.upsert(MqttChannelConfig::new("invoices", "broker", ["invoices"], "invoice.dispatcher"))
//!     .await?;
//! platform.start().await?; // subscribed from here on
//! # Ok(()) }
//! ```

mod adapter;
mod config;
mod connection;
mod consumer;
mod kind;
mod link;

pub use self::adapter::{MQTT_KIND, MqttAdapter, MqttChannelStats};
pub use self::config::{DEFAULT_URL, MqttChannelConfig, MqttConfig, WillConfig};
pub use self::connection::{
    MqttConnection, MqttError, MqttErrorKind, MqttMessage, MqttOutgoing, MqttRecording, MqttStats,
};
pub use self::kind::{MqttChannelKind, MqttKind, MqttPlugin, plugin};
/// The QoS of a publication.
pub use rumqttc::QoS;

//! Redis for zato-rs: `outgoing.redis`, a server services use as a key-value store, a cache or
//! through raw commands, and `channels.redis_stream`, a stream read by a consumer group into a
//! service.
//!
//! # Outgoing connections
//!
//! A service reaches a connection by name with [`RedisOutgoing`]:
//! `ctx.outgoing().redis("cache")?` gives a [`RedisConnection`] with [`get`](RedisConnection::get),
//! [`set`](RedisConnection::set) (with a TTL), [`delete`](RedisConnection::delete),
//! [`incr`](RedisConnection::incr) (atomic) and [`command`](RedisConnection::command) for any
//! other command. A connection multiplexes its commands on one connection that reconnects by
//! itself, with at most `max_in_flight` in flight, each bounded by `connect_timeout` and
//! `response_timeout`; a failure is a 5xx naming the connection, never the password.
//!
//! # Redis Streams channels
//!
//! A channel reads `stream` as consumer `consumer` of `group` (both created when missing):
//!
//! - each entry's `body` field (`body_field`) is the service's input in the channel's data
//!   format, its other fields, `stream` and `entry_id` are channel parameters;
//! - an entry is acknowledged (`XACK`) only after its service succeeded;
//! - a failed entry stays pending; once it has been idle `claim_idle` seconds, a consumer of the
//!   group claims it (`XAUTOCLAIM`) and it is delivered again, so the entries of a consumer that
//!   died are taken over too;
//! - after `max_deliveries` deliveries, or at once for input the service refuses as malformed
//!   (400, 413, 415, 422) or an entry without a body, the entry is written to the dead-letter
//!   stream (`<stream>.dead`) with its fields and `zato_error`, `zato_status`, `zato_id`,
//!   `zato_deliveries` and `zato_cid`, and acknowledged, both in one transaction;
//! - on start, and after a lost connection, a consumer reads its own pending entries first: a
//!   node restarted under the same consumer name loses nothing;
//! - a lost connection is retried with backoff (200 ms doubling to 30 s, jittered); the
//!   channel's connection is named `zato.redis_stream.<channel>.<consumer>` in `CLIENT LIST`.
//!
//! # Examples
//!
//! ```no_run
//! use zato_core::{ChannelAdapter, Platform};
//! use zato_redis::{RedisConfig, RedisConnection, RedisOutgoing, RedisStreamAdapter, RedisStreamConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let platform = Platform::new();
//! // platform.services().deploy(invoice_dispatcher)?;
//! platform.outgoing().add_redis(RedisConnection::new(RedisConfig::new("cache", "redis://127.0.0.1:6379"))?);
//! let streams = RedisStreamAdapter::attach(&platform)?;
//! streams
//!     .upsert(RedisStreamConfig::new("invoices", "cache", "invoices", "invoice.dispatcher"))
//!     .await?;
//! platform.start().await?; // consuming from here on
//! # Ok(()) }
//! ```

mod adapter;
mod config;
mod connection;
mod consumer;
mod kind;
mod memory;

pub use self::adapter::{REDIS_STREAM_KIND, RedisStreamAdapter, RedisStreamStats};
pub use self::config::{DEFAULT_URL, RedisConfig, RedisStreamConfig};
pub use self::connection::{
    RedisConnection, RedisError, RedisErrorKind, RedisOutgoing, RedisStats,
};
pub use self::consumer::{CID_FIELD, DELIVERIES_FIELD, ERROR_FIELD, ID_FIELD, STATUS_FIELD};
pub use self::kind::{RedisKind, RedisPlugin, RedisStreamKind, plugin};
pub use self::memory::{MAX_MEMORY_KEYS, RedisMemory};
/// The `redis` crate, for [`RedisConnection::command`]'s commands and answers.
pub use redis;

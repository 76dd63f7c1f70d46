//! A cluster of zato-rs nodes sharing one configuration through PostgreSQL.
//!
//! Each node keeps its configuration in a [`PgStore`] (a [`ConfigStore`](zato_core::config::ConfigStore)
//! over PostgreSQL, with secrets encrypted at rest by AES-256-GCM under a key derived from
//! `ZATO_SECRET_KEY`) and follows it as a [`ClusterNode`]: every commit notifies the nodes with
//! its version (`LISTEN`/`NOTIFY`), each node applies what is new and records an acknowledgement
//! per version, and a node also polls, so a missed notification, a lost connection or a restart
//! always ends with the node caught up from the version it last applied.
//!
//! A node that joins also claims shared work through the cluster ([`PgClaims`]): a Swift inbox
//! polled by every node hands each object to one node at a time.

mod claims;
mod crypto;
mod node;
mod store;
#[cfg(feature = "test-support")]
pub mod testing;

pub use self::claims::PgClaims;
pub use self::crypto::MIN_PASSPHRASE;
pub use self::node::{
    ClusterNode, DEFAULT_ACK_WAIT, HEARTBEAT_INTERVAL, LIVE_WITHIN, NodeAck, POLL_INTERVAL,
};
pub use self::store::{ClusterError, NodeStatus, PgSettings, PgStore};

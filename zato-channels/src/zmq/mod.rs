//! ZeroMQ channels and outgoing connections on libzmq, through the `zmq` crate.
//!
//! A [`ZmqAdapter`] serves any number of [`ZmqChannelConfig`]s, each a PULL or SUB socket (bound
//! or connected) whose messages invoke a service; [`ZmqConnection`]s are named PUSH or PUB
//! sockets services send through (`ctx.outgoing().zmq("name")`). Both are changed live through
//! the config document's `channels.zmq` and `outgoing.zmq` kinds.
//!
//! libzmq's API blocks: every socket is owned by a thread of its own and talks to the tokio
//! runtime over bounded channels, with timeouts, so no runtime thread ever waits on libzmq.
//!
//! `config` holds the serde types, `socket` the shared context, `receiver` one channel's socket
//! and its dispatching, `adapter` the channels of an adapter, `outgoing` the connections and
//! `kinds` their place in the config document.

mod adapter;
mod config;
mod kind;
mod outgoing;
mod receiver;
mod socket;

pub use adapter::{DEFAULT_ZMQ_ADAPTER, ZmqAdapter};
pub use config::ZMQ_KIND;
pub use config::{
    DEFAULT_HWM, DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_MSG_SIZE, DEFAULT_SEND_TIMEOUT,
    DEFAULT_SERVICE_TIMEOUT, SocketMethod, ZmqChannelConfig, ZmqChannelType, ZmqConnectionConfig,
    ZmqOutgoingType,
};
pub use kind::{ZmqChannelKind, ZmqOutgoingKind, ZmqPlugin, plugin};
pub use outgoing::{ZmqConnection, ZmqOutgoing, ZmqSendStats};
pub use socket::libzmq_version;

//! Channel adapters for zato-rs: the transports that bring requests to services.
//!
//! Channels are configuration, not code. Each transport lives in its own module behind a cargo
//! feature named like it:
//!
//! | feature | what it brings |
//! | --- | --- |
//! | `http` (default) | [`HttpServer`]: HTTP/1.1 channels on hyper 1 |
//! | `http2` | HTTP/2 besides HTTP/1.1 on the same listener (implies `http`) |
//! | `amqp` | [`amqp`]: AMQP 0-9-1 channels and outgoing connections on lapin |
//! | `zmq` | [`ZmqAdapter`]: ZeroMQ PULL and SUB channels; [`ZmqConnection`]: PUSH and PUB outgoing connections, on libzmq |
//!
//! Swift-inbox channels will sit beside them. Every transport implements
//! zato-core's object-safe [`ChannelAdapter`], re-exported here with its errors, and is owned by
//! the [`Platform`](zato_core::Platform) it serves: [`Platform::channels`](zato_core::Platform::channels)
//! lists every channel of every kind and applies a [`ChannelChange`] to the adapter that owns
//! the channel, [`Platform::start`](zato_core::Platform::start) starts the adapters and
//! [`Platform::shutdown`](zato_core::Platform::shutdown) drains them all.
//!
//! # HTTP
//!
//! An [`HttpServer`] listens on one address and serves any number of [`HttpChannelConfig`]s,
//! each mapping a URL path (with `{param}` segments) and methods to a service, in a data format
//! (JSON, XML, SOAP 1.1/1.2, form), under an optional [`SecurityDef`] (HTTP Basic Auth or an API
//! key). Channels and security definitions can be added, changed and removed while requests
//! flow; [`HttpServer::shutdown`] finishes the requests in flight before it returns, closing what
//! is still open after a drain timeout (30 s by default).
//!
//! Safe by default, each limit settable:
//!
//! | limit | default | set with |
//! | --- | --- | --- |
//! | time to send a request's headers | 30 s | [`HttpServer::set_header_read_timeout`] |
//! | time to send the body, then for the service to answer | 30 s each | [`HttpChannelConfig::timeout`] |
//! | body size | 10 MiB | [`HttpChannelConfig::max_body_size`] |
//! | connections open at once, per listener | 10 000 | [`HttpServer::set_max_connections`] |
//! | request body bytes in flight, per listener | 256 MiB | [`HttpServer::set_body_memory_budget`] |
//!
//! HTTP/1.1 requests need exactly one `Host` header; bodies are accepted only unencoded
//! (`Content-Encoding: identity` or none) and, when chunked, only with `Transfer-Encoding:
//! chunked` alone. A request with both `Content-Length` and `Transfer-Encoding` is read as
//! chunked, as RFC 9112 says, and its connection closed after the answer, so nothing hidden
//! behind it is read as a request of its own.
//!
//! What the caller sees:
//!
//! | situation | status |
//! | --- | --- |
//! | the service's reply | the service's own (200, 201, 204, …) |
//! | bad input (missing element, wrong type, malformed body) | 400, naming every element |
//! | HTTP/1.1 without exactly one `Host`; a transfer coding other than `chunked` | 400 |
//! | authentication failed; the service does not run | 401 with `WWW-Authenticate` |
//! | no channel for the path | 404 |
//! | the path exists, not for this method | 405 with `Allow` |
//! | body over the channel's `max_body_size` | 413 |
//! | media type not fitting the channel's format; a `Content-Encoding` other than `identity` | 415 |
//! | an outgoing connection failed | 502, 503 or 504, naming the connection |
//! | inactive channel, or the server shutting down | 503 |
//! | the listener's body memory budget is spent | 503 with `Retry-After`, `Connection: close` |
//! | the request body took longer than the channel's `timeout` to arrive | 408, with `Connection: close` |
//! | the service took longer than the channel's `timeout` | 504 |
//!
//! Errors come in the channel's format: a JSON object, an XML document, or a SOAP Fault of the
//! request's version, always with the cid, which every response the channel answers also carries
//! in `X-Zato-CID`. The only responses without it are those hyper writes itself, with an empty
//! body and `Connection: close`, before any channel sees the request: a 400 for a malformed
//! request line or header or bad framing (conflicting `Content-Length`s, a transfer coding that
//! is not chunked), and a 431 for more than 100 headers or a request head (the request line and
//! headers) over 64 KiB.
//!
//! # ZeroMQ
//!
//! With the `zmq` feature, a [`ZmqAdapter`] serves PULL and SUB channels ([`ZmqChannelConfig`],
//! `channels.zmq`). Each socket is bound or connected, and each message invokes the channel's
//! service. The last frame is the body. The frames before it are the channel parameters
//! `frame0`, `frame1`, … . [`ZmqConnection`]s are named PUSH and PUB sockets
//! ([`ZmqConnectionConfig`], `outgoing.zmq`), reached from a service with
//! `ctx.outgoing().zmq("name")` ([`ZmqOutgoing`]).
//!
//! libzmq runs on threads of its own, never on the runtime, behind bounded queues:
//!
//! - on a channel: `rcv_hwm` messages per peer in ZeroMQ, then one hand-over slot, then
//!   `max_concurrency` invocations;
//! - on a connection: `snd_hwm` messages per peer, and a send waits at most `send_timeout`.
//!
//! ZeroMQ has nothing to acknowledge, so a message whose service fails is logged with its cid
//! and counted in the channel's metrics under its status, and the channel goes on.
//!
//! # Examples
//!
//! ```no_run
//! # #[cfg(feature = "http")]
//! # mod example {
//! use zato_channels::{HttpChannelConfig, HttpConfig, HttpServer, SecurityDef};
//! use zato_core::{DataFormat, Platform};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let platform = Platform::new();
//! // platform.services().deploy(invoice_dispatcher)?;
//! let config = HttpConfig::new(
//!     vec![
//!         HttpChannelConfig::new("invoice.json", "/invoice.dispatcher", "invoice.dispatcher"),
//!         HttpChannelConfig::new("invoice.xml", "/xml/invoice.dispatcher", "invoice.dispatcher")
//!             .with_data_format(DataFormat::Xml)
//!             .with_security("crm"),
//!     ],
//!     vec![SecurityDef::basic_auth("crm", "crm", "secret")],
//! );
//! // Serving, and on the platform as `http@127.0.0.1:11223`.
//! HttpServer::serve("127.0.0.1:11223", platform.clone(), config).await?;
//! for channel in platform.channels().list() {
//!     println!("{} {} -> {}", channel.name, channel.endpoint, channel.service);
//! }
//! tokio::signal::ctrl_c().await?;
//! platform.shutdown().await; // finishes the requests in flight
//! # Ok(())
//! # }
//! # }
//! ```

#[cfg(feature = "amqp")]
pub mod amqp;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "swift-inbox")]
pub mod swift_inbox;
#[cfg(feature = "zmq")]
pub mod zmq;

pub use zato_core::{
    ChannelAdapter, ChannelChange, ChannelError, ChannelKind, ChannelSummary, Channels,
    ConfigError, ConfigProblem,
};

#[cfg(feature = "http")]
pub use self::http::{
    ApiKeyKind, BasicAuthKind, DEFAULT_API_KEY_HEADER, DEFAULT_BODY_MEMORY_BUDGET,
    DEFAULT_DRAIN_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_BODY_SIZE,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_TIMEOUT, HTTP_KIND, HttpChannelConfig, HttpChannelKind,
    HttpConfig, HttpInfo, HttpRequestExt, HttpServer, HttpTlsConfig, HttpTlsKind, JwtKind,
    SecurityDef, TlsError, TlsFiles, X_ZATO_CID, config_schemas, openapi_document, wsdl_document,
};
#[cfg(feature = "http")]
pub use self::http::{
    DEFAULT_TLS_RELOAD_INTERVAL, HTTP_TLS_CERT_ENV, HTTP_TLS_KEY_ENV, MAX_CALLERS, RateLimit,
};

#[cfg(feature = "zmq")]
pub use self::zmq::{
    DEFAULT_HWM, DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_MSG_SIZE, DEFAULT_SEND_TIMEOUT,
    DEFAULT_SERVICE_TIMEOUT, DEFAULT_ZMQ_ADAPTER, SocketMethod, ZMQ_KIND, ZmqAdapter,
    ZmqChannelConfig, ZmqChannelKind, ZmqChannelType, ZmqConnection, ZmqConnectionConfig,
    ZmqOutgoing, ZmqOutgoingKind, ZmqOutgoingType, ZmqPlugin, ZmqSendStats, libzmq_version,
};

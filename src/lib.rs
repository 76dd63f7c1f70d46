//! zato-rs: an embeddable integration platform in the spirit of Zato, the Python ESB.
//!
//! Add `zato` to your application and, in your own process:
//!
//! - declare **services** with [`#[service]`](macro@service), each with its input and output
//!   declared once as Rust types ([SimpleIO](sio), `#[derive(SimpleIo)]`): the same service gets
//!   typed input whether the caller sent a query string, JSON, XML, a SOAP 1.1/1.2 envelope or a
//!   form, and bad input is answered as the caller's fault (a 400 naming every element);
//! - expose them through **channels** defined by configuration, not code: HTTP today
//!   ([`channels`]: routes with `{param}` segments, Basic Auth and API keys, changed while
//!   requests flow);
//! - reach other systems through pooled **outgoing connections**, first OpenStack Swift
//!   ([`swift`]: auth v1.0, Keystone v2.0 and v3, a bb8 pool per connection, reconfigured live).
//!
//! Everything hangs off a [`Platform`]: its services, its channel adapters and its outgoing
//! connections. A [`Node`] assembles a whole one (config document, HTTP channels, admin API,
//! cluster, and every kind of channel and connection the build has) from the environment; a
//! kind of your own plugs in through [`kind::Kind`] and [`Node::plugin`].
//!
//! # A service, and calling it
//!
//! ```
//! use zato::prelude::*;
//!
//! #[derive(SimpleIo, Debug)]
//! struct Dispatch {
//!     target: Vec<String>,
//! }
//!
//! #[derive(SimpleIo, Debug)]
//! struct Dispatched {
//!     stored: Vec<String>,
//! }
//!
//! #[service(name = "invoice.dispatcher")]
//! async fn invoice_dispatcher(req: Request<Dispatch>, _ctx: &Context) -> Result<Dispatched, ServiceError> {
//!     // `req.raw_request` is the invoice exactly as it came; store it per target here.
//!     Ok(Dispatched { stored: req.input.target })
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let platform = Platform::new();
//! platform.services().deploy(invoice_dispatcher).unwrap();
//!
//! // From `main`, a test or another service: by name with JSON ...
//! let ctx = platform.context();
//! let reply = ctx
//!     .invoke("invoice.dispatcher", serde_json::json!({"target": ["CRM", "Billing"]}))
//!     .await
//!     .unwrap();
//! assert_eq!(reply, serde_json::json!({"stored": ["CRM", "Billing"]}));
//!
//! // ... or by type, with no serialization in between.
//! let typed = ctx
//!     .invoke_typed::<invoice_dispatcher>(Dispatch { target: vec!["CRM".into()] })
//!     .await
//!     .unwrap();
//! assert_eq!(typed.output.stored, ["CRM"]);
//! # });
//! ```
//!
//! # Embedding it in your own `main`
//!
//! The seed scenario: the service stores each invoice in one Swift container per target, and a
//! [`Node`] serves it, its channels and connections read from a config document and the
//! environment. This is the README's example.
//!
//! ```no_run
//! use zato::prelude::*;
//!
//! #[derive(SimpleIo)]
//! struct Dispatch { target: Vec<String> }
//!
//! #[service(name = "invoice.dispatcher")]
//! async fn invoice_dispatcher(req: Request<Dispatch>, ctx: &Context) -> Result<(), ServiceError> {
//!     let client = ctx.outgoing().swift("Invoice Dispatcher")?.client().await?;
//!     for target in &req.input.target {
//!         client.put_object(target, "Invoice", req.raw_request.clone(), &Default::default()).await?;
//!     }
//!     Ok(())
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), zato::NodeError> {
//!     let node = zato::Node::from_env()?.default_config("config.json").deploy(invoice_dispatcher)?;
//!     node.start().await?.run_until_ctrl_c().await; // Ctrl-C: every channel finishes its requests
//!     Ok(())
//! }
//! ```
//!
//! A runnable version is the `invoice_dispatcher` example (`cargo run --example
//! invoice_dispatcher`), which needs no cloud account: without Swift credentials it starts a
//! local Swift-compatible endpoint.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `macros` | yes | `#[service]` and `#[derive(SimpleIo)]` |
//! | `http` | yes | [`channels`]: the HTTP channel on hyper 1 |
//! | `http2` | no | HTTP/2 besides HTTP/1.1 on the same listener |
//! | `admin` | yes | [`admin`]: the admin API (JSON REST) and the web admin, on a listener of their own |
//! | `swift` | yes | [`swift`]: OpenStack Swift outgoing connections |
//! | `swift-local` | no | `swift::local`: a Swift-compatible endpoint for development and tests |
//! | `swift-inbox` | yes | `channels::swift_inbox`: a Swift container polled for objects, each handed to a service once |
//! | `amqp` | no | `channels::amqp`: AMQP 0-9-1 channels and outgoing connections, on lapin |
//! | `zmq` | no | [`channels`]: ZeroMQ channels (PULL, SUB) and outgoing connections (PUSH, PUB), on libzmq |
//! | `nats` | no | `nats`: NATS channels (JetStream durable consumers, core subjects with request-reply) and outgoing connections, on async-nats |
//! | `amqp10` | no | `amqp10`: AMQP 1.0 channels and outgoing connections (IBM MQ, Artemis, Azure Service Bus, Solace, RabbitMQ) with the JMS mapping, on fe2o3-amqp |
//! | `scheduler` | yes | `scheduler`: jobs invoking services once, on an interval or on a cron expression |
//! | `cluster` | no | `cluster`: nodes sharing one configuration, and claims, through PostgreSQL |
//! | `redis` | no | `redis`: Redis outgoing connections (store, cache, commands) and Redis Streams channels |
//! | `mqtt` | no | `mqtt`: MQTT channels (QoS 0, 1, 2, persistent sessions) and outgoing connections, on rumqttc |
//! | `otel` | no | `otel`: OpenTelemetry tracing (W3C trace context on every hop, spans exported over OTLP gRPC or HTTP/protobuf), configured as `telemetry.otlp` |
//! | `sql` | yes | `sql`: SQL outgoing connections (PostgreSQL, MySQL/MariaDB, SQLite) and outbox channels, on sqlx |
//! | `pubsub` | yes | `pubsub`: durable topics and subscriptions (SQLite on one node, the cluster's PostgreSQL), delivered to services, pushed or pulled |

pub use zato_core as core;
pub use zato_core::{
    ChannelAdapter, ChannelChange, ChannelError, ChannelInfo, ChannelKind, ChannelSummary,
    Channels, Cid, ConfigError, ConfigProblem, Context, DataFormat, OutgoingConnections,
    OutgoingError, OutgoingErrorKind, Payload, Platform, RawRequest, RawResponse, Request,
    Response, Service, ServiceError, ServiceRegistry, Transport, render_error, sio,
};

/// The HTTP side of a request, defined by the HTTP channel: also `zato::channels::HttpInfo`.
#[cfg(feature = "http")]
pub use zato_channels::HttpInfo;

#[cfg(feature = "macros")]
pub use zato_macros::{SimpleIo, service};

#[cfg(any(
    feature = "http",
    feature = "amqp",
    feature = "zmq",
    feature = "swift-inbox"
))]
pub use zato_channels as channels;

#[cfg(feature = "admin")]
pub use zato_admin as admin;

/// A node's configuration as data: the config document, its kinds, the store and the runtime
/// that applies changes live (see [`zato_core::config`]), and a checker knowing every kind
/// this build has.
pub mod config {
    pub use zato_core::config::*;

    /// A checker knowing every kind of this build: `services`, and with their features
    /// `channels.http` and the security types, and the kinds of every plug-in
    /// [`compiled_in`](crate::compiled_in). Checks documents offline, as `zato config check`
    /// does.
    ///
    /// # Examples
    ///
    /// ```
    /// use zato::config::{ConfigDocument, Format};
    ///
    /// let doc = ConfigDocument::parse(r#"{"outgoing": {"swift": [{"name": "s", "pool_size": 0}]}}"#, Format::Json).unwrap();
    /// let err = zato::config::checker().check(&doc).unwrap_err();
    /// assert!(err.problems().iter().any(|p| p.path == "outgoing.swift.s.pool_size"));
    /// ```
    pub fn checker() -> Checker {
        checker_of(&crate::compiled_in())
    }

    /// A checker knowing `services`, HTTP's kinds and those of `plugins`.
    pub(crate) fn checker_of(plugins: &[std::sync::Arc<dyn crate::kind::Plugin>]) -> Checker {
        let mut checker = Checker::new();
        #[cfg(feature = "http")]
        for schema in zato_channels::config_schemas() {
            checker.add(schema);
        }
        for plugin in plugins {
            for schema in plugin.schemas() {
                checker.add(schema);
            }
        }
        checker
    }
}

/// The plug-ins of the kinds this build compiles in, one line each: a kind added to the
/// workspace adds its line here, and its feature to this crate. A node also takes plug-ins of
/// the host's own ([`Node::plugin`]).
pub fn compiled_in() -> Vec<std::sync::Arc<dyn kind::Plugin>> {
    vec![
        #[cfg(feature = "swift")]
        std::sync::Arc::new(zato_swift::plugin()),
        #[cfg(feature = "swift-inbox")]
        std::sync::Arc::new(zato_channels::swift_inbox::plugin()),
        #[cfg(feature = "scheduler")]
        std::sync::Arc::new(zato_scheduler::plugin()),
        #[cfg(feature = "amqp")]
        std::sync::Arc::new(zato_channels::amqp::plugin()),
        #[cfg(feature = "zmq")]
        std::sync::Arc::new(zato_channels::zmq::plugin()),
        #[cfg(feature = "rest")]
        std::sync::Arc::new(zato_rest::plugin()),
        #[cfg(feature = "nats")]
        std::sync::Arc::new(zato_nats::plugin()),
        #[cfg(feature = "redis")]
        std::sync::Arc::new(zato_redis::plugin()),
        #[cfg(feature = "mqtt")]
        std::sync::Arc::new(zato_mqtt::plugin()),
        #[cfg(feature = "sql")]
        std::sync::Arc::new(zato_sql::plugin()),
        #[cfg(feature = "amqp10")]
        std::sync::Arc::new(zato_amqp10::plugin()),
        #[cfg(feature = "pubsub")]
        std::sync::Arc::new(zato_pubsub::plugin()),
        #[cfg(feature = "otel")]
        std::sync::Arc::new(zato_otel::plugin()),
    ]
}

/// An error and every cause beneath it on one line, `: `-separated, as a `main` reports it:
/// `the HTTP channels cannot listen: could not listen on 127.0.0.1:11223: Address in use`.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut shown = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        shown.push_str(": ");
        shown.push_str(&c.to_string());
        cause = c.source();
    }
    shown
}

/// The plug-in seam: [`Kind`](kind::Kind), [`Plugin`](kind::Plugin) and their helpers.
pub use zato_core::kind;

#[cfg(feature = "http")]
mod node;
#[cfg(feature = "http")]
pub use node::{
    ClusterMembership, ClusterSettings, DEFAULT_DATA_DIR, DEFAULT_HTTP_ADDR, Node, NodeError,
    RunningNode,
};

#[cfg(feature = "swift")]
pub use zato_swift as swift;

#[cfg(feature = "testing")]
pub mod testing;

#[cfg(feature = "cluster")]
pub use zato_cluster as cluster;

#[cfg(feature = "rest")]
pub use zato_rest as rest;

#[cfg(feature = "scheduler")]
pub use zato_scheduler as scheduler;

#[cfg(feature = "nats")]
pub use zato_nats as nats;
/// OpenTelemetry tracing: `telemetry.otlp` (feature `otel`).
#[cfg(feature = "otel")]
pub use zato_otel as otel;

#[cfg(feature = "redis")]
pub use zato_redis as redis;

#[cfg(feature = "mqtt")]
pub use zato_mqtt as mqtt;
#[cfg(feature = "sql")]
pub use zato_sql as sql;

#[cfg(feature = "amqp10")]
pub use zato_amqp10 as amqp10;
#[cfg(feature = "pubsub")]
pub use zato_pubsub as pubsub;

#[doc(hidden)]
pub use zato_core::__private;

/// The names a service module needs.
pub mod prelude {
    pub use zato_core::sio::{Csv, Raw, Secret};
    pub use zato_core::{Context, Platform, Request, Response, Service, ServiceError};

    #[cfg(feature = "swift")]
    pub use zato_swift::SwiftOutgoing;

    #[cfg(feature = "rest")]
    pub use zato_rest::RestOutgoing;

    #[cfg(feature = "amqp")]
    pub use zato_channels::amqp::{AmqpMessage, AmqpOutgoing};

    #[cfg(feature = "macros")]
    pub use zato_macros::{SimpleIo, service};

    #[cfg(feature = "http")]
    pub use zato_channels::{
        HttpChannelConfig, HttpConfig, HttpInfo, HttpRequestExt, HttpServer, SecurityDef,
    };

    #[cfg(feature = "zmq")]
    pub use zato_channels::ZmqOutgoing;

    #[cfg(feature = "nats")]
    pub use zato_nats::NatsOutgoing;

    #[cfg(feature = "redis")]
    pub use zato_redis::RedisOutgoing;

    #[cfg(feature = "mqtt")]
    pub use zato_mqtt::{MqttMessage, MqttOutgoing};
    #[cfg(feature = "sql")]
    pub use zato_sql::SqlOutgoing;

    #[cfg(feature = "amqp10")]
    pub use zato_amqp10::Amqp10Outgoing;
    #[cfg(feature = "pubsub")]
    pub use zato_pubsub::PubSubExt;
}

/// Compiles the README's examples, so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

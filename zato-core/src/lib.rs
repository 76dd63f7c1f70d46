//! The core of zato-rs: services, SimpleIO, the service registry and the invocation path.
//!
//! A service is a type implementing [`Service`], usually written with the `#[service]`
//! attribute of the `zato` crate. It declares its input and output as Rust types (SimpleIO, see
//! [`sio`]) and receives typed input whether the caller sent a query string, JSON, XML, a SOAP
//! 1.1/1.2 envelope or a form. Services are deployed into a [`Platform`]'s [`ServiceRegistry`]
//! and invoked by channels through [`Platform::dispatch`] or by other services through
//! [`Context`].
//!
//! The API descriptions, OpenAPI and WSDL, are generated from the services' SimpleIO by
//! [`describe`].
//!
//! This crate knows no transport and no remote system: channel adapters and outgoing connections
//! live in their own crates and plug in through [`RawRequest`]/[`RawResponse`] and
//! [`OutgoingConnections`]. What a transport tells of a request (HTTP's method and headers) rides
//! along as a [`Transport`] the adapter crate defines, each kind of channel names itself with a
//! [`ChannelKind`] of its own, and metrics are recorded through [`metrics`]' own types.
//!
//! # Examples
//!
//! ```
//! use zato_core::{Context, Platform, Request, Response, Service, ServiceError};
//!
//! struct Hello;
//!
//! impl Service for Hello {
//!     const NAME: &'static str = "demo.hello";
//!     type Input = ();
//!     type Output = ();
//!
//!     async fn handle(&self, req: Request<()>, _ctx: &Context) -> Result<Response<()>, ServiceError> {
//!         println!("hello from {}", req.cid);
//!         Ok(Response::new(()))
//!     }
//! }
//!
//! let platform = Platform::new();
//! platform.services().deploy(Hello).unwrap();
//! assert_eq!(platform.services().list()[0].name, "demo.hello");
//! ```

pub mod channel;
mod cid;
pub mod claims;
pub mod config;
mod context;
pub mod describe;
mod error;
pub mod kind;
mod message;
pub mod metrics;
mod outgoing;
pub mod patterns;
mod platform;
mod recording;
mod registry;
mod render;
mod secret;
pub mod security;
mod service;
pub mod sio;
pub mod tasks;
pub mod telemetry;
pub mod text;

pub use channel::{ChannelAdapter, ChannelChange, ChannelError, ChannelSummary, Channels};
pub use cid::Cid;
pub use config::{ConfigError, ConfigProblem};
pub use context::Context;
pub use error::{FaultCode, OutgoingError, OutgoingErrorKind, ServiceError};
pub use message::{ChannelInfo, ChannelKind, RawRequest, RawResponse, Transport};
pub use outgoing::OutgoingConnections;
pub use platform::{DEFAULT_MAX_BACKGROUND, DEFAULT_SHUTDOWN_TIMEOUT, Platform};
pub use recording::{MAX_RECORDED, Recording};
pub use registry::{DeployError, Invocation, ServiceInfo, ServiceRegistry};
pub use render::render_error;
pub use secret::Secret;
pub use service::{Payload, Request, Response, Service};
pub use sio::DataFormat;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

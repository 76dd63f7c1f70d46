//! zato-rs: an embeddable integration platform in the spirit of Zato.
//!
//! Declare services with `#[service]`, give them typed input from a query string, JSON, XML or
//! SOAP with `#[derive(SimpleIo)]`, and invoke them through a [`Platform`].
//!
//! # Examples
//!
//! ```
//! use zato::prelude::*;
//!
//! #[derive(SimpleIo, Debug)]
//! struct Dispatch {
//!     target: Vec<String>,
//! }
//!
//! #[service(name = "invoice.dispatcher")]
//! async fn invoice_dispatcher(req: Request<Dispatch>, _ctx: &Context) -> Result<(), ServiceError> {
//!     for target in &req.input.target {
//!         println!("would store {} bytes in {target}", req.raw_request.len());
//!     }
//!     Ok(())
//! }
//!
//! let platform = Platform::new();
//! platform.services().deploy(invoice_dispatcher).unwrap();
//! ```

pub use zato_core as core;
pub use zato_core::{
    ChannelInfo, ChannelKind, Cid, Context, DataFormat, HttpInfo, OutgoingConnections,
    OutgoingError, OutgoingErrorKind, Platform, RawRequest, RawResponse, Request, Response,
    Service, ServiceError, ServiceRegistry, render_error, sio,
};

#[cfg(feature = "macros")]
pub use zato_macros::{SimpleIo, service};

#[cfg(feature = "http")]
pub use zato_channels as channels;

#[cfg(feature = "swift")]
pub use zato_swift as swift;

#[doc(hidden)]
pub use zato_core::__private;

/// The names a service module needs.
pub mod prelude {
    pub use zato_core::sio::{Csv, Raw, Secret};
    pub use zato_core::{Context, Platform, Request, Response, Service, ServiceError};

    #[cfg(feature = "swift")]
    pub use zato_swift::SwiftOutgoing;

    #[cfg(feature = "macros")]
    pub use zato_macros::{SimpleIo, service};

    #[cfg(feature = "http")]
    pub use zato_channels::{HttpChannelConfig, HttpConfig, HttpServer, SecurityDef};
}

/// Compiles the README's examples, so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

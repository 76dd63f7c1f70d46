//! HTTP channels on hyper 1: an [`HttpServer`] listens on one address and serves any number of
//! [`HttpChannelConfig`]s, under the [`SecurityDef`]s they name.
//!
//! The request path: `server` accepts, `connection` serves each connection (HTTP/1.1, and HTTP/2
//! with the `http2` feature), `handle` answers each request through the `router`'s table and
//! the channel's `security`, after `strict` has checked what hyper leaves to the application and
//! `body` has read the body under the channel's size limit and the listener's memory budget, and
//! the platform runs the service. `config` holds the serde types,
//! `validate` checks them, `adapter` changes them while serving and presents the server to the
//! platform as a [`ChannelAdapter`](zato_core::ChannelAdapter).

mod adapter;
mod body;
mod config;
mod conn;
mod connection;
mod handle;
mod info;
mod jwt;
mod kind;
mod openapi;
mod pattern;
mod peer;
mod ratelimit;
mod router;
mod security;
mod server;
mod shared;
mod strict;
mod tls;
mod trace;
mod validate;
mod x509;

pub use body::DEFAULT_BODY_MEMORY_BUDGET;
pub use config::HTTP_KIND;
pub use config::{
    DEFAULT_API_KEY_HEADER, DEFAULT_MAX_BODY_SIZE, DEFAULT_TIMEOUT, HttpChannelConfig, HttpConfig,
    SecurityDef,
};
pub use handle::X_ZATO_CID;
pub use info::{HttpInfo, HttpRequestExt};
pub use kind::{
    ApiKey, ApiKeyKind, BasicAuth, BasicAuthKind, HttpChannelKind, HttpTlsConfig, HttpTlsKind,
    IpList, IpListKind, Jwt, JwtKind, SecurityKind, SecurityType, TlsClientCert, TlsClientCertKind,
    config_schemas,
};
pub use openapi::openapi_document;
pub use ratelimit::{MAX_CALLERS, RateLimit};
pub use server::HttpServer;
pub use shared::{DEFAULT_DRAIN_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS};
pub use tls::{
    DEFAULT_TLS_RELOAD_INTERVAL, HTTP_TLS_CERT_ENV, HTTP_TLS_KEY_ENV, TlsError, TlsFiles,
};
pub use zato_core::describe::wsdl_document;

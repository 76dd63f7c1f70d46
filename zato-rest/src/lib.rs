//! Outgoing REST and SOAP connections for zato-rs: the integration platform's most used object.
//!
//! - `outgoing.http` ([`HttpConnection`]) and `outgoing.soap` ([`SoapConnection`]): an address,
//!   a security definition by name, default headers, a data format, connect and total timeouts,
//!   a bounded pool of call slots, retries with backoff, jitter and `Retry-After`, a circuit
//!   breaker, an optional rate limit, TLS settings and a ping; edited live.
//! - Outbound security types beside the channels' `basic_auth` and `apikey`: `bearer_token`,
//!   `oauth2_client_credentials` (a cached token, one refresh at a time, a refresh and a retry
//!   on a 401) and `tls_client_cert` (mutual TLS).
//! - [`RestError`]: every failure as a 502, 503 or 504 naming the connection, never a 500.
//!
//! A service reaches a connection by name with [`RestOutgoing`]:
//!
//! ```no_run
//! use zato_core::{Context, ServiceError};
//! use zato_rest::RestOutgoing;
//!
//! #[derive(serde::Serialize)]
//! struct Invoice { amount: u32 }
//! #[derive(serde::Deserialize)]
//! struct Stored { id: String }
//!
//! async fn notify(ctx: &Context) -> Result<Stored, ServiceError> {
//!     let stored: Stored = ctx
//!         .outgoing()
//!         .http("CRM")?
//!         .post("/invoices/{id}", &Invoice { amount: 10 })
//!         .param("id", 123)
//!         .await?
//!         .json()?;
//!     Ok(stored)
//! }
//! ```

mod breaker;
mod call;
mod config;
mod connection;
mod error;
mod kind;
mod response;
mod security;
mod soap;

pub use breaker::BreakerState;
pub use call::RestCall;
pub use config::{RestConfig, RestFormat, SoapVersionConfig};
pub use connection::{HttpConnection, RestMetrics, RestStats};
pub use error::{EXCERPT_CHARS, RestError, RestErrorKind};
pub use kind::{HttpKind, RestOutgoing, RestPlugin, SoapKind, plugin};
pub use response::RestResponse;
pub use security::{
    BearerToken, BearerTokenConfig, BearerTokenKind, BuiltOutbound, ClientAuth,
    OAuth2ClientCredentials, OAuth2Config, OAuth2Kind, OutboundKind, OutboundType, TlsClientCert,
    TlsClientCertConfig, TlsClientCertKind,
};
pub use soap::SoapConnection;

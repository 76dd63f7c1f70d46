//! OpenStack Swift outgoing connections for zato-rs.
//!
//! - [`SwiftClient`]: every account, container and object operation over reqwest (rustls), with
//!   auth v1.0, Keystone v2.0 (password or Rackspace API key) and v3, or a pre-authenticated
//!   token; retries with exponential backoff, jitter and `Retry-After`; one re-authentication on
//!   a 401; percent-encoded, validated names; ETag checks; static large objects; bulk delete;
//!   temp URLs.
//! - [`SwiftConnection`]: a bb8 pool of authenticated clients with a bounded checkout wait,
//!   reconfigured live; services reach it with [`SwiftOutgoing::swift`].
//! - `local::LocalSwift` (feature `local`, off by default so that production builds compile no
//!   server): a Swift-compatible endpoint on 127.0.0.1 for development and tests.
//!
//! # Examples
//!
//! ```
//! # #[cfg(feature = "local")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use zato_swift::local::{LocalSwift, LocalSwiftConfig};
//! use zato_swift::{Metadata, PutOptions, SwiftConfig, SwiftConnection};
//!
//! let local = LocalSwift::start(LocalSwiftConfig::default()).await?;
//! let conn = SwiftConnection::new(SwiftConfig::v1(
//!     "Invoice Dispatcher",
//!     local.auth_url(),
//!     local.user(),
//!     local.key(),
//! ))?;
//!
//! let client = conn.client().await?;
//! client.create_container("CRM", &Metadata::new()).await?;
//! client
//!     .put_object("CRM", "123.json", &br#"{"id":"123"}"#[..], &PutOptions::default())
//!     .await?;
//! let object = client.get_object("CRM", "123.json").await?;
//! assert_eq!(&object.data[..], br#"{"id":"123"}"#);
//! drop(client);
//! local.shutdown().await;
//! # Ok(()) }
//! # #[cfg(not(feature = "local"))]
//! # fn main() {}
//! ```

mod auth;
mod client;
mod config;
mod connection;
mod container_name;
mod error;
mod kind;
mod large;
mod listing;
mod names;
mod object;
mod retry;

#[cfg(feature = "local")]
pub mod local;

pub use client::{Metadata, SwiftClient};
pub use config::{AuthVersion, Secret, SwiftConfig};
pub use connection::{PoolStats, PooledSwiftClient, SwiftConnection, SwiftOutgoing};
pub use container_name::ContainerName;
pub use error::{SwiftError, SwiftErrorKind};
pub use kind::{SwiftKind, SwiftPlugin, plugin};
pub use large::{BulkDeleteResult, TempUrlDigest, temp_url};
pub use listing::{
    AccountInfo, ContainerEntry, ContainerInfo, ListOptions, ObjectEntry, ObjectSummary,
};
pub use names::{MAX_CONTAINER_NAME, MAX_OBJECT_NAME, check_container, check_object};
pub use object::{GetOptions, Object, ObjectInfo, ObjectStream, PutOptions};
/// The configuration error every adapter and connection of zato-rs reports.
pub use zato_core::{ConfigError, ConfigProblem};

//! The one configuration error of the workspace: every problem at once, each with its path.
//!
//! Channel adapters and outgoing connections validate their configuration as a whole and report
//! every problem they find in one [`ConfigError`], each a [`ConfigProblem`] naming the offending
//! field by a path into the node's configuration document: `http.channels[2].url_path`,
//! `outgoing.swift."Invoice Dispatcher".auth_url`.
//!
//! # Examples
//!
//! ```
//! use zato_core::{ConfigError, ConfigProblem};
//!
//! let mut problems = Vec::new();
//! problems.push(ConfigProblem::new("auth_url", "must be an http(s) URL"));
//! problems.push(ConfigProblem::new("pool_size", "must be at least 1"));
//! let err = ConfigError::check(problems)
//!     .unwrap_err()
//!     .within(&format!("outgoing.swift.{}", zato_core::config::key("Invoice Dispatcher")));
//! assert_eq!(err.problems()[0].path, r#"outgoing.swift."Invoice Dispatcher".auth_url"#);
//! assert_eq!(
//!     err.to_string(),
//!     r#"invalid configuration: outgoing.swift."Invoice Dispatcher".auth_url: must be an http(s) URL; outgoing.swift."Invoice Dispatcher".pool_size: must be at least 1"#,
//! );
//! ```

//!
//! # The config document and its runtime
//!
//! A node's whole configuration is one [`ConfigDocument`]: channels by kind, outgoing
//! connections by kind, security definitions and services' settings, in TOML, YAML or JSON. The
//! kinds' schemas ([`ObjectSchema`]) come from the adapter crates; a [`Checker`] checks a
//! document offline against them. A [`ConfigRuntime`] keeps the configuration in a
//! [`ConfigStore`] ([`MemoryStore`] by default) and applies each change to the running node
//! through the kinds' [`ObjectKind::apply`], with no restart.

pub mod bounds;
mod document;
mod error;
mod runtime;
mod schema;
mod store;
#[cfg(feature = "watch")]
mod watch;

pub use document::{ConfigDocument, Format, ObjectKey, SECRET_PLACEHOLDER, Section};
pub use error::{ConfigError, ConfigProblem, key};
pub use runtime::{
    ChangeError, ConfigRuntime, DEFAULT_WRITE_WAIT, Diff, ImportOptions, ImportOutcome, PutMode,
    WriteOutcome, merge_patch,
};
pub(crate) use schema::decode_lenient;
pub use schema::{
    BatchError, Checked, Checker, ObjectKind, ObjectSchema, Objects, Reference, ServiceSchema,
    ServiceSettings, Step, decode_as, normalize_as,
};
pub use store::{
    Commit, ConfigStore, DEFAULT_HISTORY, HistoryEntry, MemoryStore, Op, Replication, Snapshot,
    StoreError, Stored,
};
#[cfg(feature = "watch")]
pub use watch::{FileWatch, Prepare};

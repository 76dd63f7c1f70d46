//! Swift inbox channels: a container polled for new objects, each handed to a service once, at
//! least once, and never on two nodes at a time while they run normally.
//!
//! A channel is `channels.swift_inbox.<name>` ([`SwiftInboxConfig`]): it reads its container
//! through an outgoing Swift connection (`outgoing.swift`), and is configured, edited,
//! deactivated and deleted live like every other channel.
//!
//! # Processing
//!
//! - The inbox is listed page by page (`batch_size` objects each, continued with the marker),
//!   so a listing of any size is read whole. A pass that found work is followed by another at
//!   once; an empty one by a pause of `poll_interval`.
//! - Each object is claimed (see below), read, and its body becomes the service's raw request,
//!   decoded as `data_format` says. The object's container, name, ETag, content type, last
//!   modification, size and attempt number are channel parameters (`swift_container`,
//!   `swift_object`, `swift_etag`, `swift_content_type`, `swift_last_modified`, `swift_bytes`,
//!   `swift_attempt`), and so is each metadata item (`swift_meta_<key>`, `-` as `_`): a
//!   SimpleIO input reads them as it reads path parameters.
//! - On success the object is copied on the server to `archive_container` under its own name,
//!   with `X-Object-Meta-Zato-Cid` and `X-Object-Meta-Zato-Archived` (RFC 3339), then deleted
//!   from the inbox; without an archive container it is deleted.
//! - When its service fails (a 5xx, or the channel's `timeout`), the object stays and is tried
//!   again after a delay doubling from `poll_interval`, up to `max_attempts` attempts; the last
//!   failure moves it to `error_container` with the error in `X-Object-Meta-Zato-Error`
//!   (one line, cut to Swift's 256 bytes), and `Zato-Cid`, `Zato-Status`, `Zato-Attempts` and
//!   `Zato-Failed`.
//! - Malformed input (refused by SimpleIO or the service with 400, 413, 415 or 422, an object
//!   larger than `max_bytes`, or of a content type no format reads) goes to the error container
//!   at once.
//! - An object whose name no Swift request can carry (`.`, `..`, `a/../b`, a control character
//!   such as CR or LF, over 1024 bytes: put there by another client) can be neither claimed,
//!   read nor moved. It is skipped: left in the inbox, logged with its name escaped and counted
//!   (`skipped`), once each time the channel starts polling. It never fails a pass, so the
//!   other objects are not delayed. Likewise one object whose claim fails is tried again by the
//!   next pass; only a page on which no claim got an answer from the claim store fails the pass
//!   (and backs off).
//! - When Swift itself fails while an object is read or moved, the object stays where it is
//!   and the attempt is not counted. A service that succeeded but whose object could not be
//!   moved runs again later: services on an inbox should be idempotent.
//!
//! # Claims
//!
//! Every node of a cluster polls the same inbox. Before handling an object a node claims it,
//! with a lease it renews while it works (every third of `lease`). The claim also counts the
//! attempts, where the count survives restarts. A node that dies mid-object stops renewing;
//! once the lease runs out another node takes the object over, and the attempt is counted. An
//! object whose attempts all ended that way goes to the error container.
//!
//! - In a cluster, claims are rows of the cluster's PostgreSQL
//!   ([`Platform::set_claims`](zato_core::Platform::set_claims), done by
//!   `zato_cluster::ClusterNode::join`): exact, so no two nodes handle one object at the same
//!   time unless a lease ran out.
//! - Without one, claims are objects of the claims container ([`SwiftClaims`]), which is the
//!   best Swift offers; its windows for a duplicate are listed there.
//!
//! Claims never write to the inbox. The guarantee is at-least-once: no object with a name Swift
//! can serve is lost or skipped; one is handled twice only after its node died or lost its lease mid-object, or in
//! the windows of Swift claims.
//!
//! # Examples
//!
//! ```no_run
//! use std::sync::Arc;
//! use zato_channels::swift_inbox::{SwiftInboxAdapter, SwiftInboxConfig};
//! use zato_core::{ChannelAdapter, Platform};
//! use zato_swift::{SwiftConfig, SwiftConnection, SwiftOutgoing};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let platform = Platform::new();
//! // platform.services().deploy(invoice_dispatcher)?;
//! let swift = SwiftConfig::v1("swift", "http://127.0.0.1:8080/auth/v1.0", "test:tester", "testing");
//! platform.outgoing().add_swift(SwiftConnection::new(swift)?);
//! let inbox = SwiftInboxAdapter::attach(&platform)?;
//! let channel = SwiftInboxConfig::new("invoices", "swift", "invoices-in", "invoice.dispatcher", "invoices-error")
//!     .with_archive("invoices-archive")
//!     .with_create_containers(true);
//! inbox.upsert_channel(serde_json::to_value(channel)?).await?;
//! platform.start().await?; // polling from here on
//! # Ok(())
//! # }
//! ```

mod adapter;
mod claims;
mod config;
mod kind;
mod poller;

pub use self::adapter::{SwiftInboxAdapter, SwiftInboxStats};
pub use self::claims::SwiftClaims;
pub use self::config::SWIFT_INBOX_KIND;
pub use self::config::{ClaimsMode, InboxFormat, SwiftInboxConfig};
pub use self::kind::{SwiftInboxKind, SwiftInboxPlugin, plugin};
pub use self::poller::{CID_META, ERROR_META, MAX_META_VALUE};

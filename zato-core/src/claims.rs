//! Claims: which node works on an item now. A channel that pulls work from a shared place (a
//! Swift inbox) claims each item before it handles it, so that several nodes polling the same
//! place do not handle the same item at the same time.
//!
//! A claim is a lease: it lasts until its holder renews it or lets it go, and once it runs out,
//! another node may take the item over. That is how the work of a node that died mid-item is not
//! lost. A claim also counts the attempts at its item, in the claim store, so that the count
//! survives a restart.
//!
//! The platform may hold one [`ClaimStore`] ([`Platform::set_claims`](crate::Platform::set_claims)):
//! a node of a cluster holds the cluster's, in PostgreSQL. Channels that find none use their
//! own.

use std::fmt;
use std::time::Duration;

/// An item to claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimItem<'a> {
    /// Where the item lives, shared by every node polling it: a container's name.
    pub scope: &'a str,
    /// The item within its scope: an object's name.
    pub key: &'a str,
    /// Which version of the item: when the item is replaced by another of the same key, the
    /// count of attempts starts again.
    pub version: &'a str,
}

/// Why a claim store could not answer. Its message never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ClaimError(pub String);

/// Where claims live, shared by every node polling the same items.
///
/// The guarantees a store gives are its own to state: PostgreSQL's are exact (one row per item,
/// changed in one statement); an object store's may leave a window in which two nodes both win.
#[async_trait::async_trait]
pub trait ClaimStore: Send + Sync + fmt::Debug + 'static {
    /// What it keeps claims in, for logs: `postgresql`, `swift`.
    fn kind(&self) -> &str;

    /// Claims `item` for `holder` for `lease`. The item is free when nobody claimed it, when
    /// its last claim ran out or was let go, and its retry time has come, or when it is a new
    /// version of an item done before. Returns the number of this attempt at this version
    /// (1 the first time), or `None` when another holder has it, or it was done.
    ///
    /// # Errors
    ///
    /// When the store cannot be reached: the item is not claimed.
    async fn claim(
        &self,
        item: &ClaimItem<'_>,
        holder: &str,
        lease: Duration,
    ) -> Result<Option<u32>, ClaimError>;

    /// Extends `holder`'s claim on `item` to `lease` from now. Returns `false` when the claim
    /// is no longer `holder`'s: its lease ran out and another node took the item.
    ///
    /// # Errors
    ///
    /// When the store cannot be reached.
    async fn renew(
        &self,
        item: &ClaimItem<'_>,
        holder: &str,
        lease: Duration,
    ) -> Result<bool, ClaimError>;

    /// Lets `item` go without having done it: it may be claimed again after `retry_after`.
    /// With `counted` false the attempt is taken back, as when storage, not the item, failed.
    ///
    /// # Errors
    ///
    /// When the store cannot be reached: the claim then runs out with its lease.
    async fn release(
        &self,
        item: &ClaimItem<'_>,
        holder: &str,
        retry_after: Duration,
        counted: bool,
    ) -> Result<(), ClaimError>;

    /// Records `item` as done: this version is not claimed again.
    ///
    /// # Errors
    ///
    /// When the store cannot be reached.
    async fn finish(&self, item: &ClaimItem<'_>, holder: &str) -> Result<(), ClaimError>;

    /// Forgets what no longer matters in `scope`: items done long ago, claims of items gone.
    /// Called now and then by the channels; does nothing unless the store keeps such records.
    ///
    /// # Errors
    ///
    /// When the store cannot be reached.
    async fn prune(&self, scope: &str) -> Result<(), ClaimError> {
        let _ = scope;
        Ok(())
    }
}

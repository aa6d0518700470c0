//! [`Custody`]: moving a grain's stored state from one silo's embedded store to another's, so
//! that state follows ownership when the cluster changes.
//!
//! A move has two steps, so that a crash between them never leaves two usable copies: the holder
//! first marks its copy as lent to the new owner (it no longer uses it), and deletes it only
//! once the new owner has made its import durable.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{JournalEntry, Snapshot, StoreError};
use crate::id::GrainId;

/// Everything one store holds for a grain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GrainState {
    /// The last sequence number ever appended.
    pub(crate) last_seq: u64,
    /// The entries up to here were pruned.
    pub(crate) pruned_through: u64,
    /// The entries kept, in order.
    pub(crate) entries: Vec<JournalEntry>,
    /// The snapshots kept, in order; the last is the latest.
    pub(crate) snapshots: Vec<Snapshot>,
}

/// The operations that move grain state between two stores of the same kind.
#[async_trait]
pub(crate) trait Custody: Send + Sync + 'static {
    /// The grain's state, or `None` if nothing is stored for it here or it has been lent.
    async fn export(&self, grain: &GrainId) -> Result<Option<GrainState>, StoreError>;

    /// The state of the grain's lent copy, or `None` if it has none: for giving an orphaned
    /// copy, one its borrower never took, to the silo that now asks for it.
    async fn export_lent(&self, grain: &GrainId) -> Result<Option<GrainState>, StoreError>;

    /// Marks the grain's state as lent to silo `to`: this store no longer uses its copy.
    async fn lend(&self, grain: &GrainId, to: &str) -> Result<(), StoreError>;

    /// The silo the grain's state was lent to, if it was.
    async fn lent_to(&self, grain: &GrainId) -> Result<Option<String>, StoreError>;

    /// Makes a lent copy this store's own again, for when the borrower never took it.
    async fn reclaim(&self, grain: &GrainId) -> Result<(), StoreError>;

    /// Replaces whatever is stored for the grain with `state`.
    async fn import(&self, grain: &GrainId, state: GrainState) -> Result<(), StoreError>;

    /// Deletes everything stored for the grain.
    async fn remove(&self, grain: &GrainId) -> Result<(), StoreError>;

    /// The grains whose state this store holds and has not lent.
    async fn grains(&self) -> Result<Vec<GrainId>, StoreError>;

    /// The silo incarnation (name and generation) that last started on this store, if any.
    async fn incarnation(&self) -> Result<Option<(String, u64)>, StoreError>;

    /// Records, durably, that incarnation `name`@`generation` runs on this store now.
    async fn set_incarnation(&self, name: &str, generation: u64) -> Result<(), StoreError>;
}

//! The [`SnapshotStore`] trait: each grain's saved states, keyed by the sequence number they cover.

use async_trait::async_trait;

use super::StoreError;
use crate::id::GrainId;

/// A grain's encoded state after applying its journal up to and including `seq`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// The last journal entry the state includes.
    pub seq: u64,
    /// The encoded state.
    pub payload: Vec<u8>,
}

/// Stored snapshots per grain; recovery starts from the latest one.
#[async_trait]
pub trait SnapshotStore: Send + Sync + 'static {
    /// The snapshot of `grain` with the highest sequence number, if any.
    async fn latest(&self, grain: &GrainId) -> Result<Option<Snapshot>, StoreError>;

    /// Stores `snapshot`, replacing one with the same sequence number.
    async fn save(&self, grain: &GrainId, snapshot: Snapshot) -> Result<(), StoreError>;

    /// Deletes the snapshots of `grain` taken before `before_seq`.
    async fn prune(&self, grain: &GrainId, before_seq: u64) -> Result<(), StoreError>;
}

//! The [`Journal`] trait: each grain's append-only event log.

use async_trait::async_trait;
use futures::stream::BoxStream;

use super::StoreError;
use crate::id::GrainId;

/// One journal entry as stored: its sequence number and its encoded event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JournalEntry {
    /// The entry's position in the grain's journal, from 1.
    pub seq: u64,
    /// The encoded event.
    pub payload: Vec<u8>,
}

/// A grain's journal entries in ascending order, read lazily so that memory stays bounded.
pub type EntryStream = BoxStream<'static, Result<JournalEntry, StoreError>>;

/// Per-grain append-only event logs with contiguous sequence numbers 1, 2, 3, ...
///
/// The runtime is the only writer. An implementation must make `append` atomic (all events or
/// none), durable before it returns `Ok`, and conditional on the expected sequence number, so
/// that two activations racing on one grain can never both succeed and a history never forks.
/// The operations map onto SQL directly: a unique `(grain, seq)` key, a range select, a delete.
#[async_trait]
pub trait Journal: Send + Sync + 'static {
    /// Appends `events` as entries `first_seq`, `first_seq + 1`, ... of `grain`'s journal.
    /// Appending no events writes nothing and succeeds without checking `first_seq`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] unless the journal's last sequence number is `first_seq - 1`;
    /// any other error means the outcome is unknown.
    async fn append(
        &self,
        grain: &GrainId,
        first_seq: u64,
        events: Vec<Vec<u8>>,
    ) -> Result<(), StoreError>;

    /// The entries of `grain` with a sequence number of at least `from_seq`, in order.
    fn read(&self, grain: &GrainId, from_seq: u64) -> EntryStream;

    /// The sequence number of the last entry ever appended for `grain` (0 for none), even if
    /// that entry has since been pruned.
    async fn last_seq(&self, grain: &GrainId) -> Result<u64, StoreError>;

    /// Deletes the entries of `grain` up to and including `through_seq`. The last sequence number
    /// is kept, so appends continue after it.
    async fn prune(&self, grain: &GrainId, through_seq: u64) -> Result<(), StoreError>;
}

//! [`StoreError`], what a journal or snapshot store reports, and [`PersistError`], what grain
//! code gets back from `persist` and `save`.

use serde::{Deserialize, Serialize};

use crate::id::GrainId;

/// Why a journal or snapshot store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The append expected the journal to end just before `expected`, but it ends at `actual`:
    /// another activation of the grain wrote first, so this writer is stale.
    #[error(
        "journal of {grain} ends at sequence {actual}, but the append was for sequence {expected}: another activation wrote first"
    )]
    Conflict {
        /// The grain whose journal was appended to.
        grain: GrainId,
        /// The first sequence number of the rejected append.
        expected: u64,
        /// The last sequence number in the journal.
        actual: u64,
    },
    /// The grain's state here was lent to another silo, which owns the grain now: this writer
    /// is a stale activation.
    #[error("the state of {grain} was handed to another silo; this activation is stale")]
    Lent {
        /// The grain.
        grain: GrainId,
    },
    /// A newer activation of the grain, probably on another silo, claimed it after this one
    /// started: this writer is a stale activation and nothing was written.
    #[error(
        "{grain} was activated again elsewhere since this activation started; this activation is stale"
    )]
    Superseded {
        /// The grain.
        grain: GrainId,
    },
    /// A stored record failed its checksum or could not be read back.
    #[error("corrupt {record} record of {grain} at sequence {seq}: {reason}")]
    Corrupt {
        /// The grain the record belongs to.
        grain: GrainId,
        /// `"journal"`, `"journal head"` or `"snapshot"`.
        record: &'static str,
        /// The record's sequence number (0 for the journal head).
        seq: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The storage engine failed; for a write, whether it became durable is unknown.
    #[error("{backend} storage failed: {message}")]
    Backend {
        /// The storage engine.
        backend: &'static str,
        /// The engine's error.
        message: String,
    },
    /// The store could not be opened.
    #[error("cannot open {backend} storage at {path}: {message}")]
    Open {
        /// The storage engine.
        backend: &'static str,
        /// The data directory.
        path: String,
        /// The engine's error.
        message: String,
    },
    /// The store was closed while the operation waited.
    #[error("{backend} storage is closed")]
    Closed {
        /// The storage engine.
        backend: &'static str,
    },
}

/// Why `GrainContext::persist` or `GrainContext::save` did not make a change durable.
///
/// Grain methods may return it to callers (it is serializable). Unless the error is
/// [`Encode`](PersistError::Encode), the activation is discarded when the turn ends and the next
/// call recovers the grain from what is durable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PersistError {
    /// Another activation of the grain wrote first; this one was stale and nothing was written.
    #[error("{grain} was not saved, another activation wrote first: {message}")]
    Conflict {
        /// The grain.
        grain: GrainId,
        /// The store's account of the conflict.
        message: String,
    },
    /// The store failed. The write may or may not have become durable; the next activation
    /// recovers whatever did.
    #[error("{grain} was not saved, storage failed: {message}")]
    Storage {
        /// The grain.
        grain: GrainId,
        /// The store's error.
        message: String,
    },
    /// The events or state could not be encoded; nothing was written.
    #[error("{grain} was not saved, its {what} cannot be encoded: {message}")]
    Encode {
        /// The grain.
        grain: GrainId,
        /// `"events"` or `"state"`.
        what: String,
        /// The encoder's error.
        message: String,
    },
}

impl PersistError {
    pub(crate) fn from_store(grain: &GrainId, error: StoreError) -> Self {
        match error {
            StoreError::Conflict { .. }
            | StoreError::Lent { .. }
            | StoreError::Superseded { .. } => PersistError::Conflict {
                grain: grain.clone(),
                message: error.to_string(),
            },
            other => PersistError::Storage {
                grain: grain.clone(),
                message: other.to_string(),
            },
        }
    }
}

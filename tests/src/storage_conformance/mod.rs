//! The storage conformance suite: what every [`Journal`] and [`SnapshotStore`] must do, one public
//! async function per property, so that each backend (sled, redb, and later PostgreSQL) runs the
//! same checks.
//!
//! Every property takes `open`, which opens the backend under test on the same data each time it
//! is called. A property drops every handle it holds before it opens the store again, so `open`
//! may rely on the previous handle being closed. Each property uses grain kinds of its own and
//! expects the store to hold none of their records at the start. The corruption properties also
//! take a backend-specific corruptor, the only place where the suite reaches past the traits.
//!
//! A property panics with a message naming what broke.
//!
//! # Examples
//!
//! ```
//! use grain_runtime::Storage;
//! use grain_tests::storage_conformance;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let dir = tempfile::tempdir().unwrap();
//! storage_conformance::sequence_numbers_are_contiguous_from_one(async || {
//!     Storage::redb(dir.path()).unwrap()
//! })
//! .await;
//! # }
//! ```

mod appends;
mod concurrency;
mod corruption;
mod durability;
mod isolation;
mod journal_order;
mod pruning;
mod snapshots;

pub use appends::{appends_are_all_or_nothing, appends_at_the_wrong_seq_conflict};
pub use concurrency::{
    concurrent_appends_to_many_grains_all_land, racing_appends_to_one_grain_have_one_winner,
};
pub use corruption::{corrupt_journal_entry_is_reported, corrupt_snapshot_is_reported};
pub use durability::data_survives_reopening;
pub use isolation::grains_never_see_each_others_records;
pub use journal_order::{long_journal_streams_in_order, sequence_numbers_are_contiguous_from_one};
pub use pruning::{last_seq_survives_pruning, prune_deletes_exactly_through_seq};
pub use snapshots::{
    latest_snapshot_has_the_highest_seq, saving_a_snapshot_again_replaces_it,
    snapshot_prune_deletes_those_before_seq,
};

use std::ops::RangeInclusive;
use std::sync::Arc;

use futures::TryStreamExt as _;
use grain_runtime::{
    GrainId, GrainKey, GrainKind, Journal, JournalEntry, Snapshot, SnapshotStore, StoreError,
};

/// Which kind of record a corruptor damages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A journal entry.
    JournalEntry,
    /// A snapshot.
    Snapshot,
}

/// A stored record that a backend's corruptor must damage, the way a failing disk or a careless
/// operator might: flip a byte of its stored payload, so that reading it back must fail.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    /// A journal entry or a snapshot.
    pub kind: RecordKind,
    /// The grain the record belongs to.
    pub grain: GrainId,
    /// The entry's or snapshot's sequence number.
    pub seq: u64,
    /// The last bytes of the record's payload. No other record in the store has a payload that
    /// ends with them, so a corruptor that cannot decode keys can find the record by its value.
    pub payload_suffix: Vec<u8>,
}

// ===== helpers =====

const NO_ENTRIES: Vec<JournalEntry> = Vec::new();

fn grain(kind: &'static str, key: impl Into<GrainKey>) -> GrainId {
    GrainId::new(GrainKind::from_static(kind), key)
}

/// The payload this suite stores as entry `seq` of `grain`: unique across grains and entries,
/// and of varying length.
fn payload(grain: &GrainId, seq: u64) -> Vec<u8> {
    let mut payload = format!("{grain} #{seq}").into_bytes();
    payload.resize(payload.len() + (seq % 97) as usize, b'.');
    payload
}

fn entry(grain: &GrainId, seq: u64) -> JournalEntry {
    JournalEntry {
        seq,
        payload: payload(grain, seq),
    }
}

fn entries(grain: &GrainId, seqs: RangeInclusive<u64>) -> Vec<JournalEntry> {
    seqs.map(|seq| entry(grain, seq)).collect()
}

fn snapshot(grain: &GrainId, seq: u64) -> Snapshot {
    Snapshot {
        seq,
        payload: format!("the state of {grain} at {seq}").into_bytes(),
    }
}

fn rejected_events(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| format!("rejected event {i}").into_bytes())
        .collect()
}

/// Appends this suite's payloads for entries `first_seq..first_seq + count`.
async fn append(journal: &Arc<dyn Journal>, grain: &GrainId, first_seq: u64, count: u64) {
    let events = (first_seq..first_seq + count)
        .map(|seq| payload(grain, seq))
        .collect();
    if let Err(error) = journal.append(grain, first_seq, events).await {
        panic!("appending {count} events to {grain} at {first_seq}: {error}");
    }
}

async fn assert_conflict(journal: &Arc<dyn Journal>, grain: &GrainId, first_seq: u64, actual: u64) {
    let outcome = journal.append(grain, first_seq, rejected_events(2)).await;
    let expected = StoreError::Conflict {
        grain: grain.clone(),
        expected: first_seq,
        actual,
    };
    assert_eq!(
        outcome.err(),
        Some(expected),
        "an append to {grain} at {first_seq} when its journal ends at {actual}"
    );
}

async fn read_all(journal: &Arc<dyn Journal>, grain: &GrainId, from_seq: u64) -> Vec<JournalEntry> {
    journal
        .read(grain, from_seq)
        .try_collect()
        .await
        .unwrap_or_else(|error| panic!("reading {grain} from {from_seq}: {error}"))
}

async fn last_seq(journal: &Arc<dyn Journal>, grain: &GrainId) -> u64 {
    journal
        .last_seq(grain)
        .await
        .unwrap_or_else(|error| panic!("the last sequence number of {grain}: {error}"))
}

async fn prune(journal: &Arc<dyn Journal>, grain: &GrainId, through_seq: u64) {
    if let Err(error) = journal.prune(grain, through_seq).await {
        panic!("pruning {grain} through {through_seq}: {error}");
    }
}

async fn save(snapshots: &Arc<dyn SnapshotStore>, grain: &GrainId, seq: u64) {
    if let Err(error) = snapshots.save(grain, snapshot(grain, seq)).await {
        panic!("saving the snapshot of {grain} at {seq}: {error}");
    }
}

async fn latest(snapshots: &Arc<dyn SnapshotStore>, grain: &GrainId) -> Option<Snapshot> {
    snapshots
        .latest(grain)
        .await
        .unwrap_or_else(|error| panic!("the latest snapshot of {grain}: {error}"))
}

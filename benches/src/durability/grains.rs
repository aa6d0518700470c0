//! The journaled grains the persistence benchmarks drive.

use grain_runtime::prelude::*;
use serde::{Deserialize, Serialize};

/// A ledger event.
#[derive(Debug, Serialize, Deserialize)]
pub enum LedgerEvent {
    /// An amount was added.
    Added {
        /// How much.
        amount: u64,
    },
}

/// Applies a ledger event to a running total.
fn add(total: &mut u64, count: &mut u64, event: &LedgerEvent) {
    match event {
        LedgerEvent::Added { amount } => {
            *total += amount;
            *count += 1;
        }
    }
}

/// A ledger that never snapshots: appends measure the journal alone, and recovery replays every
/// event.
#[grain(
    kind = "bench.Ledger",
    journaled(snapshot_every = 1_000_000_000, snapshot_on_deactivate = false)
)]
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Ledger {
    total: u64,
    count: u64,
}

impl EventSourced for Ledger {
    type Event = LedgerEvent;
    fn apply(&mut self, event: &LedgerEvent) {
        add(&mut self.total, &mut self.count, event);
    }
}

#[grain]
impl Ledger {
    /// Persists `events` events of amount 1 in one append.
    pub async fn add(
        &mut self,
        ctx: &GrainContext<Self>,
        events: u64,
    ) -> Result<u64, PersistError> {
        ctx.persist(self, (0..events).map(|_| LedgerEvent::Added { amount: 1 }))
            .await
    }

    /// The number of events applied.
    pub async fn count(&self) -> u64 {
        self.count
    }
}

/// A ledger snapshotted every 200 events: after 300 events it recovers from the snapshot at 200
/// and replays 100.
#[grain(
    kind = "bench.SnapshottedLedger",
    journaled(snapshot_every = 200, snapshot_on_deactivate = false)
)]
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SnapshottedLedger {
    total: u64,
    count: u64,
}

impl EventSourced for SnapshottedLedger {
    type Event = LedgerEvent;
    fn apply(&mut self, event: &LedgerEvent) {
        add(&mut self.total, &mut self.count, event);
    }
}

#[grain]
impl SnapshottedLedger {
    /// Persists `events` events of amount 1 in one append.
    pub async fn add(
        &mut self,
        ctx: &GrainContext<Self>,
        events: u64,
    ) -> Result<u64, PersistError> {
        ctx.persist(self, (0..events).map(|_| LedgerEvent::Added { amount: 1 }))
            .await
    }

    /// The number of events applied.
    pub async fn count(&self) -> u64 {
        self.count
    }
}

//! Recovery streams a grain's journal: a grain with a million events (about 100 MB encoded) and
//! no snapshot recovers while the heap grows by a small fraction of that.
//!
//! The heap is measured by a counting global allocator, so this file holds a single test: other
//! tests running beside it in the same process would count too. It runs on redb, which writes the
//! journal about twice as fast as sled here, and whose engine does not free buffers in the
//! background while the heap is measured (sled's does, which would hide growth).
//!
//! The measurement does see a journal held in memory: collecting the same journal into a `Vec`
//! grows the heap by about 135 MB.

use std::time::Instant;

use grain_runtime::prelude::*;
use grain_runtime::{GrainKind, GrainSpec};
use grain_tests::durable::{Backend, DataDir};
use peak_alloc::PeakAlloc;
use serde::{Deserialize, Serialize};

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

/// Events in the journal.
const EVENTS: u64 = 1_000_000;

/// Events per append when the journal is written.
const BATCH: u64 = 10_000;

/// How much the heap may grow while the grain recovers.
const LIMIT: usize = 20 << 20;

/// What a [`Meter`] recorded.
#[derive(Debug, Serialize, Deserialize)]
pub enum MeterEvent {
    /// One reading.
    Reading {
        /// The value read.
        value: u64,
        /// A remark, long enough that each event takes about 100 bytes.
        note: String,
    },
}

/// An event-sourced meter that is never snapshotted.
#[grain(journaled(snapshot_on_deactivate = false))]
#[derive(Default, Serialize, Deserialize)]
pub struct Meter {
    readings: u64,
    sum: u64,
    note_bytes: u64,
}

impl EventSourced for Meter {
    type Event = MeterEvent;

    fn apply(&mut self, event: &MeterEvent) {
        let MeterEvent::Reading { value, note } = event;
        self.readings += 1;
        self.sum += value;
        self.note_bytes += note.len() as u64;
    }
}

#[grain]
impl Meter {
    /// The number of readings, their sum, and the length of all notes.
    pub async fn totals(&self) -> (u64, u64, u64) {
        (self.readings, self.sum, self.note_bytes)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_events_replay_in_bounded_memory() {
    let dir = DataDir::new(Backend::Redb);
    let storage = dir.open();
    let id = GrainId::new(GrainKind::from_static(Meter::KIND), "m");

    // One batch of events with the values 1 to `BATCH`, encoded once and appended again and again.
    let batch: Vec<Vec<u8>> = (1..=BATCH)
        .map(|value| {
            let note = "n".repeat(76);
            rmp_serde::to_vec_named(&MeterEvent::Reading { value, note }).unwrap()
        })
        .collect();
    let encoded = batch.iter().map(Vec::len).sum::<usize>() * (EVENTS / BATCH) as usize;
    let started = Instant::now();
    for first in (1..=EVENTS).step_by(BATCH as usize) {
        storage
            .journal()
            .append(&id, first, batch.clone())
            .await
            .unwrap();
    }
    let written = started.elapsed();
    // The store's writer frees each append's events after acknowledging it; one more append
    // waits for that, so that the baseline below does not include memory about to be freed.
    let fence = GrainId::new(GrainKind::from_static(Meter::KIND), "fence");
    storage
        .journal()
        .append(&fence, 1, vec![vec![0]])
        .await
        .unwrap();
    assert!(encoded >= 100_000_000, "{encoded} bytes encoded");

    let silo = grain_tests::silo()
        .storage(storage)
        .register::<Meter>()
        .start()
        .await
        .unwrap();
    let meter = silo.grain::<Meter>("m");
    let baseline = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let started = Instant::now();
    let totals = meter
        .totals()
        .timeout(std::time::Duration::from_secs(60))
        .await;
    let recovered = started.elapsed();
    let growth = HEAP.peak_usage().saturating_sub(baseline);
    println!(
        "wrote {encoded} bytes in {written:?}; recovered in {recovered:?} with the heap growing by {growth} bytes"
    );

    assert_eq!(
        totals,
        Ok((
            EVENTS,
            EVENTS / BATCH * (BATCH * (BATCH + 1) / 2),
            EVENTS * 76
        ))
    );
    assert!(
        growth < LIMIT,
        "recovering {encoded} bytes of events grew the heap by {growth} bytes, more than {LIMIT}"
    );
}

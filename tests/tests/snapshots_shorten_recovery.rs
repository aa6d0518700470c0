//! An event-sourced grain is snapshotted every `snapshot_every` persisted events and, unless told
//! otherwise, when it is deactivated. Recovery loads the latest snapshot and replays only the
//! events after it; without a snapshot it replays the journal from 1. A new snapshot deletes the
//! older ones and, with `prune_events`, the events it covers.
//!
//! Each grain counts the events its activation applied in a field that snapshots do not store,
//! so the first call after recovery tells how many events recovery replayed.

use grain_runtime::prelude::*;
use grain_runtime::{GrainKind, GrainSpec, Silo, Storage};
use grain_tests::durable::{Backend, DataDir, Table, journal_seqs};
use grain_tests::{backend_tests, eventually};
use serde::{Deserialize, Serialize};

/// What happened to a ledger.
#[derive(Debug, Serialize, Deserialize)]
pub enum LedgerEvent {
    /// An amount was added.
    Added(u64),
}

/// Defines an event-sourced ledger grain with the given `journaled(...)` options.
macro_rules! ledger {
    ($(#[$doc:meta])* $name:ident, $($options:tt)*) => {
        $(#[$doc])*
        #[grain(journaled($($options)*))]
        #[derive(Default, Serialize, Deserialize)]
        pub struct $name {
            total: u64,
            /// Events applied by this activation, in recovery or after `persist`; not persisted.
            #[serde(skip)]
            applied: u64,
        }

        impl EventSourced for $name {
            type Event = LedgerEvent;

            fn apply(&mut self, event: &LedgerEvent) {
                match event {
                    LedgerEvent::Added(n) => self.total += n,
                }
                self.applied += 1;
            }
        }

        #[grain]
        impl $name {
            /// Persists one event per amount; returns the last sequence number.
            pub async fn add(
                &mut self,
                ctx: &GrainContext<Self>,
                amounts: Vec<u64>,
            ) -> Result<u64, PersistError> {
                ctx.persist(self, amounts.into_iter().map(LedgerEvent::Added)).await
            }

            /// The total, and how many events this activation has applied.
            pub async fn state(&self) -> (u64, u64) {
                (self.total, self.applied)
            }

            /// Asks to be deactivated after this turn.
            pub async fn leave(&self, ctx: &GrainContext<Self>) {
                ctx.deactivate_on_idle();
            }
        }
    };
}

ledger!(
    /// Snapshotted every 10 events, not on deactivation.
    EveryTen,
    snapshot_every = 10,
    snapshot_on_deactivate = false
);

ledger!(
    /// Never snapshotted in these tests: the default 1000 events are never reached.
    Unsnapshotted,
    snapshot_on_deactivate = false
);

ledger!(
    /// Snapshotted on deactivation only (the default every 1000 events is never reached).
    OnLeave,
);

ledger!(
    /// Snapshotted every 10 events, deleting the events each snapshot covers.
    Pruned,
    snapshot_every = 10,
    snapshot_on_deactivate = false,
    prune_events = true
);

async fn start(storage: Storage) -> Silo {
    grain_tests::silo()
        .storage(storage)
        .register::<EveryTen>()
        .register::<Unsnapshotted>()
        .register::<OnLeave>()
        .register::<Pruned>()
        .start()
        .await
        .unwrap()
}

fn id<G: GrainSpec>(key: &str) -> GrainId {
    GrainId::new(GrainKind::from_static(G::KIND), key)
}

/// The sequence number of the latest snapshot of `grain`, and the total it stores.
async fn latest_snapshot(storage: &Storage, grain: &GrainId) -> Option<(u64, u64)> {
    #[derive(Deserialize)]
    struct Stored {
        total: u64,
    }
    let snapshot = storage.snapshots().latest(grain).await.unwrap()?;
    let stored: Stored = rmp_serde::from_slice(&snapshot.payload).expect("decoding the snapshot");
    Some((snapshot.seq, stored.total))
}

/// The stored form of a ledger's state with `total`: what a snapshot of it holds.
fn stored(total: u64) -> Vec<u8> {
    #[derive(Serialize)]
    struct Stored {
        total: u64,
    }
    rmp_serde::to_vec_named(&Stored { total }).unwrap()
}

/// The stored form of the event that adds `n`.
fn event(n: u64) -> Vec<u8> {
    rmp_serde::to_vec_named(&LedgerEvent::Added(n)).unwrap()
}

/// Waits until `silo` has no activation left.
async fn passivated(silo: &Silo) {
    eventually("the grain to be deactivated", || {
        silo.stats().live_activations == 0
    })
    .await;
}

async fn recovery_replays_only_the_events_after_the_latest_snapshot(backend: Backend) {
    let dir = DataDir::new(backend);
    let silo = start(dir.open()).await;
    let ledger = silo.grain::<EveryTen>("l");
    for n in 1..=25 {
        assert_eq!(ledger.add(vec![n]).await, Ok(Ok(n)));
    }
    ledger.leave().await.unwrap();
    passivated(&silo).await;

    assert_eq!(
        ledger.state().await,
        Ok((325, 5)),
        "the snapshot at 20 plus events 21 to 25"
    );
    silo.shutdown().await;
    drop((ledger, silo));

    let storage = dir.open();
    let id = id::<EveryTen>("l");
    assert_eq!(latest_snapshot(&storage, &id).await, Some((20, 210)));
    assert_eq!(
        journal_seqs(&storage, &id).await,
        (1..=25).collect::<Vec<_>>(),
        "events are kept"
    );
    drop(storage);
    let raw = dir.raw();
    assert_eq!(raw.count(Table::Snapshots, &stored(210)), 1);
    assert_eq!(
        raw.count(Table::Snapshots, &stored(55)),
        0,
        "the snapshot at 10 was deleted when the one at 20 was saved"
    );
}

async fn snapshots_count_events_not_calls(backend: Backend) {
    let dir = DataDir::new(backend);
    let storage = dir.open();
    let silo = start(storage.clone()).await;
    let ledger = silo.grain::<EveryTen>("l");
    let id = id::<EveryTen>("l");
    for (call, last) in [(1, 3), (2, 6), (3, 9)] {
        assert_eq!(ledger.add(vec![call; 3]).await, Ok(Ok(last)));
    }
    assert_eq!(
        latest_snapshot(&storage, &id).await,
        None,
        "9 events so far"
    );
    assert_eq!(ledger.add(vec![4, 4, 4]).await, Ok(Ok(12)));
    assert_eq!(
        latest_snapshot(&storage, &id).await,
        Some((12, 30)),
        "taken after the call that reached 10 events, covering all of its events"
    );
    assert_eq!(ledger.add(vec![5; 9]).await, Ok(Ok(21)));
    assert_eq!(latest_snapshot(&storage, &id).await, Some((12, 30)));
    assert_eq!(ledger.add(vec![6]).await, Ok(Ok(22)));
    assert_eq!(latest_snapshot(&storage, &id).await, Some((22, 81)));
}

async fn without_a_snapshot_recovery_replays_from_the_first_event(backend: Backend) {
    let dir = DataDir::new(backend);
    let silo = start(dir.open()).await;
    let ledger = silo.grain::<Unsnapshotted>("l");
    for n in 1..=25 {
        ledger.add(vec![n]).await.unwrap().unwrap();
    }
    ledger.leave().await.unwrap();
    passivated(&silo).await;
    assert_eq!(ledger.state().await, Ok((325, 25)));
    silo.shutdown().await;
    drop((ledger, silo));

    let storage = dir.open();
    assert_eq!(
        latest_snapshot(&storage, &id::<Unsnapshotted>("l")).await,
        None
    );
}

async fn deactivation_takes_a_snapshot(backend: Backend) {
    let dir = DataDir::new(backend);
    let storage = dir.open();
    let silo = start(storage.clone()).await;
    let ledger = silo.grain::<OnLeave>("l");
    let id = id::<OnLeave>("l");
    for n in 1..=25 {
        ledger.add(vec![n]).await.unwrap().unwrap();
    }
    assert_eq!(latest_snapshot(&storage, &id).await, None);
    ledger.leave().await.unwrap();
    passivated(&silo).await;
    assert_eq!(latest_snapshot(&storage, &id).await, Some((25, 325)));
    assert_eq!(
        ledger.state().await,
        Ok((325, 0)),
        "nothing to replay after the snapshot"
    );

    // Deactivating again with no new event leaves the snapshot as it is; a new event and a
    // deactivation replace it.
    ledger.leave().await.unwrap();
    passivated(&silo).await;
    assert_eq!(latest_snapshot(&storage, &id).await, Some((25, 325)));
    assert_eq!(ledger.add(vec![100]).await, Ok(Ok(26)));
    ledger.leave().await.unwrap();
    passivated(&silo).await;
    assert_eq!(latest_snapshot(&storage, &id).await, Some((26, 425)));
    assert_eq!(ledger.state().await, Ok((425, 0)));

    // Shutting down deactivates too.
    assert_eq!(ledger.add(vec![1000]).await, Ok(Ok(27)));
    silo.shutdown().await;
    assert_eq!(latest_snapshot(&storage, &id).await, Some((27, 1425)));
    drop((ledger, silo, storage));
    let raw = dir.raw();
    assert_eq!(raw.count(Table::Snapshots, &stored(1425)), 1);
    for older in [325, 425] {
        assert_eq!(
            raw.count(Table::Snapshots, &stored(older)),
            0,
            "the snapshot with total {older} was deleted"
        );
    }
}

async fn pruned_events_are_deleted_and_recovery_still_works(backend: Backend) {
    let dir = DataDir::new(backend);
    let storage = dir.open();
    let silo = start(storage.clone()).await;
    let ledger = silo.grain::<Pruned>("l");
    let id = id::<Pruned>("l");
    for n in 1..=25 {
        ledger.add(vec![n]).await.unwrap().unwrap();
    }
    assert_eq!(latest_snapshot(&storage, &id).await, Some((20, 210)));
    assert_eq!(
        journal_seqs(&storage, &id).await,
        [21, 22, 23, 24, 25],
        "the events up to the snapshot are gone"
    );
    assert_eq!(storage.journal().last_seq(&id).await, Ok(25));

    ledger.leave().await.unwrap();
    passivated(&silo).await;
    assert_eq!(ledger.state().await, Ok((325, 5)));
    assert_eq!(
        ledger.add(vec![26]).await,
        Ok(Ok(26)),
        "numbering goes on after pruning"
    );

    // A snapshot right at the end of the journal leaves no event at all.
    assert_eq!(ledger.add(vec![27, 28, 29, 30]).await, Ok(Ok(30)));
    assert_eq!(journal_seqs(&storage, &id).await, Vec::<u64>::new());
    assert_eq!(storage.journal().last_seq(&id).await, Ok(30));
    ledger.leave().await.unwrap();
    passivated(&silo).await;
    assert_eq!(ledger.state().await, Ok((465, 0)));
    assert_eq!(ledger.add(vec![31]).await, Ok(Ok(31)));

    silo.shutdown().await;
    drop((ledger, silo, storage));
    let raw = dir.raw();
    assert_eq!(raw.count(Table::Snapshots, &stored(465)), 1);
    assert_eq!(raw.count(Table::Snapshots, &stored(210)), 0);
    assert_eq!(raw.count(Table::Journal, &event(31)), 1);
    for n in 1..=30 {
        assert_eq!(
            raw.count(Table::Journal, &event(n)),
            0,
            "event {n} is covered by the snapshot at 30"
        );
    }
}

backend_tests!(
    recovery_replays_only_the_events_after_the_latest_snapshot,
    snapshots_count_events_not_calls,
    without_a_snapshot_recovery_replays_from_the_first_event,
    deactivation_takes_a_snapshot,
    pruned_events_are_deleted_and_recovery_still_works,
);

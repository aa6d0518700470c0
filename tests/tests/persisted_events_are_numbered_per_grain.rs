//! Each event `persist` writes gets the next sequence number of its grain's journal: 1, 2, 3, ...
//! for every grain on its own, one number per event when a call persists several, in the order
//! given. `persist` returns the number of the last one, and numbering goes on after a restart.

use grain_runtime::prelude::*;
use grain_runtime::{GrainKind, GrainSpec, Storage};
use grain_tests::backend_tests;
use grain_tests::durable::{Backend, DataDir, journal_entries, journal_seqs};
use serde::{Deserialize, Serialize};

/// What happened to a [`Tally`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TallyEvent {
    /// `n` was added.
    Added(u64),
}

/// An event-sourced sum.
#[grain(journaled)]
#[derive(Default, Serialize, Deserialize)]
pub struct Tally {
    total: u64,
}

impl EventSourced for Tally {
    type Event = TallyEvent;

    fn apply(&mut self, event: &TallyEvent) {
        match event {
            TallyEvent::Added(n) => self.total += n,
        }
    }
}

#[grain]
impl Tally {
    /// Persists one event per number, in one call; returns the last sequence number.
    pub async fn add(
        &mut self,
        ctx: &GrainContext<Self>,
        numbers: Vec<u64>,
    ) -> Result<u64, PersistError> {
        ctx.persist(self, numbers.into_iter().map(TallyEvent::Added))
            .await
    }

    /// The sum so far.
    pub async fn total(&self) -> u64 {
        self.total
    }
}

async fn start(storage: Storage) -> Silo {
    grain_tests::silo()
        .storage(storage)
        .register::<Tally>()
        .start()
        .await
        .unwrap()
}

fn id(key: &str) -> GrainId {
    GrainId::new(GrainKind::from_static(Tally::KIND), key)
}

/// The events stored in `grain`'s journal, decoded, with their sequence numbers.
async fn stored(storage: &Storage, grain: &GrainId) -> Vec<(u64, TallyEvent)> {
    journal_entries(storage, grain)
        .await
        .into_iter()
        .map(|entry| {
            let event = rmp_serde::from_slice(&entry.payload).expect("decoding a stored event");
            (entry.seq, event)
        })
        .collect()
}

async fn numbers_run_from_one_per_grain(backend: Backend) {
    let dir = DataDir::new(backend);
    let silo = start(dir.open()).await;
    let a = silo.grain::<Tally>("a");
    let b = silo.grain::<Tally>("b");
    assert_eq!(a.add(vec![5]).await, Ok(Ok(1)));
    assert_eq!(
        a.add(vec![1, 2, 3]).await,
        Ok(Ok(4)),
        "one number per event"
    );
    assert_eq!(
        b.add(vec![7]).await,
        Ok(Ok(1)),
        "b has a journal of its own"
    );
    assert_eq!(
        a.add(vec![]).await,
        Ok(Ok(4)),
        "persisting nothing returns the last number"
    );
    assert_eq!(a.add(vec![10]).await, Ok(Ok(5)));
    assert_eq!(a.total().await, Ok(21));
    silo.shutdown().await;
    drop((a, b, silo));

    let storage = dir.open();
    use TallyEvent::Added;
    assert_eq!(
        stored(&storage, &id("a")).await,
        [
            (1, Added(5)),
            (2, Added(1)),
            (3, Added(2)),
            (4, Added(3)),
            (5, Added(10))
        ]
    );
    assert_eq!(stored(&storage, &id("b")).await, [(1, Added(7))]);
    assert_eq!(storage.journal().last_seq(&id("a")).await, Ok(5));
    assert_eq!(storage.journal().last_seq(&id("b")).await, Ok(1));
    assert_eq!(storage.journal().last_seq(&id("never")).await, Ok(0));
}

async fn numbering_goes_on_after_a_restart(backend: Backend) {
    let dir = DataDir::new(backend);
    let silo = start(dir.open()).await;
    assert_eq!(silo.grain::<Tally>("a").add(vec![1, 2]).await, Ok(Ok(2)));
    silo.shutdown().await;
    drop(silo);

    let silo = start(dir.open()).await;
    let a = silo.grain::<Tally>("a");
    assert_eq!(a.total().await, Ok(3));
    assert_eq!(a.add(vec![4]).await, Ok(Ok(3)));
    silo.shutdown().await;
    drop((a, silo));

    let storage = dir.open();
    assert_eq!(journal_seqs(&storage, &id("a")).await, [1, 2, 3]);
}

backend_tests!(
    numbers_run_from_one_per_grain,
    numbering_goes_on_after_a_restart
);

//! When two activations of one grain exist at once (two silos on one store), the first to write
//! wins: the other's `persist` or `save` fails with `PersistError::Conflict`, applies nothing, and
//! its activation is discarded, so its next call recovers what the winner wrote. The journal
//! stays one contiguous history.

use grain_runtime::prelude::*;
use grain_runtime::{GrainKind, GrainSpec, Silo, Storage};
use grain_tests::backend_tests;
use grain_tests::durable::{Backend, DataDir, journal_entries};
use grain_tests::eventually;
use serde::{Deserialize, Serialize};

/// What happened to an [`Account`].
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountEvent {
    /// Money came in.
    Deposited(u64),
}

/// An event-sourced account, snapshotted after every event so that stale snapshots would show.
#[grain(journaled(snapshot_every = 1))]
#[derive(Default, Serialize, Deserialize)]
pub struct Account {
    balance: u64,
}

impl EventSourced for Account {
    type Event = AccountEvent;

    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Deposited(amount) => self.balance += amount,
        }
    }
}

#[grain]
impl Account {
    /// Deposits `amount`; returns the new balance, or the error with the balance this activation
    /// has after it.
    pub async fn deposit(
        &mut self,
        ctx: &GrainContext<Self>,
        amount: u64,
    ) -> Result<u64, (PersistError, u64)> {
        match ctx.persist(self, [AccountEvent::Deposited(amount)]).await {
            Ok(_) => Ok(self.balance),
            Err(error) => Err((error, self.balance)),
        }
    }

    /// The balance.
    pub async fn balance(&self) -> u64 {
        self.balance
    }
}

/// A note saved whole.
#[grain(persistent)]
#[derive(Default, Serialize, Deserialize)]
pub struct Note {
    text: String,
}

#[grain]
impl Note {
    /// Replaces the text and saves; on failure returns the error with the text this activation
    /// has after it.
    pub async fn write(
        &mut self,
        ctx: &GrainContext<Self>,
        text: String,
    ) -> Result<u64, (PersistError, String)> {
        let before = std::mem::replace(&mut self.text, text);
        ctx.save(self).await.map_err(|error| {
            self.text = before;
            (error, self.text.clone())
        })
    }

    /// The text.
    pub async fn read(&self) -> String {
        self.text.clone()
    }
}

async fn start(storage: Storage) -> Silo {
    grain_tests::silo()
        .storage(storage)
        .register::<Account>()
        .register::<Note>()
        .start()
        .await
        .unwrap()
}

/// Asserts that `result` is a conflict of `grain` that left `state` in memory.
fn assert_conflict<T: std::fmt::Debug, S: std::fmt::Debug + PartialEq>(
    result: Result<Result<T, (PersistError, S)>, CallError>,
    grain: &GrainId,
    state: S,
) {
    match result {
        Ok(Err((PersistError::Conflict { grain: g, message }, s))) => {
            assert_eq!(&g, grain);
            assert!(
                message.contains("another activation wrote first"),
                "{message}"
            );
            assert_eq!(s, state, "nothing was applied");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// Waits until `silo` has no activation left.
async fn discarded(silo: &Silo) {
    eventually("the stale activation to be discarded", || {
        silo.stats().live_activations == 0
    })
    .await;
}

async fn the_second_writer_is_rejected_and_recovers(backend: Backend) {
    let dir = DataDir::new(backend);
    let storage = dir.open();
    let (one, two) = (start(storage.clone()).await, start(storage.clone()).await);
    let on_one = one.grain::<Account>("x");
    let on_two = two.grain::<Account>("x");
    let id = on_one.id().clone();
    assert_eq!(on_one.balance().await, Ok(0));
    assert_eq!(on_two.balance().await, Ok(0));

    assert_eq!(on_one.deposit(5).await, Ok(Ok(5)));
    assert_conflict(on_two.deposit(7).await, &id, 0);
    discarded(&two).await;
    assert_eq!(
        on_two.balance().await,
        Ok(5),
        "a new activation recovered the winner's write"
    );
    assert_eq!(two.stats().activations, 2);

    // Now the first silo's activation is the stale one.
    assert_eq!(on_two.deposit(7).await, Ok(Ok(12)));
    assert_conflict(on_one.deposit(1).await, &id, 5);
    discarded(&one).await;
    assert_eq!(on_one.balance().await, Ok(12));
    assert_eq!(on_one.deposit(1).await, Ok(Ok(13)));

    one.shutdown().await;
    two.shutdown().await;
    let entries: Vec<(u64, AccountEvent)> = journal_entries(&storage, &id)
        .await
        .into_iter()
        .map(|entry| (entry.seq, rmp_serde::from_slice(&entry.payload).unwrap()))
        .collect();
    use AccountEvent::Deposited;
    assert_eq!(
        entries,
        [(1, Deposited(5)), (2, Deposited(7)), (3, Deposited(1))]
    );
    let snapshot = storage.snapshots().latest(&id).await.unwrap().unwrap();
    assert_eq!(snapshot.seq, 3);
    drop((on_one, on_two, one, two, storage));

    // A fresh silo agrees.
    let silo = start(dir.open()).await;
    assert_eq!(silo.grain::<Account>("x").balance().await, Ok(13));
}

async fn a_stale_save_is_rejected_too(backend: Backend) {
    let dir = DataDir::new(backend);
    let storage = dir.open();
    let (one, two) = (start(storage.clone()).await, start(storage.clone()).await);
    let on_one = one.grain::<Note>("n");
    let on_two = two.grain::<Note>("n");
    let id = GrainId::new(GrainKind::from_static(Note::KIND), "n");
    assert_eq!(on_one.read().await, Ok(String::new()));
    assert_eq!(on_two.read().await, Ok(String::new()));

    assert_eq!(on_one.write("first".into()).await, Ok(Ok(1)));
    assert_conflict(on_two.write("second".into()).await, &id, String::new());
    discarded(&two).await;
    assert_eq!(on_two.read().await, Ok("first".to_string()));
    assert_eq!(on_two.write("second".into()).await, Ok(Ok(2)));
    assert_eq!(storage.journal().last_seq(&id).await, Ok(2));
}

backend_tests!(
    the_second_writer_is_rejected_and_recovers,
    a_stale_save_is_rejected_too,
);

//! A grain whose stored state cannot be read back (a record that fails its checksum, an event
//! that does not decode as the grain's event type, entries missing from the journal) is not
//! activated: each call gets `CallError::ActivationFailed` whose message names the grain and the
//! sequence number, every retry reads storage again, and the silo keeps serving other grains.

use grain_runtime::prelude::*;
use grain_runtime::{GrainKind, GrainSpec, Silo, Storage};
use grain_tests::backend_tests;
use grain_tests::durable::{Backend, DataDir, Table};
use serde::{Deserialize, Serialize};

/// What happened to an [`Account`].
#[derive(Debug, Serialize, Deserialize)]
pub enum AccountEvent {
    /// Money came in.
    Deposited(u64),
}

/// An event-sourced account, snapshotted every 3 events.
#[grain(journaled(snapshot_every = 3, snapshot_on_deactivate = false))]
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
    /// Deposits `amount`; returns the new balance.
    pub async fn deposit(
        &mut self,
        ctx: &GrainContext<Self>,
        amount: u64,
    ) -> Result<u64, PersistError> {
        ctx.persist(self, [AccountEvent::Deposited(amount)]).await?;
        Ok(self.balance)
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

fn account(key: &str) -> GrainId {
    GrainId::new(GrainKind::from_static(Account::KIND), key)
}

fn event(amount: u64) -> Vec<u8> {
    rmp_serde::to_vec_named(&AccountEvent::Deposited(amount)).unwrap()
}

/// Writes events with the given amounts to grain `key`'s journal, from sequence number 1.
async fn write_events(storage: &Storage, key: &str, amounts: impl IntoIterator<Item = u64>) {
    let events = amounts.into_iter().map(event).collect();
    storage
        .journal()
        .append(&account(key), 1, events)
        .await
        .unwrap();
}

/// Calls `x` twice and checks that both calls fail to activate it with a message that contains
/// each of `expected`; then checks that grain `y`, with the balance `y_balance`, still works.
async fn assert_activation_fails(silo: &Silo, expected: &[&str], y_balance: u64) {
    let x = silo.grain::<Account>("x");
    for attempt in 1..=2 {
        match x.balance().await {
            Err(CallError::ActivationFailed {
                grain,
                method,
                message,
            }) => {
                assert_eq!(&grain, x.id());
                assert_eq!(method, "balance");
                for part in expected {
                    assert!(message.contains(part), "attempt {attempt}: {message}");
                }
            }
            other => panic!("attempt {attempt}: expected ActivationFailed, got {other:?}"),
        }
    }
    assert_eq!(silo.stats().live_activations, 0);
    assert!(silo.is_running());
    let y = silo.grain::<Account>("y");
    assert_eq!(y.balance().await, Ok(y_balance));
    assert_eq!(y.deposit(1).await, Ok(Ok(y_balance + 1)));
}

async fn an_event_of_another_type_fails_activation(backend: Backend) {
    let dir = DataDir::new(backend);
    let storage = dir.open();
    write_events(&storage, "y", [10]).await;
    write_events(&storage, "x", [1]).await;
    // A valid MessagePack string, but no `AccountEvent`.
    let alien = rmp_serde::to_vec_named("Withdrawn").unwrap();
    storage
        .journal()
        .append(&account("x"), 2, vec![alien, event(2)])
        .await
        .unwrap();
    let silo = start(storage).await;
    assert_activation_fails(&silo, &["Account/\"x\"", "event 2", "Withdrawn"], 10).await;
}

async fn bytes_that_are_not_messagepack_fail_activation(backend: Backend) {
    let dir = DataDir::new(backend);
    let storage = dir.open();
    write_events(&storage, "y", [10]).await;
    storage
        .journal()
        .append(&account("x"), 1, vec![vec![0xc1, 0xff, 0x00]])
        .await
        .unwrap();
    let silo = start(storage).await;
    assert_activation_fails(&silo, &["Account/\"x\"", "event 1"], 10).await;
}

async fn a_damaged_journal_entry_fails_its_checksum(backend: Backend) {
    let dir = DataDir::new(backend);
    {
        let storage = dir.open();
        write_events(&storage, "y", [10]).await;
        write_events(&storage, "x", [1, 2]).await;
    }
    dir.raw().damage(Table::Journal, &event(2));
    let silo = start(dir.open()).await;
    assert_activation_fails(
        &silo,
        &[
            "corrupt journal record of Account/\"x\" at sequence 2",
            "checksum",
        ],
        10,
    )
    .await;
}

async fn a_damaged_snapshot_fails_activation(backend: Backend) {
    let dir = DataDir::new(backend);
    let snapshot = {
        let storage = dir.open();
        write_events(&storage, "y", [10]).await;
        let silo = start(storage.clone()).await;
        let x = silo.grain::<Account>("x");
        for amount in [1, 2, 3, 4] {
            x.deposit(amount).await.unwrap().unwrap();
        }
        silo.shutdown().await;
        drop((x, silo));
        storage
            .snapshots()
            .latest(&account("x"))
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(snapshot.seq, 3);
    dir.raw().damage(Table::Snapshots, &snapshot.payload);
    let silo = start(dir.open()).await;
    assert_activation_fails(
        &silo,
        &[
            "corrupt snapshot record of Account/\"x\" at sequence 3",
            "checksum",
        ],
        10,
    )
    .await;
}

async fn missing_journal_entries_fail_activation(backend: Backend) {
    let dir = DataDir::new(backend);
    {
        let storage = dir.open();
        write_events(&storage, "y", [10]).await;
        write_events(&storage, "x", [1, 2, 3]).await;
    }
    dir.raw().delete(Table::Journal, &event(2));
    let silo = start(dir.open()).await;
    assert_activation_fails(&silo, &["Account/\"x\"", "sequence 2", "missing"], 10).await;
}

async fn events_pruned_without_a_snapshot_fail_activation(backend: Backend) {
    let dir = DataDir::new(backend);
    let storage = dir.open();
    write_events(&storage, "y", [10]).await;
    write_events(&storage, "x", [1, 2, 3, 4]).await;
    storage.journal().prune(&account("x"), 2).await.unwrap();
    let silo = start(storage).await;
    assert_activation_fails(
        &silo,
        &["journal of Account/\"x\" jumps from sequence 0 to 3"],
        10,
    )
    .await;
}

async fn an_undecodable_saved_state_fails_activation(backend: Backend) {
    let dir = DataDir::new(backend);
    let storage = dir.open();
    let note = GrainId::new(GrainKind::from_static(Note::KIND), "n");
    let saved = rmp_serde::to_vec_named(&[1, 2, 3]).unwrap();
    storage
        .journal()
        .append(&note, 1, vec![saved])
        .await
        .unwrap();
    let silo = start(storage).await;
    match silo.grain::<Note>("n").read().await {
        Err(CallError::ActivationFailed { grain, message, .. }) => {
            assert_eq!(grain, note);
            assert!(
                message.contains("saved state 1 of Note/\"n\" cannot be decoded"),
                "{message}"
            );
        }
        other => panic!("expected ActivationFailed, got {other:?}"),
    }
    assert_eq!(silo.grain::<Note>("m").read().await, Ok(String::new()));
}

backend_tests!(
    an_event_of_another_type_fails_activation,
    bytes_that_are_not_messagepack_fail_activation,
    a_damaged_journal_entry_fails_its_checksum,
    a_damaged_snapshot_fails_activation,
    missing_journal_entries_fail_activation,
    events_pruned_without_a_snapshot_fail_activation,
    an_undecodable_saved_state_fails_activation,
);

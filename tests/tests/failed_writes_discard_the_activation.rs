//! When the store fails a write, `persist` and `save` return `PersistError::Storage`, nothing is
//! applied, and the activation is discarded when the turn ends, without `on_deactivate` or a
//! snapshot: calls already queued and the next ones run on a fresh activation recovered from
//! what is durable.

use grain_runtime::prelude::*;
use grain_runtime::{Silo, Storage};
use grain_tests::durable::{Backend, ControlledJournal, DataDir, journal_seqs};
use grain_tests::{Recorder, backend_tests, eventually};
use serde::{Deserialize, Serialize};

/// What happened to an [`Account`].
#[derive(Debug, Serialize, Deserialize)]
pub enum AccountEvent {
    /// Money came in.
    Deposited(u64),
}

/// An event-sourced account that records its activations and deactivations.
#[grain(journaled)]
#[derive(Default, Serialize, Deserialize)]
pub struct Account {
    balance: u64,
    #[serde(skip)]
    log: Recorder,
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
    /// Records the activation.
    async fn on_activate(&mut self) {
        self.log.record("activate");
    }

    /// Records the deactivation.
    async fn on_deactivate(&mut self) {
        self.log.record("deactivate");
    }

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

/// A counter saved whole.
#[grain(persistent)]
#[derive(Default, Serialize, Deserialize)]
pub struct Counter {
    value: u64,
}

#[grain]
impl Counter {
    /// Adds `n` and saves; returns the saved version.
    pub async fn add(&mut self, ctx: &GrainContext<Self>, n: u64) -> Result<u64, PersistError> {
        self.value += n;
        ctx.save(self).await
    }

    /// The value.
    pub async fn get(&self) -> u64 {
        self.value
    }
}

async fn start(storage: Storage, log: &Recorder) -> Silo {
    let log = log.clone();
    grain_tests::silo()
        .storage(storage)
        .register_with(move |_| Account {
            balance: 0,
            log: log.clone(),
        })
        .register::<Counter>()
        .start()
        .await
        .unwrap()
}

async fn a_failed_append_applies_nothing_and_discards_the_activation(backend: Backend) {
    let dir = DataDir::new(backend);
    let (storage, journal) = ControlledJournal::wrap(&dir.open());
    let log = Recorder::new();
    let silo = start(storage.clone(), &log).await;
    let account = silo.grain::<Account>("a");
    assert_eq!(account.deposit(5).await, Ok(Ok(5)));

    journal.fail_appends(1);
    match account.deposit(7).await {
        Ok(Err((PersistError::Storage { grain, message }, balance))) => {
            assert_eq!(&grain, account.id());
            assert!(message.contains("the disk is on fire"), "{message}");
            assert_eq!(balance, 5, "nothing was applied");
        }
        other => panic!("expected a storage error, got {other:?}"),
    }
    eventually("the activation to be discarded", || {
        silo.stats().live_activations == 0
    })
    .await;
    assert_eq!(
        log.events(),
        ["activate"],
        "a discarded activation does not deactivate"
    );
    assert_eq!(silo.stats().passivations, 0);

    assert_eq!(account.balance().await, Ok(5));
    assert_eq!(account.deposit(1).await, Ok(Ok(6)));
    assert_eq!(log.events(), ["activate", "activate"]);
    assert_eq!(journal_seqs(&storage, account.id()).await, [1, 2]);
}

async fn calls_queued_behind_a_failed_write_run_on_a_fresh_activation(backend: Backend) {
    let dir = DataDir::new(backend);
    let (storage, journal) = ControlledJournal::wrap(&dir.open());
    let silo = start(storage, &Recorder::new()).await;
    let account = silo.grain::<Account>("a");
    assert_eq!(account.deposit(5).await, Ok(Ok(5)));

    journal.fail_appends(1);
    account.tell().deposit(7).unwrap();
    account.tell().deposit(1).unwrap();
    assert_eq!(
        account.balance().await,
        Ok(6),
        "5, then 1 on a new activation"
    );
    assert_eq!(silo.stats().activations, 2);
}

async fn a_failed_save_discards_the_activation(backend: Backend) {
    let dir = DataDir::new(backend);
    let (storage, journal) = ControlledJournal::wrap(&dir.open());
    let silo = start(storage, &Recorder::new()).await;
    let counter = silo.grain::<Counter>("c");
    assert_eq!(counter.add(5).await, Ok(Ok(1)));
    journal.fail_appends(1);
    assert!(matches!(
        counter.add(7).await,
        Ok(Err(PersistError::Storage { .. }))
    ));
    assert_eq!(
        counter.get().await,
        Ok(5),
        "the unsaved change is gone with its activation"
    );
    assert_eq!(counter.add(1).await, Ok(Ok(2)));
}

backend_tests!(
    a_failed_append_applies_nothing_and_discards_the_activation,
    calls_queued_behind_a_failed_write_run_on_a_fresh_activation,
    a_failed_save_discards_the_activation,
);

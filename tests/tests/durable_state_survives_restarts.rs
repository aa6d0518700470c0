//! The state of journaled and persistent grains survives passivation and silo restarts: the next
//! activation recovers it from storage. A persistent grain's `save` returns versions 1, 2, 3, ...,
//! recovery loads the last one, and the versions it replaces are deleted, every so often and
//! when the grain deactivates. A silo lets go of its store when `shutdown` returns, so a process
//! can start a new silo on the same directory even while refs to the old one live on.

use grain_runtime::prelude::*;
use grain_runtime::{GrainKind, GrainSpec, Silo, Storage};
use grain_tests::durable::{Backend, DataDir, journal_seqs};
use grain_tests::{backend_tests, eventually, eventually_async};
use serde::{Deserialize, Serialize};

/// What happened to an [`Account`].
#[derive(Debug, Serialize, Deserialize)]
pub enum AccountEvent {
    /// Money came in.
    Deposited {
        /// How much.
        amount: u64,
    },
}

/// An event-sourced bank account, snapshotted every 10 events.
#[grain(journaled(snapshot_every = 10))]
#[derive(Default, Serialize, Deserialize)]
pub struct Account {
    balance: u64,
}

impl EventSourced for Account {
    type Event = AccountEvent;

    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Deposited { amount } => self.balance += amount,
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
        ctx.persist(self, [AccountEvent::Deposited { amount }])
            .await?;
        Ok(self.balance)
    }

    /// The balance.
    pub async fn balance(&self) -> u64 {
        self.balance
    }

    /// Asks to be deactivated after this turn.
    pub async fn leave(&self, ctx: &GrainContext<Self>) {
        ctx.deactivate_on_idle();
    }
}

/// A user profile saved whole.
#[grain(persistent)]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    name: String,
    visits: u64,
}

#[grain]
impl Profile {
    /// Renames the user, counts a visit and saves; returns the saved version.
    pub async fn rename(
        &mut self,
        ctx: &GrainContext<Self>,
        name: String,
    ) -> Result<u64, PersistError> {
        self.name = name;
        self.visits += 1;
        ctx.save(self).await
    }

    /// Counts a visit without saving it.
    pub async fn visit(&mut self) {
        self.visits += 1;
    }

    /// The profile.
    pub async fn get(&self) -> Profile {
        self.clone()
    }

    /// Asks to be deactivated after this turn.
    pub async fn leave(&self, ctx: &GrainContext<Self>) {
        ctx.deactivate_on_idle();
    }
}

async fn start(storage: Storage) -> Silo {
    grain_tests::silo()
        .storage(storage)
        .register::<Account>()
        .register::<Profile>()
        .start()
        .await
        .unwrap()
}

async fn passivated(silo: &Silo) {
    eventually("the grain to be deactivated", || {
        silo.stats().live_activations == 0
    })
    .await;
}

fn profile(name: &str, visits: u64) -> Profile {
    Profile {
        name: name.to_string(),
        visits,
    }
}

async fn journaled_state_survives_passivation_and_restart(backend: Backend) {
    let dir = DataDir::new(backend);
    let silo = start(dir.open()).await;
    let alice = silo.grain::<Account>("alice");
    let bob = silo.grain::<Account>("bob");
    for n in 1..=25 {
        assert_eq!(alice.deposit(n).await, Ok(Ok(n * (n + 1) / 2)));
    }
    assert_eq!(bob.deposit(7).await, Ok(Ok(7)));

    alice.leave().await.unwrap();
    bob.leave().await.unwrap();
    passivated(&silo).await;
    assert_eq!(alice.balance().await, Ok(325));
    assert_eq!(bob.balance().await, Ok(7));
    assert_eq!(silo.stats().activations, 4);

    assert_eq!(alice.deposit(1000).await, Ok(Ok(1325)));
    silo.shutdown().await;
    drop((alice, bob, silo));

    let silo = start(dir.open()).await;
    let alice = silo.grain::<Account>("alice");
    assert_eq!(alice.balance().await, Ok(1325));
    assert_eq!(silo.grain::<Account>("bob").balance().await, Ok(7));
    assert_eq!(silo.grain::<Account>("carol").balance().await, Ok(0));
    assert_eq!(alice.deposit(1).await, Ok(Ok(1326)));
}

async fn persistent_state_survives_passivation_and_restart(backend: Backend) {
    let dir = DataDir::new(backend);
    let silo = start(dir.open()).await;
    let user = silo.grain::<Profile>("u");
    assert_eq!(
        user.get().await,
        Ok(Profile::default()),
        "nothing saved yet"
    );
    assert_eq!(user.rename("Ann".into()).await, Ok(Ok(1)));
    assert_eq!(user.rename("Anna".into()).await, Ok(Ok(2)));
    assert_eq!(user.rename("Anne".into()).await, Ok(Ok(3)));
    user.visit().await.unwrap();
    assert_eq!(user.get().await, Ok(profile("Anne", 4)));

    user.leave().await.unwrap();
    passivated(&silo).await;
    assert_eq!(
        user.get().await,
        Ok(profile("Anne", 3)),
        "the last saved state; the unsaved visit is gone"
    );
    silo.shutdown().await;
    drop((user, silo));

    let silo = start(dir.open()).await;
    let user = silo.grain::<Profile>("u");
    assert_eq!(user.get().await, Ok(profile("Anne", 3)));
    assert_eq!(
        user.rename("Annie".into()).await,
        Ok(Ok(4)),
        "versions go on after a restart"
    );
    silo.shutdown().await;
    drop((user, silo));

    let storage = dir.open();
    let id = GrainId::new(GrainKind::from_static(Profile::KIND), "u");
    assert_eq!(storage.journal().last_seq(&id).await, Ok(4));
    assert_eq!(
        storage.snapshots().latest(&id).await,
        Ok(None),
        "a persistent grain keeps no snapshots"
    );
}

async fn replaced_states_are_deleted(backend: Backend) {
    let dir = DataDir::new(backend);
    let storage = dir.open();
    let silo = start(storage.clone()).await;
    let id = GrainId::new(GrainKind::from_static(Profile::KIND), "u");
    let user = silo.grain::<Profile>("u");
    for (version, name) in (1..).zip(["a", "b", "c", "d"]) {
        assert_eq!(user.rename(name.into()).await, Ok(Ok(version)));
    }
    user.leave().await.unwrap();
    passivated(&silo).await;
    eventually_async("the replaced states to be deleted", || async {
        journal_seqs(&storage, &id).await == [4]
    })
    .await;
    assert_eq!(user.get().await, Ok(profile("d", 4)));

    // An activation that saves again and again, without deactivating, deletes them too.
    for version in 5..=200 {
        assert_eq!(user.rename(format!("v{version}")).await, Ok(Ok(version)));
    }
    eventually_async("most replaced states to be deleted", || async {
        let seqs = journal_seqs(&storage, &id).await;
        seqs.len() < 100 && seqs.last() == Some(&200)
    })
    .await;
}

async fn a_silo_lets_go_of_its_store_on_shutdown(backend: Backend) {
    let dir = DataDir::new(backend);
    let silo = start(dir.open()).await;
    let old = silo.grain::<Account>("alice");
    assert_eq!(old.deposit(5).await, Ok(Ok(5)));
    silo.shutdown().await;

    // The old silo and a ref to it are still alive, yet the directory opens again.
    let restarted = start(dir.open()).await;
    assert_eq!(restarted.grain::<Account>("alice").balance().await, Ok(5));
    assert!(matches!(
        old.balance().await,
        Err(CallError::ShuttingDown { .. })
    ));
    drop(silo);
}

backend_tests!(
    a_silo_lets_go_of_its_store_on_shutdown,
    journaled_state_survives_passivation_and_restart,
    persistent_state_survives_passivation_and_restart,
    replaced_states_are_deleted,
);

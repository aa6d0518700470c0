// Journaled grains with and without options, and a persistent grain, each persisting from a method.
use grain_runtime::prelude::*;
use grain_runtime::{GrainSpec, SnapshotPolicy};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub enum AccountEvent {
    Deposited { amount: u64 },
}

#[grain(
    kind = "bank.Account",
    journaled(snapshot_every = 100, snapshot_on_deactivate = false, prune_events = true),
    idle_timeout = "10m"
)]
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
    pub async fn deposit(
        &mut self,
        ctx: &GrainContext<Self>,
        amount: u64,
    ) -> Result<u64, PersistError> {
        ctx.persist(self, [AccountEvent::Deposited { amount }]).await?;
        Ok(self.balance)
    }

    pub async fn deposit_all(
        &mut self,
        ctx: &GrainContext<Self>,
        amounts: Vec<u64>,
    ) -> Result<u64, PersistError> {
        let events = amounts.into_iter().map(|amount| AccountEvent::Deposited { amount });
        ctx.persist(self, events).await
    }
}

#[grain(journaled)]
#[derive(Default, Serialize, Deserialize)]
pub struct Defaults {
    count: u64,
}

impl EventSourced for Defaults {
    type Event = ();
    fn apply(&mut self, (): &()) {
        self.count += 1;
    }
}

#[grain]
impl Defaults {
    pub async fn bump(&mut self, ctx: &GrainContext<Self>) -> Result<u64, PersistError> {
        ctx.persist(self, [()]).await
    }
}

#[grain(journaled(), reentrant)]
#[derive(Default, Serialize, Deserialize)]
pub struct EmptyOptions {
    count: u64,
}

impl EventSourced for EmptyOptions {
    type Event = ();
    fn apply(&mut self, (): &()) {
        self.count += 1;
    }
}

#[grain]
impl EmptyOptions {
    pub async fn count(&self) -> u64 {
        self.count
    }
}

#[grain(persistent)]
#[derive(Default, Serialize, Deserialize)]
pub struct Profile {
    name: String,
}

#[grain]
impl Profile {
    pub async fn rename(
        &mut self,
        ctx: &GrainContext<Self>,
        name: String,
    ) -> Result<u64, PersistError> {
        self.name = name;
        ctx.save(self).await
    }
}

fn main() {
    assert_eq!(Account::KIND, "bank.Account");
    assert_eq!(
        Account::OPTIONS.snapshots,
        SnapshotPolicy {
            every: 100,
            on_deactivate: false,
            prune_events: true,
        }
    );
    assert_eq!(Defaults::OPTIONS.snapshots, SnapshotPolicy::DEFAULT);
    assert_eq!(EmptyOptions::OPTIONS.snapshots, SnapshotPolicy::DEFAULT);
    assert_eq!(Profile::OPTIONS.snapshots, SnapshotPolicy::DEFAULT);
}

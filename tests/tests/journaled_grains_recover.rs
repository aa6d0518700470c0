//! Event-sourced grains: persisted events survive passivation and silo restarts.

use grain_runtime::prelude::*;
use grain_runtime::Storage;
use grain_tests::silo;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub enum AccountEvent {
    Deposited { amount: u64 },
}

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
    pub async fn deposit(
        &mut self,
        ctx: &GrainContext<Self>,
        amount: u64,
    ) -> Result<u64, PersistError> {
        ctx.persist(self, [AccountEvent::Deposited { amount }]).await?;
        Ok(self.balance)
    }

    pub async fn balance(&self) -> u64 {
        self.balance
    }
}

async fn restart_keeps_balance(storage: impl Fn() -> Storage) {
    let silo1 = silo().storage(storage()).register::<Account>().start().await.unwrap();
    for i in 1..=25u64 {
        assert_eq!(silo1.grain::<Account>("alice").deposit(i).await.unwrap().unwrap(), i * (i + 1) / 2);
    }
    silo1.shutdown().await;
    drop(silo1);
    let silo2 = silo().storage(storage()).register::<Account>().start().await.unwrap();
    assert_eq!(silo2.grain::<Account>("alice").balance().await.unwrap(), 325);
    silo2.shutdown().await;
}

#[tokio::test]
async fn sled_restart_keeps_balance() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    restart_keeps_balance(|| Storage::sled(&path).unwrap()).await;
}

#[tokio::test]
async fn redb_restart_keeps_balance() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    restart_keeps_balance(|| Storage::redb(&path).unwrap()).await;
}

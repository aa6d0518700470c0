use grain_runtime::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub enum AccountEvent {
    Deposited(u64),
}

#[grain]
#[derive(Default, Serialize, Deserialize)]
pub struct Account {
    balance: u64,
}

impl EventSourced for Account {
    type Event = AccountEvent;
    fn apply(&mut self, event: &AccountEvent) {
        let AccountEvent::Deposited(amount) = event;
        self.balance += amount;
    }
}

#[grain]
impl Account {
    pub async fn deposit(
        &mut self,
        ctx: &GrainContext<Self>,
        amount: u64,
    ) -> Result<u64, PersistError> {
        ctx.persist(self, [AccountEvent::Deposited(amount)]).await
    }
}

fn main() {}

use grain_runtime::prelude::*;
use serde::{Deserialize, Serialize};

#[grain(journaled(snapshot_every = 100, snapshots_on_deactivate = true))]
#[derive(Default, Serialize, Deserialize)]
pub struct Account {
    balance: u64,
}

impl EventSourced for Account {
    type Event = u64;
    fn apply(&mut self, amount: &u64) {
        self.balance += amount;
    }
}

#[grain]
impl Account {
    pub async fn balance(&self) -> u64 {
        self.balance
    }
}

fn main() {}

use grain_runtime::prelude::*;
use serde::{Deserialize, Serialize};

#[grain(journaled)]
#[derive(Default, Serialize, Deserialize)]
pub struct Account {
    balance: u64,
}

#[grain]
impl Account {
    pub async fn balance(&self) -> u64 {
        self.balance
    }
}

fn main() {}

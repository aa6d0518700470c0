use grain_runtime::prelude::*;

#[grain(kind = "bank/Account")]
#[derive(Default)]
pub struct Account;

#[grain]
impl Account {
    pub async fn get(&self) -> u64 {
        0
    }
}

fn main() {}

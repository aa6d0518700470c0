// Every struct option, each alone and all together.
use grain_runtime::prelude::*;

#[grain(
    kind = "bank.Account",
    idle_timeout = "10m",
    mailbox_capacity = 1000,
    reentrant
)]
#[derive(Default)]
pub struct Account {
    balance: u64,
}

#[grain]
impl Account {
    pub async fn deposit(&mut self, amount: u64) -> u64 {
        self.balance += amount;
        self.balance
    }

    pub async fn balance(&self) -> u64 {
        self.balance
    }
}

#[grain(idle_timeout = "500ms")]
#[derive(Default)]
pub struct Millis;

#[grain(idle_timeout = "30s")]
#[derive(Default)]
pub struct Seconds;

#[grain(idle_timeout = "2h", reentrant = false)]
#[derive(Default)]
pub struct Hours;

#[grain(mailbox_capacity = 1)]
#[derive(Default)]
pub struct Tiny;

#[grain(reentrant = true)]
#[derive(Default)]
pub struct Shared;

#[grain()]
#[derive(Default)]
pub struct Empty;

fn main() {
    use grain_runtime::GrainSpec;
    use std::time::Duration;

    assert_eq!(Account::KIND, "bank.Account");
    assert_eq!(
        Account::OPTIONS.idle_timeout,
        Some(Duration::from_secs(600))
    );
    assert_eq!(Account::OPTIONS.mailbox_capacity, Some(1000));
    const { assert!(Account::OPTIONS.reentrant) };
    assert_eq!(Millis::KIND, "Millis");
    assert_eq!(
        Millis::OPTIONS.idle_timeout,
        Some(Duration::from_millis(500))
    );
    assert_eq!(Seconds::OPTIONS.idle_timeout, Some(Duration::from_secs(30)));
    assert_eq!(Hours::OPTIONS.idle_timeout, Some(Duration::from_secs(7200)));
    const { assert!(!Hours::OPTIONS.reentrant) };
    assert_eq!(Tiny::OPTIONS.mailbox_capacity, Some(1));
    const { assert!(Shared::OPTIONS.reentrant) };
    assert_eq!(Empty::OPTIONS, grain_runtime::GrainOptions::DEFAULT);
}

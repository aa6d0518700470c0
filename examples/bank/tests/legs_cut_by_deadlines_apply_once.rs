//! A transfer whose call to an account timed out may have moved the money anyway: the account's
//! write can land after the saga gave up on it. Re-sending such transfers, before and after a
//! restart, still moves each amount exactly once.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use support::{Client, Engine, Tally, check_books, open, run_clients, start, start_with, stop};

const ACCOUNTS: [&str; 4] = ["a0", "a1", "a2", "a3"];
const INITIAL: u64 = 300;

#[tokio::test(flavor = "multi_thread")]
async fn legs_cut_by_deadlines_apply_once() {
    let dir = tempfile::tempdir().unwrap();
    // Asks from the sagas to the accounts time out after about one journal write, so many of
    // them give up while the account's write is in flight.
    let silo = Arc::new(start_with(Engine::Redb, dir.path(), Duration::from_millis(2)).await);
    open(&silo, &ACCOUNTS, INITIAL).await;
    let clients: Vec<Client> = (0..8)
        .map(|index| Client::new(index, &ACCOUNTS, 20, 120))
        .collect();
    let tally = Arc::new(Tally::default());
    let clients = run_clients(&silo, clients, 5, &tally).await;
    assert!(
        tally.resent.load(Ordering::Relaxed) > 0,
        "the short deadline should cut some transfers"
    );
    stop(Arc::into_inner(silo).expect("the clients have ended")).await;

    // Deadlines as usual after the restart: every transfer finishes.
    let silo = Arc::new(start(Engine::Redb, dir.path()).await);
    let clients = run_clients(&silo, clients, 3, &tally).await;
    check_books(&silo, &ACCOUNTS, INITIAL, &clients).await;
    stop(Arc::into_inner(silo).expect("no client holds the silo")).await;
}

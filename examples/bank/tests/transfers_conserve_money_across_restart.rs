//! Concurrent transfers cut by a silo restart finish when re-sent, and no money is created or
//! lost: the total is unchanged and every balance is what the completed transfers say.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use support::{Client, Engine, Tally, check_books, open, run_clients, start, stop};

const ACCOUNTS: [&str; 6] = ["a0", "a1", "a2", "a3", "a4", "a5"];
const INITIAL: u64 = 200;
const CLIENTS: usize = 16;
const PER_CLIENT: usize = 30;

async fn transfers_survive_a_restart(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let silo = Arc::new(start(engine, dir.path()).await);
    open(&silo, &ACCOUNTS, INITIAL).await;

    // Run until about half the transfers are answered, then stop the silo under load. A client
    // whose transfer fails because the silo is stopping stops too (one attempt per transfer).
    let clients: Vec<Client> = (0..CLIENTS)
        .map(|index| Client::new(index, &ACCOUNTS, PER_CLIENT, 90))
        .collect();
    let tally = Arc::new(Tally::default());
    let running = {
        let silo = Arc::clone(&silo);
        let tally = Arc::clone(&tally);
        tokio::spawn(async move { run_clients(&silo, clients, 1, &tally).await })
    };
    while tally.answered.load(Ordering::Relaxed) < CLIENTS * PER_CLIENT / 2
        && !running.is_finished()
    {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    silo.shutdown().await;
    let clients = running.await.unwrap();
    let cut = clients.iter().filter(|client| !client.finished()).count();
    assert!(cut > 0, "the restart should interrupt some transfers");
    stop(Arc::into_inner(silo).expect("the clients have ended")).await;

    // A new silo on the same directory; the clients re-send what they got no answer for.
    let silo = Arc::new(start(engine, dir.path()).await);
    let clients = run_clients(&silo, clients, 3, &tally).await;
    check_books(&silo, &ACCOUNTS, INITIAL, &clients).await;
    stop(Arc::into_inner(silo).expect("no client holds the silo")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sled_transfers_survive_a_restart() {
    transfers_survive_a_restart(Engine::Sled).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redb_transfers_survive_a_restart() {
    transfers_survive_a_restart(Engine::Redb).await;
}

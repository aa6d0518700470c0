//! Silos and clients for the bank's tests.

// Each test binary uses part of this module.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bank::{Account, BankError, Terms, Transfer};
use grain_runtime::{Silo, Storage};

/// The embedded store a test runs on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Engine {
    Sled,
    Redb,
}

/// Starts a silo hosting the bank's grains on `engine` in `dir`.
pub(crate) async fn start(engine: Engine, dir: &Path) -> Silo {
    start_with(engine, dir, Duration::from_secs(10)).await
}

/// Starts a silo whose asks, including those a transfer makes to its accounts, time out after
/// `ask_timeout`.
pub(crate) async fn start_with(engine: Engine, dir: &Path, ask_timeout: Duration) -> Silo {
    let storage = match engine {
        Engine::Sled => Storage::sled(dir),
        Engine::Redb => Storage::redb(dir),
    };
    Silo::builder()
        .storage(storage.expect("opening the storage"))
        .ask_timeout(ask_timeout)
        .shutdown_timeout(Duration::from_secs(10))
        .register::<Account>()
        .register::<Transfer>()
        .start()
        .await
        .expect("starting the silo")
}

/// Shuts `silo` down and drops it; its data directory can be opened again at once.
pub(crate) async fn stop(silo: Silo) {
    let report = silo.shutdown().await;
    assert_eq!(report.abandoned, 0, "every activation deactivates");
}

/// The balances of `accounts`.
pub(crate) async fn balances(silo: &Silo, accounts: &[&str]) -> Vec<u64> {
    let mut balances = Vec::new();
    for account in accounts {
        balances.push(silo.grain::<Account>(*account).balance().await.unwrap());
    }
    balances
}

/// Opens `accounts` with `initial` each.
pub(crate) async fn open(silo: &Silo, accounts: &[&str], initial: u64) {
    for account in accounts {
        silo.grain::<Account>(*account)
            .open(initial)
            .timeout(Duration::from_secs(10))
            .await
            .unwrap()
            .unwrap();
    }
}

/// One client's transfers and the final answers it got, in order.
pub(crate) struct Client {
    pub(crate) index: usize,
    pub(crate) plan: Vec<Terms>,
    pub(crate) answers: Vec<Result<(), BankError>>,
}

impl Client {
    /// A client sending `count` transfers between `accounts`, of 1 to `max` each.
    pub(crate) fn new(index: usize, accounts: &[&str], count: usize, max: u64) -> Self {
        let n = accounts.len();
        let plan = (0..count)
            .map(|number| {
                let from = (index * 7 + number * 5) % n;
                let to = (from + 1 + (index + number) % (n - 1)) % n;
                let amount = 1 + (index as u64 * 31 + number as u64 * 17) % max;
                Terms::new(accounts[from], accounts[to], amount)
            })
            .collect();
        Self {
            index,
            plan,
            answers: Vec::new(),
        }
    }

    pub(crate) fn finished(&self) -> bool {
        self.answers.len() == self.plan.len()
    }

    pub(crate) fn key(&self, number: usize) -> String {
        format!("t{}-{number}", self.index)
    }
}

/// What the clients saw: transfers sent, and re-sends after an answer that left the outcome
/// unknown.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) answered: AtomicUsize,
    pub(crate) resent: AtomicUsize,
}

/// Sends every client's remaining transfers, each until it gets a final answer or has been tried
/// `attempts` times; a client stops at its first transfer without a final answer.
pub(crate) async fn run_clients(
    silo: &Arc<Silo>,
    clients: Vec<Client>,
    attempts: usize,
    tally: &Arc<Tally>,
) -> Vec<Client> {
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|client| {
            let silo = Arc::clone(silo);
            let tally = Arc::clone(tally);
            tokio::spawn(drive(silo, client, attempts, tally))
        })
        .collect();
    let mut clients = Vec::new();
    for task in tasks {
        clients.push(task.await.unwrap());
    }
    clients
}

async fn drive(silo: Arc<Silo>, mut client: Client, attempts: usize, tally: Arc<Tally>) -> Client {
    'transfers: while !client.finished() {
        let number = client.answers.len();
        let transfer = silo.grain::<Transfer>(client.key(number));
        for attempt in 0..attempts {
            if attempt > 0 {
                tally.resent.fetch_add(1, Ordering::Relaxed);
            }
            let answer = transfer
                .run(client.plan[number].clone())
                .timeout(Duration::from_secs(10))
                .await;
            match answer {
                Ok(Err(error)) if error.is_retryable() => continue,
                Ok(answer) => {
                    client.answers.push(answer);
                    tally.answered.fetch_add(1, Ordering::Relaxed);
                    continue 'transfers;
                }
                Err(_) => continue,
            }
        }
        break;
    }
    client
}

/// Checks what must hold once every client finished: the total is `accounts.len() * initial`,
/// each balance is its opening balance moved by the transfers that completed, no account
/// remembers a transfer, and re-sending every transfer gives the same answers and moves nothing.
pub(crate) async fn check_books(silo: &Silo, accounts: &[&str], initial: u64, clients: &[Client]) {
    assert!(
        clients.iter().all(Client::finished),
        "every transfer has a final answer"
    );
    let after = balances(silo, accounts).await;
    assert_eq!(
        after.iter().sum::<u64>(),
        initial * accounts.len() as u64,
        "the total is conserved"
    );
    let mut expected = vec![i128::from(initial); accounts.len()];
    let position = |name: &str| accounts.iter().position(|a| *a == name).unwrap();
    for client in clients {
        for (terms, answer) in client.plan.iter().zip(&client.answers) {
            match answer {
                Ok(()) => {
                    expected[position(&terms.from)] -= i128::from(terms.amount);
                    expected[position(&terms.to)] += i128::from(terms.amount);
                }
                Err(BankError::InsufficientFunds { .. }) => {}
                Err(other) => panic!("unexpected refusal {other:?}"),
            }
        }
    }
    let wide: Vec<i128> = after.iter().map(|b| i128::from(*b)).collect();
    assert_eq!(
        wide, expected,
        "each balance matches the completed transfers"
    );
    for account in accounts {
        let statement = silo.grain::<Account>(*account).statement().await.unwrap();
        assert!(statement.unsettled.is_empty(), "{account}: {statement:?}");
    }

    for client in clients {
        for (number, (terms, answer)) in client.plan.iter().zip(&client.answers).enumerate() {
            let again = silo
                .grain::<Transfer>(client.key(number))
                .run(terms.clone())
                .await
                .unwrap();
            assert_eq!(&again, answer, "re-sending {}", client.key(number));
        }
    }
    assert_eq!(
        balances(silo, accounts).await,
        after,
        "re-sending moves nothing"
    );
}

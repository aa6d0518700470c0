//! Run with `cargo run --release -p example-bank [-- --data-dir DIR --storage redb --clients 64]`.
//!
//! Opens accounts, then runs many concurrent transfers. Halfway through, the silo is shut down
//! while transfers are in flight and a new silo is started on the same data directory; the
//! clients re-send the transfers whose outcome they did not learn, and the run finishes. The demo
//! then checks that the total is what it was, that every balance matches the transfers the clients
//! saw complete, and that re-sending finished transfers changes nothing. It exits non-zero if not.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use bank::{Account, BankError, Terms, Transfer, TransferStatus};
use clap::Parser;
use grain_runtime::Storage;
use grain_runtime::prelude::*;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(about = "Concurrent bank transfers across a silo restart")]
struct Args {
    /// Where the silo keeps journals and snapshots; a temporary directory if unset. Each run uses
    /// its own account and transfer names, so a directory can be reused.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The storage engine.
    #[arg(long, value_enum, default_value_t = Engine::Redb)]
    storage: Engine,
    /// How many accounts.
    #[arg(long, default_value_t = 32)]
    accounts: usize,
    /// The opening balance of each account.
    #[arg(long, default_value_t = 1_000)]
    initial: u64,
    /// How many concurrent clients send transfers, one at a time each.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// How many transfers each client sends.
    #[arg(long, default_value_t = 100)]
    transfers: usize,
    /// Restart the silo once this share of the transfers has finished.
    #[arg(long, default_value_t = 0.5)]
    restart_at: f64,
}

/// The embedded storage engines.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Engine {
    Sled,
    Redb,
}

impl Engine {
    fn open(self, dir: &Path) -> anyhow::Result<Storage> {
        let storage = match self {
            Engine::Sled => Storage::sled(dir),
            Engine::Redb => Storage::redb(dir),
        };
        storage.with_context(|| format!("opening {self:?} storage in {}", dir.display()))
    }
}

/// What a client learned about one transfer.
#[derive(Debug, Clone)]
enum Outcome {
    Completed,
    Refused(BankError),
}

/// One client: sends its planned transfers in order and remembers what came back.
struct Client {
    index: usize,
    plan: Vec<Terms>,
    outcomes: Vec<Outcome>,
    /// Why the transfer at `outcomes.len()` has no known outcome.
    stopped: Option<String>,
}

impl Client {
    fn next(&self) -> usize {
        self.outcomes.len()
    }

    fn finished(&self) -> bool {
        self.next() == self.plan.len()
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.accounts < 2 {
        bail!("--accounts must be at least 2");
    }
    let temp;
    let dir = match &args.data_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            dir.clone()
        }
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let run = run_tag();
    let accounts: Vec<String> = (0..args.accounts)
        .map(|i| format!("{run}/acct-{i:02}"))
        .collect();
    let total_transfers = args.clients * args.transfers;
    println!(
        "bank: {} accounts of {}, {} clients sending {} transfers each, {:?} storage in {}",
        args.accounts,
        args.initial,
        args.clients,
        args.transfers,
        args.storage,
        dir.display()
    );

    let silo = Arc::new(start(args.storage, &dir).await?);
    for account in &accounts {
        silo.grain::<Account>(account).open(args.initial).await??;
    }
    let before = total(&silo, &accounts).await?;
    println!("opened {} accounts, total {before}", accounts.len());

    let mut clients: Vec<Client> = (0..args.clients)
        .map(|index| Client {
            index,
            plan: plan(index, &accounts, args.transfers, args.initial / 4),
            outcomes: Vec::new(),
            stopped: None,
        })
        .collect();

    // Phase 1: run until the restart point, then shut the silo down under load.
    let done = Arc::new(AtomicUsize::new(0));
    let restart_point = (total_transfers as f64 * args.restart_at.clamp(0.0, 1.0)) as usize;
    let started = Instant::now();
    let running = spawn_clients(&silo, &run, clients, &done);
    while done.load(Ordering::Relaxed) < restart_point
        && running.iter().any(|task| !task.is_finished())
    {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let shutdown = silo.shutdown().await;
    clients = join_clients(running).await?;
    let phase1 = started.elapsed();
    let finished1 = done.load(Ordering::Relaxed);
    let in_flight: Vec<(usize, usize)> = clients
        .iter()
        .filter(|client| !client.finished())
        .map(|client| (client.index, client.next()))
        .collect();
    println!(
        "phase 1: {finished1} transfers in {phase1:.2?}; silo shut down with {} transfers in flight ({:.2?}, {} activations abandoned)",
        in_flight.len(),
        shutdown.took,
        shutdown.abandoned
    );
    drop(silo);

    // Restart on the same data directory: after `shutdown` the old silo no longer holds the store.
    let reopened = Instant::now();
    let silo = Arc::new(start(args.storage, &dir).await?);
    let restart_took = reopened.elapsed();
    let mut found: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (index, number) in &in_flight {
        let key = transfer_key(&run, *index, *number);
        let status = silo.grain::<Transfer>(key).status().await?;
        *found.entry(status_name(&status)).or_default() += 1;
    }
    println!(
        "restarted in {restart_took:.2?}; the in-flight transfers were found {}",
        describe(&found)
    );

    // Phase 2: the clients re-send what they did not hear back about, then carry on.
    let resumed = Instant::now();
    for _round in 0..3 {
        let running = spawn_clients(&silo, &run, clients, &done);
        clients = join_clients(running).await?;
        if clients.iter().all(Client::finished) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let phase2 = resumed.elapsed();
    if let Some(client) = clients.iter().find(|client| !client.finished()) {
        bail!(
            "client {} could not finish transfer {}: {}",
            client.index,
            transfer_key(&run, client.index, client.next()),
            client.stopped.as_deref().unwrap_or("no reason")
        );
    }
    let finished = done.load(Ordering::Relaxed);
    println!(
        "phase 2: {} transfers in {phase2:.2?}",
        finished - finished1
    );

    // Re-sending finished transfers must change nothing: each client's first transfer and the
    // ones that were in flight at the restart.
    let balances_before_resend = balances(&silo, &accounts).await?;
    let mut resent = 0;
    for client in &clients {
        let mut numbers = vec![0];
        numbers.extend(
            in_flight
                .iter()
                .filter(|(index, _)| *index == client.index)
                .map(|(_, number)| *number),
        );
        for number in numbers {
            let key = transfer_key(&run, client.index, number);
            let again = silo
                .grain::<Transfer>(&key)
                .run(client.plan[number].clone())
                .await?;
            let first = match &client.outcomes[number] {
                Outcome::Completed => Ok(()),
                Outcome::Refused(error) => Err(error.clone()),
            };
            if again != first {
                bail!("re-sending {key} answered {again:?}, the first answer was {first:?}");
            }
            resent += 1;
        }
    }
    let balances_after_resend = balances(&silo, &accounts).await?;
    if balances_after_resend != balances_before_resend {
        bail!("re-sending finished transfers changed balances");
    }
    println!("re-sent {resent} finished transfers: same answers, no balance changed");

    // Every transfer answered, so every one was settled: no account remembers any.
    let mut unsettled = 0;
    for account in &accounts {
        unsettled += silo
            .grain::<Account>(account)
            .statement()
            .await?
            .unsettled
            .len();
    }

    // Every balance must be its opening balance plus what the clients saw complete.
    let mut expected: BTreeMap<&str, i128> = accounts
        .iter()
        .map(|account| (account.as_str(), i128::from(args.initial)))
        .collect();
    let (mut completed, mut insufficient, mut refused) = (0, 0, 0);
    for client in &clients {
        for (terms, outcome) in client.plan.iter().zip(&client.outcomes) {
            match outcome {
                Outcome::Completed => {
                    completed += 1;
                    *expected
                        .get_mut(terms.from.as_str())
                        .context("known account")? -= i128::from(terms.amount);
                    *expected
                        .get_mut(terms.to.as_str())
                        .context("known account")? += i128::from(terms.amount);
                }
                Outcome::Refused(BankError::InsufficientFunds { .. }) => insufficient += 1,
                Outcome::Refused(_) => refused += 1,
            }
        }
    }
    let after = balances_after_resend.iter().sum::<u64>();
    println!();
    println!("balances:");
    for (names, values) in accounts.chunks(8).zip(balances_after_resend.chunks(8)) {
        let line: Vec<String> = names
            .iter()
            .zip(values)
            .map(|(account, balance)| format!("{} {balance:>5}", short(account)))
            .collect();
        println!("  {}", line.join("  "));
    }
    println!();
    let transfers = completed + insufficient + refused;
    let busy = phase1 + phase2;
    println!(
        "transfers: {transfers} ({completed} completed, {insufficient} refused for insufficient funds, {refused} otherwise refused)"
    );
    println!(
        "throughput: {:.0} transfers/s over {busy:.2?} of transfer time",
        transfers as f64 / busy.as_secs_f64()
    );
    println!("unsettled transfer ids left in accounts: {unsettled}");
    println!("total before: {before}, total after: {after}");

    let stats = silo.stats();
    println!(
        "second silo: {} activations, {} passivations, {} messages handled, {} panics",
        stats.activations, stats.passivations, stats.messages_handled, stats.panics
    );
    silo.shutdown().await;

    let mismatched: Vec<String> = accounts
        .iter()
        .zip(&balances_after_resend)
        .filter(|(account, balance)| expected.get(account.as_str()) != Some(&i128::from(**balance)))
        .map(|(account, balance)| {
            format!(
                "{account} holds {balance}, expected {}",
                expected.get(account.as_str()).copied().unwrap_or_default()
            )
        })
        .collect();
    if after != before {
        bail!("money was created or lost: total {before} before, {after} after");
    }
    if !mismatched.is_empty() {
        bail!("balances differ from the transfers clients saw complete: {mismatched:?}");
    }
    if unsettled != 0 {
        bail!("accounts still remember {unsettled} transfers that are finished");
    }
    println!(
        "verified: total conserved, every balance matches the completed transfers, every transfer settled"
    );
    Ok(())
}

async fn start(engine: Engine, dir: &Path) -> anyhow::Result<Silo> {
    Ok(Silo::builder()
        .storage(engine.open(dir)?)
        .register::<Account>()
        .register::<Transfer>()
        .start()
        .await?)
}

fn spawn_clients(
    silo: &Arc<Silo>,
    run: &str,
    clients: Vec<Client>,
    done: &Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<Client>> {
    clients
        .into_iter()
        .map(|client| {
            let silo = Arc::clone(silo);
            let done = Arc::clone(done);
            let run = run.to_owned();
            tokio::spawn(drive(silo, run, client, done))
        })
        .collect()
}

async fn join_clients(
    running: Vec<tokio::task::JoinHandle<Client>>,
) -> anyhow::Result<Vec<Client>> {
    let mut clients = Vec::with_capacity(running.len());
    for task in running {
        clients.push(task.await?);
    }
    Ok(clients)
}

/// Sends the client's remaining transfers in order; stops at the first whose outcome is unknown.
async fn drive(silo: Arc<Silo>, run: String, mut client: Client, done: Arc<AtomicUsize>) -> Client {
    client.stopped = None;
    while !client.finished() {
        let number = client.next();
        let transfer = silo.grain::<Transfer>(transfer_key(&run, client.index, number));
        let outcome = match transfer.run(client.plan[number].clone()).await {
            Ok(Ok(())) => Outcome::Completed,
            Ok(Err(error)) if !error.is_retryable() => Outcome::Refused(error),
            Ok(Err(error)) => {
                client.stopped = Some(error.to_string());
                break;
            }
            Err(error) => {
                client.stopped = Some(error.to_string());
                break;
            }
        };
        client.outcomes.push(outcome);
        done.fetch_add(1, Ordering::Relaxed);
    }
    client
}

/// The transfers client `index` sends: random pairs of distinct accounts and amounts up to `max`.
fn plan(index: usize, accounts: &[String], count: usize, max: u64) -> Vec<Terms> {
    let mut state =
        0x9E37_79B9_7F4A_7C15_u64 ^ (index as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let mut random = move || {
        // xorshift64*: deterministic per client, no dependency.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let n = accounts.len() as u64;
    (0..count)
        .map(|_| {
            let from = (random() % n) as usize;
            let to = (from + 1 + (random() % (n - 1)) as usize) % accounts.len();
            let amount = 1 + random() % max.max(1);
            Terms::new(&accounts[from], &accounts[to], amount)
        })
        .collect()
}

fn transfer_key(run: &str, client: usize, number: usize) -> String {
    format!("{run}/t{client:02}-{number:05}")
}

/// A tag that keeps this run's account and transfer names apart from earlier runs'.
fn run_tag() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis());
    format!("run-{millis:x}")
}

fn short(account: &str) -> &str {
    account.rsplit('/').next().unwrap_or(account)
}

async fn balances(silo: &Silo, accounts: &[String]) -> anyhow::Result<Vec<u64>> {
    let mut balances = Vec::with_capacity(accounts.len());
    for account in accounts {
        balances.push(silo.grain::<Account>(account).balance().await?);
    }
    Ok(balances)
}

async fn total(silo: &Silo, accounts: &[String]) -> anyhow::Result<u64> {
    Ok(balances(silo, accounts).await?.iter().sum())
}

fn status_name(status: &TransferStatus) -> &'static str {
    match status {
        TransferStatus::New => "not started",
        TransferStatus::Started => "started",
        TransferStatus::Debited => "debited",
        TransferStatus::Refunding { .. } => "refunding",
        TransferStatus::Completed => "completed",
        TransferStatus::Failed { .. } => "failed",
    }
}

fn describe(counts: &BTreeMap<&'static str, usize>) -> String {
    if counts.is_empty() {
        return "(none)".to_owned();
    }
    counts
        .iter()
        .map(|(name, count)| format!("{count} {name}"))
        .collect::<Vec<_>>()
        .join(", ")
}

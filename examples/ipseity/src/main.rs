//! Run with `cargo run --release -p example-ipseity [namespaces] [clients] [ids-per-client] [data-dir]`.
//!
//! Many concurrent clients ask namespace grains for ids; the demo prints the throughput and then
//! checks that no id was handed out twice, that every namespace's ids are exactly 1..=n, and that
//! each client saw the ids of a namespace increase. It then restarts the silo on the same data
//! directory (a temporary one unless given) and checks that the ids handed out after the restart
//! are all above those handed out before it.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, bail};
use grain_runtime::Storage;
use grain_runtime::prelude::*;
use ipseity::Namespace;

fn arg(position: usize, default: usize) -> anyhow::Result<usize> {
    match std::env::args().nth(position) {
        Some(text) => text
            .parse()
            .with_context(|| format!("argument {position} must be a whole number, got {text:?}")),
        None => Ok(default),
    }
}

async fn start(data_dir: &Path) -> anyhow::Result<Silo> {
    let storage = Storage::redb(data_dir)?;
    Ok(Silo::builder()
        .storage(storage)
        .register::<Namespace>()
        .start()
        .await?)
}

/// Runs `clients` concurrent clients that each take `per_client` ids, spread over the
/// namespaces; returns the ids each namespace handed out, after checking per-client order.
async fn hand_out(
    silo: &Silo,
    names: &[String],
    clients: usize,
    per_client: usize,
) -> anyhow::Result<Vec<Vec<u64>>> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let refs: Vec<VirtualActorRef<Namespace>> = names
            .iter()
            .map(|name| silo.grain::<Namespace>(name))
            .collect();
        tasks.push(tokio::spawn(async move {
            let mut seen: Vec<Vec<u64>> = vec![Vec::new(); refs.len()];
            for i in 0..per_client {
                let slot = (client + i) % refs.len();
                let id = refs[slot].next_id().await??;
                seen[slot].push(id);
            }
            anyhow::Ok(seen)
        }));
    }
    let mut issued: Vec<Vec<u64>> = vec![Vec::new(); names.len()];
    for task in tasks {
        let seen = task.await??;
        for (slot, ids) in seen.into_iter().enumerate() {
            if ids.windows(2).any(|pair| pair[0] >= pair[1]) {
                bail!("a client saw ids of {} go backwards", names[slot]);
            }
            issued[slot].extend(ids);
        }
    }
    let elapsed = started.elapsed();
    let total = clients * per_client;
    println!(
        "handed out {total} ids in {:.2?}: {:.0} ids/s",
        elapsed,
        total as f64 / elapsed.as_secs_f64()
    );
    for ids in &mut issued {
        ids.sort_unstable();
    }
    Ok(issued)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let namespaces = arg(1, 16)?.max(1);
    let clients = arg(2, 64)?.max(1);
    let per_client = arg(3, 20_000)?;
    let temp = tempfile::tempdir()?;
    let data_dir = std::env::args()
        .nth(4)
        .map_or_else(|| temp.path().to_path_buf(), Into::into);

    let names: Vec<String> = (0..namespaces).map(|i| format!("namespace-{i}")).collect();
    println!(
        "ipseity: {clients} clients asking {namespaces} namespace grains for {per_client} ids each, \
         state in {}",
        data_dir.display()
    );

    let silo = start(&data_dir).await?;
    let before = hand_out(&silo, &names, clients, per_client).await?;
    for (slot, ids) in before.iter().enumerate() {
        let count = ids.len() as u64;
        if ids.first().is_some_and(|&first| first > 1) {
            println!(
                "{} resumed above {} from an earlier run",
                names[slot],
                ids[0] - 1
            );
        }
        let base = ids.first().map_or(0, |&first| first - 1);
        let expected: Vec<u64> = (base + 1..=base + count).collect();
        if *ids != expected {
            bail!(
                "{} handed out a duplicate or skipped an id ({count} ids)",
                names[slot]
            );
        }
        let last = silo.grain::<Namespace>(&names[slot]).last_issued().await?;
        if last != base + count {
            bail!(
                "{} reports {last} as its last id, clients received up to {}",
                names[slot],
                base + count
            );
        }
    }
    println!("verified: every id unique, every namespace contiguous, per-client order increasing");
    let stats = silo.stats();
    println!(
        "silo: {} activations, {} messages handled, {} panics",
        stats.activations, stats.messages_handled, stats.panics
    );
    let report = silo.shutdown().await;
    drop(silo);
    println!(
        "shutdown in {:.2?}; restarting on the same data directory",
        report.took
    );

    let silo = start(&data_dir).await?;
    let after = hand_out(&silo, &names, clients, per_client.min(1000)).await?;
    for (slot, ids) in after.iter().enumerate() {
        let highest_before = before[slot].last().copied().unwrap_or(0);
        if ids.first().is_some_and(|&first| first <= highest_before) {
            bail!(
                "{} reused an id after the restart: {} <= {highest_before}",
                names[slot],
                ids[0]
            );
        }
        if ids.windows(2).any(|pair| pair[0] == pair[1]) {
            bail!("{} handed out an id twice after the restart", names[slot]);
        }
    }
    println!("verified: after the restart every namespace continued above its earlier ids");
    silo.shutdown().await;
    Ok(())
}

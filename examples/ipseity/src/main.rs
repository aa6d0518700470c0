//! Run with `cargo run --release -p example-ipseity [namespaces] [clients] [ids-per-client]`.
//!
//! Many concurrent clients ask namespace grains for ids; the demo prints the throughput and then
//! checks that no id was handed out twice, that every namespace's ids are exactly 1..=n, and that
//! each client saw the ids of a namespace increase.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::{Context as _, bail};
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let namespaces = arg(1, 16)?.max(1);
    let clients = arg(2, 64)?.max(1);
    let per_client = arg(3, 20_000)?;

    let silo = Silo::builder().register::<Namespace>().start().await?;
    let names: Vec<String> = (0..namespaces).map(|i| format!("namespace-{i}")).collect();
    println!(
        "ipseity: {clients} clients asking {namespaces} namespace grains for {per_client} ids each"
    );

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
                let id = refs[slot].next_id().await?;
                seen[slot].push(id);
            }
            Ok::<_, CallError>(seen)
        }));
    }
    let mut issued: HashMap<usize, Vec<u64>> = HashMap::new();
    for task in tasks {
        let seen = task.await??;
        for (slot, ids) in seen.into_iter().enumerate() {
            if ids.windows(2).any(|pair| pair[0] >= pair[1]) {
                bail!("a client saw ids of {} go backwards", names[slot]);
            }
            issued.entry(slot).or_default().extend(ids);
        }
    }
    let elapsed = started.elapsed();
    let total = clients * per_client;
    println!(
        "handed out {total} ids in {:.2?}: {:.0} ids/s",
        elapsed,
        total as f64 / elapsed.as_secs_f64()
    );

    for (slot, mut ids) in issued {
        let count = ids.len() as u64;
        ids.sort_unstable();
        let expected: Vec<u64> = (1..=count).collect();
        if ids != expected {
            bail!(
                "{} handed out a duplicate or skipped an id ({count} ids)",
                names[slot]
            );
        }
        let last = silo.grain::<Namespace>(&names[slot]).last_issued().await?;
        if last != count {
            bail!(
                "{} reports {last} ids, clients received {count}",
                names[slot]
            );
        }
    }
    println!(
        "verified: every id unique, every namespace contiguous from 1, per-client order increasing"
    );

    let stats = silo.stats();
    println!(
        "silo: {} activations, {} messages handled, {} panics",
        stats.activations, stats.messages_handled, stats.panics
    );
    let report = silo.shutdown().await;
    println!("shutdown in {:.2?}", report.took);
    Ok(())
}

//! The silo child: `--serve-silo <name> <seed-addr|none> <cluster> [<gossip-ms> <dead-after-ms>]`.
//!
//! Starts one clustered silo hosting [`Echo`], prints `LISTEN <address>` on stdout, then one
//! `VIEW <version> <name>=<status>,..` line for its first cluster view and for every change, and
//! runs until it is killed or its stdin closes (it then exits at once, without leaving the
//! cluster gracefully: the parent is done with that cluster).

use std::io::{Read as _, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use grain_runtime::membership::{DEFAULT_DEAD_AFTER, DEFAULT_GOSSIP_INTERVAL};
use grain_runtime::{ClusterConfig, Silo};

use crate::echo::{Echo, set_host};

/// Gossip timing of a silo child.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// How often membership gossip runs.
    pub(crate) gossip_interval: Duration,
    /// How long a silent silo has before the others drop it.
    pub(crate) dead_after: Duration,
}

impl Timing {
    /// The runtime's defaults (150 ms / 3 s).
    pub(crate) const DEFAULT: Timing = Timing {
        gossip_interval: DEFAULT_GOSSIP_INTERVAL,
        dead_after: DEFAULT_DEAD_AFTER,
    };
}

/// Runs the child named by `args` (the arguments after `--serve-silo`).
pub(crate) fn main(args: &[String]) -> ExitCode {
    let parsed = match args {
        [name, seed, cluster] => Some((name, seed, cluster, Timing::DEFAULT)),
        [name, seed, cluster, gossip, dead] => match (gossip.parse(), dead.parse()) {
            (Ok(gossip), Ok(dead)) => Some((
                name,
                seed,
                cluster,
                Timing {
                    gossip_interval: Duration::from_millis(gossip),
                    dead_after: Duration::from_millis(dead),
                },
            )),
            _ => None,
        },
        _ => None,
    };
    let Some((name, seed, cluster, timing)) = parsed else {
        eprintln!(
            "usage: --serve-silo <name> <seed-addr|none> <cluster> [<gossip-ms> <dead-after-ms>]"
        );
        return ExitCode::FAILURE;
    };
    set_host(name);
    // Exit as soon as the parent closes our stdin (or goes away).
    std::thread::spawn(|| {
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("building the tokio runtime");
    let seeds: Vec<String> = if seed == "none" {
        Vec::new()
    } else {
        vec![seed.clone()]
    };
    let config = ClusterConfig::new(name.as_str())
        .cluster(cluster.as_str())
        .listen("127.0.0.1:0".parse().expect("a socket address"))
        .join(seeds)
        .gossip_interval(timing.gossip_interval)
        .dead_after(timing.dead_after);
    let result: Result<(), String> = runtime.block_on(async move {
        let silo = Silo::builder()
            .register::<Echo>()
            .cluster(config)
            .start()
            .await
            .map_err(|e| format!("starting silo {name}: {e}"))?;
        let address = silo.address().ok_or("the silo has no address")?;
        let mut views = silo.cluster_views().ok_or("the silo has no cluster view")?;
        say(&format!("LISTEN {address}"));
        loop {
            let view = std::sync::Arc::clone(&views.borrow_and_update());
            let members: Vec<String> = view
                .members
                .iter()
                .map(|m| format!("{}={}", m.name, m.status))
                .collect();
            say(&format!("VIEW {} {}", view.version, members.join(",")));
            if views.changed().await.is_err() {
                // The membership stopped; keep serving calls until we are told to go.
                std::future::pending::<()>().await;
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("silo child: {error}");
            ExitCode::FAILURE
        }
    }
}

/// One line on stdout, flushed at once: the parent timestamps it when it reads it.
fn say(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

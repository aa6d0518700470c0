//! Cross-silo benchmarks: asks from a client to a grain owned by a silo in another process over
//! loopback TCP (against the same asks to a local silo), asks forwarded once by a silo that does
//! not own the grain (against direct asks), and how long a SIGKILLed silo stays in the survivor's
//! view; and, in this process, how long a cluster takes to rebalance its active grains when a
//! silo joins or leaves.
//!
//! Run with `cargo run --release -p grain-benches --bin cluster [-- --quick]`. The silos are
//! this binary again, started as `--serve-silo <name> <seed-addr|none> <cluster>
//! [<gossip-ms> <dead-after-ms>]`. `docs/BENCHMARKS.md` describes each figure.

#[path = "cluster/asks.rs"]
mod asks;
#[path = "cluster/echo.rs"]
mod echo;
#[path = "cluster/process.rs"]
mod process;
#[path = "cluster/rebalance.rs"]
mod rebalance;
#[path = "cluster/report.rs"]
mod report;
#[path = "cluster/run.rs"]
mod run;
#[path = "cluster/serve.rs"]
mod serve;

use std::process::ExitCode;

use run::Counts;

const USAGE: &str = "usage: cluster [--quick]

  --quick   ten times fewer asks, one round, one kill per gossip setting, ten times fewer
            grains to rebalance";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--serve-silo") {
        return serve::main(&args[1..]);
    }
    let mut counts = Counts::FULL;
    for arg in &args {
        match arg.as_str() {
            "--quick" => counts = Counts::QUICK,
            "-h" | "--help" => {
                eprintln!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("error: unknown argument {other:?}\n{USAGE}");
                return ExitCode::FAILURE;
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("building the tokio runtime");
    match runtime.block_on(run::run(counts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("benchmark failed: {error}");
            ExitCode::FAILURE
        }
    }
}

//! The child side: one process measures one framework, so that no framework's allocations or
//! leftover tasks affect another's figures. Results go to stdout as `RESULT <key> <value>`
//! lines; progress goes to stderr.

use std::io::Write as _;
use std::process::ExitCode;

use crate::config::{Counts, selected};
use crate::exec::Runner;
use crate::measure::{self, Latency};
use crate::memory;
use crate::subject::{Actix, GrainRuntime, Kameo, Ractor, Subject, TokioBaseline};

/// Result keys, shared with the parent's report.
pub(crate) mod key {
    /// Tell throughput, messages per second.
    pub(crate) const TELL: &str = "tell_per_s";
    /// Sequential ask latency, mean, nanoseconds.
    pub(crate) const ASK_MEAN: &str = "ask_mean_ns";
    /// Sequential ask latency, median, nanoseconds.
    pub(crate) const ASK_P50: &str = "ask_p50_ns";
    /// Sequential ask latency, 99th percentile, nanoseconds.
    pub(crate) const ASK_P99: &str = "ask_p99_ns";
    /// Concurrent ask throughput, asks per second.
    pub(crate) const CONCURRENT: &str = "concurrent_per_s";
    /// Cold start, wall nanoseconds per actor.
    pub(crate) const COLD: &str = "cold_ns_per_actor";

    /// Idle memory at `actors` actors, bytes per actor.
    pub(crate) fn memory(actors: u64) -> String {
        format!("memory_{actors}_bytes_per_actor")
    }
}

/// Runs the child named by `args`: `timing <framework> [--quick]` (one repetition of every
/// timed measurement) or `memory <framework> <actors> [--quick]`.
pub(crate) fn main(args: &[String]) -> ExitCode {
    let quick = args.iter().any(|a| a == "--quick");
    let args: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--quick")
        .collect();
    let counts = Counts::new(quick);
    let results = match args.as_slice() {
        ["timing", framework] => dispatch(framework, Job::Timing(counts)),
        ["memory", framework, actors] => match actors.parse() {
            Ok(actors) => dispatch(framework, Job::Memory(actors, counts.callers)),
            Err(_) => None,
        },
        _ => None,
    };
    let Some(results) = results else {
        eprintln!("usage: --child timing <framework> | --child memory <framework> <actors>");
        return ExitCode::FAILURE;
    };
    let mut stdout = std::io::stdout().lock();
    for (key, value) in results {
        let _ = writeln!(stdout, "RESULT {key} {value}");
    }
    let _ = stdout.flush();
    // Skip tearing down up to a million actors: the figures are out.
    std::process::exit(0)
}

enum Job {
    Timing(Counts),
    Memory(u64, u64),
}

fn dispatch(framework: &str, job: Job) -> Option<Vec<(String, f64)>> {
    let results = match framework {
        "tokio" => run::<TokioBaseline>(Runner::tokio(), job),
        "grain-runtime" => run::<GrainRuntime>(Runner::tokio(), job),
        "kameo" => run::<Kameo>(Runner::tokio(), job),
        "ractor" => run::<Ractor>(Runner::tokio(), job),
        "actix" => run::<Actix>(Runner::actix(), job),
        _ => return None,
    };
    Some(results)
}

fn run<S: Subject>(runner: Runner, job: Job) -> Vec<(String, f64)> {
    let results = match job {
        Job::Timing(counts) => timing::<S>(&runner, counts),
        Job::Memory(actors, callers) => {
            let found = runner.run(|spawner| memory::idle_memory::<S>(spawner, actors, callers));
            eprintln!(
                "  [{}] memory at {actors} actors: {:.0} B/actor (created in {:.2?})",
                S::NAME,
                found.bytes_per_actor,
                found.create_time
            );
            vec![(key::memory(actors), found.bytes_per_actor)]
        }
    };
    std::mem::forget(runner);
    results
}

/// Runs every selected timed measurement once. Repetitions are separate children, which the
/// parent interleaves across frameworks so that a burst of load on the shared machine does not
/// fall on one framework's figures only.
fn timing<S: Subject>(runner: &Runner, counts: Counts) -> Vec<(String, f64)> {
    let name = S::NAME;
    let mut results = Vec::new();
    let mut put = |key: &str, value: f64| results.push((key.to_string(), value));
    if selected("tell") {
        let tell = runner.run(|spawner| measure::tell_throughput::<S>(spawner, counts.tells));
        eprintln!("  [{name}] tell: {tell:.0} msg/s");
        put(key::TELL, tell);
    }
    if selected("ask") {
        let latency: Latency = runner
            .run(|spawner| measure::ask_latency::<S>(spawner, counts.ask_warmup, counts.asks));
        eprintln!(
            "  [{name}] ask: mean {:.0} ns, p50 {:.0} ns, p99 {:.0} ns",
            latency.mean, latency.p50, latency.p99
        );
        put(key::ASK_MEAN, latency.mean);
        put(key::ASK_P50, latency.p50);
        put(key::ASK_P99, latency.p99);
    }
    if selected("concurrent") {
        let rate = runner.run(|spawner| {
            measure::concurrent_asks::<S>(
                spawner,
                counts.concurrent_actors,
                counts.callers,
                counts.asks_per_caller,
            )
        });
        eprintln!("  [{name}] concurrent asks: {rate:.0} asks/s");
        put(key::CONCURRENT, rate);
    }
    if selected("cold") {
        let elapsed = runner.run(|spawner| {
            measure::cold_activation::<S>(spawner, counts.cold_actors, counts.callers)
        });
        let per_actor = elapsed.as_nanos() as f64 / counts.cold_actors as f64;
        eprintln!(
            "  [{name}] cold start: {:.2} us/actor ({:.0}/s)",
            per_actor / 1e3,
            1e9 / per_actor
        );
        put(key::COLD, per_actor);
    }
    results
}

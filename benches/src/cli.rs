//! The parent side: parses options, runs one child process per framework and measurement, and
//! prints the table.

use std::io::Read as _;
use std::process::{Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::child;
use crate::config::{Counts, FRAMEWORKS, ONLY_VAR, selected};
use crate::exec::WORKERS;
use crate::report::{self, Results, Samples};

const USAGE: &str = "\
usage: compare [--quick] [--frameworks a,b,..] [--no-memory]

  --quick        ten times smaller counts and one repetition (also: GRAIN_BENCH_QUICK=1)
  --frameworks   a subset of: tokio, grain-runtime, kameo, ractor, actix (tokio is always run)
  --no-memory    skip the idle-memory measurements

GRAIN_BENCH_ONLY=ask,concurrent runs only the named measurements (tell, ask, concurrent, cold,
memory), e.g. under a profiler: `perf record -g -- compare --child timing grain-runtime`.";

/// A child still running after this long is killed and its figures reported as missing.
const CHILD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

struct Options {
    quick: bool,
    memory: bool,
    frameworks: Vec<String>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut options = Options {
            quick: std::env::var("GRAIN_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0"),
            memory: true,
            frameworks: FRAMEWORKS.iter().map(|f| f.to_string()).collect(),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--no-memory" => options.memory = false,
                "--frameworks" => {
                    let list = args.next().ok_or("--frameworks needs a list")?;
                    let mut chosen = vec!["tokio".to_string()];
                    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                        if !report::known(name) {
                            return Err(format!("unknown framework {name:?}"));
                        }
                        if !chosen.iter().any(|c| c == name) {
                            chosen.push(name.to_string());
                        }
                    }
                    options.frameworks = FRAMEWORKS
                        .iter()
                        .filter(|f| chosen.iter().any(|c| c == *f))
                        .map(|f| f.to_string())
                        .collect();
                }
                // `cargo bench` passes `--bench`; test harness filters are not supported.
                "--bench" => {}
                "-h" | "--help" => return Err(String::new()),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(options)
    }
}

/// The benchmark's entry point, for the `compare` binary and the `cargo bench` target.
pub(crate) fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--child") {
        return child::main(&args[1..]);
    }
    let options = match Options::parse(&args) {
        Ok(options) => options,
        Err(error) => {
            if !error.is_empty() {
                eprintln!("error: {error}");
            }
            eprintln!("{USAGE}");
            return if error.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
    };
    let counts = Counts::new(options.quick);
    eprintln!(
        "grain-benches: {} mode, {WORKERS} tokio workers (actix: {WORKERS} arbiters), median of {} run(s)",
        if counts.quick { "quick" } else { "full" },
        counts.reps
    );
    if let Ok(only) = std::env::var(ONLY_VAR) {
        eprintln!("{ONLY_VAR}={only}");
    }
    let started = Instant::now();
    let mut results = Results::new();
    let mode = if counts.quick {
        vec!["--quick"]
    } else {
        vec![]
    };
    let mut samples = Samples::new();
    for rep in 0..counts.reps {
        // Rotate the order too, so that no framework always runs first or last in a round.
        let count = options.frameworks.len();
        for i in 0..count {
            let framework = &options.frameworks[(i + rep) % count];
            eprintln!("== {framework}: timings, round {}/{}", rep + 1, counts.reps);
            let mut args = vec!["timing", framework.as_str()];
            args.extend(&mode);
            if let Some(found) = report_failure(framework, run_child(&args)) {
                for (key, value) in found {
                    samples
                        .entry(framework.clone())
                        .or_default()
                        .entry(key)
                        .or_default()
                        .push(value);
                }
            }
        }
    }
    for (framework, keys) in &samples {
        let medians = keys
            .iter()
            .map(|(key, values)| (key.clone(), median(values.clone())));
        results
            .entry(framework.clone())
            .or_default()
            .extend(medians);
    }
    if options.memory && selected("memory") {
        for actors in counts.memory_actors {
            for framework in &options.frameworks {
                eprintln!("== {framework}: idle memory at {actors} actors");
                let actors = actors.to_string();
                let mut args = vec!["memory", framework.as_str(), actors.as_str()];
                args.extend(&mode);
                collect(&mut results, framework, run_child(&args));
            }
        }
    }
    println!();
    println!(
        "grain-benches compare: {} mode, {WORKERS} tokio workers / {WORKERS} actix arbiters, median of {} run(s), took {:.0?}",
        if counts.quick { "quick" } else { "full" },
        counts.reps,
        started.elapsed()
    );
    println!(
        "counts: {} tells; {} asks after {} warm-up; {} callers x {} asks over {} actors; {} cold starts; idle memory at {} and {} actors",
        counts.tells,
        counts.asks,
        counts.ask_warmup,
        counts.callers,
        counts.asks_per_caller,
        counts.concurrent_actors,
        counts.cold_actors,
        counts.memory_actors[0],
        counts.memory_actors[1]
    );
    println!();
    print!("{}", report::table(&results, &counts, &options.frameworks));
    println!();
    if counts.reps > 1 {
        print!("{}", report::spread(&samples, &counts, &options.frameworks));
        println!();
    }
    print!("{}", report::targets(&results, &counts));
    ExitCode::SUCCESS
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn report_failure<T>(framework: &str, found: Result<T, String>) -> Option<T> {
    found
        .map_err(|error| eprintln!("  [{framework}] failed: {error}"))
        .ok()
}

fn collect(results: &mut Results, framework: &str, found: Result<Vec<(String, f64)>, String>) {
    if let Some(found) = report_failure(framework, found) {
        results
            .entry(framework.to_string())
            .or_default()
            .extend(found);
    }
}

/// Runs this executable as `--child <args>` and parses its `RESULT` lines.
fn run_child(args: &[&str]) -> Result<Vec<(String, f64)>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("locating the executable: {e}"))?;
    let mut child = Command::new(exe)
        .arg("--child")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting the child: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no child stdout")?;
    let reader = thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + CHILD_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {CHILD_TIMEOUT:?}"));
            }
            Ok(None) => thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("waiting for the child: {e}")),
        }
    };
    let text = reader.join().unwrap_or_default();
    if !status.success() {
        return Err(format!("child exited with {status}"));
    }
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut fields = line.strip_prefix("RESULT ")?.split_whitespace();
            let key = fields.next()?.to_string();
            let value = fields.next()?.parse().ok()?;
            Some((key, value))
        })
        .collect())
}

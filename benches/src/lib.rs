//! Benchmarks of grain-runtime against a raw tokio baseline and three peer actor frameworks
//! (kameo, ractor, actix), all doing the same work on two worker threads.
//!
//! Run with `cargo run --release -p grain-benches --bin compare` (add `--quick` for a smoke
//! test), or `cargo bench -p grain-benches`. `docs/BENCHMARKS.md` describes each measurement and
//! the latest figures.
//!
//! Every framework runs the same counter actor (`add(n)` adds to a `u64` and replies with the
//! total) through one `Subject` trait, and is measured in its own child process: the
//! parent re-executes this binary with `--child timing <framework>` or
//! `--child memory <framework> <actors>` and reads `RESULT <key> <value>` lines back.

mod child;
mod cli;
mod config;
pub mod durability;
mod exec;
mod measure;
mod memory;
mod report;
mod subject;

/// Runs the benchmark command line: the parent (`[--quick] [--frameworks ..] [--no-memory]`)
/// or, with `--child ..`, one measurement child.
pub fn main() -> std::process::ExitCode {
    cli::main()
}

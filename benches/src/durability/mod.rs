//! Persistence benchmarks: durable appends per second, the latency of an ask that persists one
//! event, recoveries per second and bytes stored per event, for the sled, redb and PostgreSQL
//! stores side by side, with the disk's own fsync rate measured in the same run as the baseline
//! that group commit is judged against.
//!
//! Run with `cargo run --release -p grain-benches --bin durability [-- --quick]
//! [--backends sled,redb,postgres]`. PostgreSQL is measured when `GRAIN_POSTGRES_URL` names a
//! server (`.ci/postgres` starts one), each measurement in a schema of its own.

pub mod grains;
mod measure;
mod store;

use std::process::ExitCode;
use std::time::Duration;

use store::{Backend, POSTGRES_URL_VAR};

/// How much work each measurement does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scale {
    /// How long each append measurement runs.
    pub(crate) append_for: Duration,
    /// Grains recovered from a snapshot plus 100 events.
    pub(crate) snapshot_grains: usize,
    /// Grains recovered from 1,000 events and no snapshot.
    pub(crate) replay_grains: usize,
    /// Events written to measure bytes on disk.
    pub(crate) disk_events: usize,
}

impl Scale {
    const FULL: Scale = Scale {
        append_for: Duration::from_secs(3),
        snapshot_grains: 10_000,
        replay_grains: 1_000,
        disk_events: 200_000,
    };
    const QUICK: Scale = Scale {
        append_for: Duration::from_millis(500),
        snapshot_grains: 1_000,
        replay_grains: 100,
        disk_events: 20_000,
    };
}

/// Runs the persistence benchmarks and prints their table.
pub fn main() -> ExitCode {
    let mut scale = Scale::FULL;
    let postgres_url = std::env::var(POSTGRES_URL_VAR).ok();
    let mut backends = vec![Backend::Sled, Backend::Redb];
    if postgres_url.is_some() {
        backends.push(Backend::Postgres);
    } else {
        eprintln!("not measuring postgres: {POSTGRES_URL_VAR} is not set");
    }
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => scale = Scale::QUICK,
            "--backends" => {
                let list = args.next().unwrap_or_default();
                let parsed: Option<Vec<Backend>> = list.split(',').map(Backend::parse).collect();
                match parsed {
                    Some(list) if !list.is_empty() => backends = list,
                    _ => {
                        eprintln!(
                            "--backends takes a list of sled, redb and postgres, got {list:?}"
                        );
                        return ExitCode::FAILURE;
                    }
                }
            }
            other => {
                eprintln!(
                    "unknown argument {other:?}; expected --quick or --backends sled,redb,postgres"
                );
                return ExitCode::FAILURE;
            }
        }
    }
    if backends.contains(&Backend::Postgres) && postgres_url.is_none() {
        eprintln!("--backends postgres needs {POSTGRES_URL_VAR} to name a server");
        return ExitCode::FAILURE;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(measure::run(scale, &backends, postgres_url.as_deref())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("benchmark failed: {error}");
            ExitCode::FAILURE
        }
    }
}

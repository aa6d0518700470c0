//! Resident memory per idle actor: the RSS growth of a process after it creates `n` actors that
//! each handle one call and go idle, divided by `n`.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use crate::exec::Spawner;
use crate::measure::populate;
use crate::subject::Subject;

/// Actors created (and settled) before the first RSS reading, so that lazily allocated runtime
/// and allocator structures are not charged to the measured actors.
const WARMUP_ACTORS: u64 = 1_000;

/// Indexes of the warm-up actors, far from the measured ones.
const WARMUP_BASE: u64 = 1 << 40;

/// The process's resident set in bytes: `/proc/self/statm` resident pages times the page size.
///
/// # Panics
///
/// If `/proc/self/statm` cannot be read (not Linux).
pub(crate) fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("reading /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("parsing /proc/self/statm");
    pages * page_size()
}

fn page_size() -> u64 {
    Command::new("getconf")
        .arg("PAGESIZE")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(4096)
}

/// What one memory measurement found.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdleMemory {
    /// RSS growth divided by the number of actors.
    pub(crate) bytes_per_actor: f64,
    /// Wall time to create the actors.
    pub(crate) create_time: Duration,
}

/// Creates `count` actors from `callers` callers, one call each, lets them go idle and returns
/// the RSS growth per actor. The actors are leaked: the process exits right after.
pub(crate) async fn idle_memory<S: Subject>(
    spawner: Spawner,
    count: u64,
    callers: u64,
) -> IdleMemory {
    let subject = Arc::new(S::start(&spawner).await);
    let (warm, _) = populate(
        &subject,
        &spawner,
        WARMUP_BASE,
        WARMUP_ACTORS,
        callers,
        S::KEEP_HANDLES,
    )
    .await;
    subject.settle(WARMUP_ACTORS as usize).await;
    let before = resident_bytes();
    let (actors, create_time) =
        populate(&subject, &spawner, 0, count, callers, S::KEEP_HANDLES).await;
    subject.settle((WARMUP_ACTORS + count) as usize).await;
    let after = resident_bytes();
    std::mem::forget((warm, actors, subject));
    IdleMemory {
        bytes_per_actor: after.saturating_sub(before) as f64 / count as f64,
        create_time,
    }
}

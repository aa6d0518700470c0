//! How much work each measurement does, in full and quick mode.

/// The frameworks, in report order; the first is the baseline the ratios refer to.
pub(crate) const FRAMEWORKS: [&str; 5] = ["tokio", "grain-runtime", "kameo", "ractor", "actix"];

/// Counts of one run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counts {
    /// Whether these are the quick (smoke-test) counts.
    pub(crate) quick: bool,
    /// Rounds of the timed measurements (one child per framework and round, frameworks
    /// interleaved); the report shows the median of each figure.
    pub(crate) reps: usize,
    /// Tells in the burst to one actor.
    pub(crate) tells: u64,
    /// Untimed asks before the latency samples.
    pub(crate) ask_warmup: u64,
    /// Timed sequential asks.
    pub(crate) asks: u64,
    /// Actors asked by the concurrent callers.
    pub(crate) concurrent_actors: u64,
    /// Concurrent callers, also used to create actors in the cold-start and memory runs.
    pub(crate) callers: u64,
    /// Asks each concurrent caller makes.
    pub(crate) asks_per_caller: u64,
    /// Actors created in the cold-start measurement.
    pub(crate) cold_actors: u64,
    /// Actor counts of the idle-memory measurements.
    pub(crate) memory_actors: [u64; 2],
}

impl Counts {
    /// The full counts.
    pub(crate) const FULL: Counts = Counts {
        quick: false,
        reps: 5,
        tells: 2_000_000,
        ask_warmup: 20_000,
        asks: 200_000,
        concurrent_actors: 10_000,
        callers: 64,
        asks_per_caller: 20_000,
        cold_actors: 100_000,
        memory_actors: [100_000, 1_000_000],
    };

    /// Ten times smaller, one repetition: a smoke test that runs in seconds.
    pub(crate) const QUICK: Counts = Counts {
        quick: true,
        reps: 1,
        tells: 200_000,
        ask_warmup: 2_000,
        asks: 20_000,
        concurrent_actors: 1_000,
        callers: 64,
        asks_per_caller: 2_000,
        cold_actors: 10_000,
        memory_actors: [10_000, 100_000],
    };

    /// The counts for `quick` mode or not.
    pub(crate) fn new(quick: bool) -> Counts {
        if quick { Counts::QUICK } else { Counts::FULL }
    }
}

/// The environment variable that limits a run to some measurements, for profiling:
/// `GRAIN_BENCH_ONLY=ask,concurrent` (names: tell, ask, concurrent, cold, memory).
pub(crate) const ONLY_VAR: &str = "GRAIN_BENCH_ONLY";

/// Whether `measurement` is part of this run (all are, unless [`ONLY_VAR`] names others).
pub(crate) fn selected(measurement: &str) -> bool {
    match std::env::var(ONLY_VAR) {
        Ok(list) if !list.trim().is_empty() => list.split(',').any(|m| m.trim() == measurement),
        _ => true,
    }
}

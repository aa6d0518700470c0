//! Driving asks: `callers` concurrent tasks ask, first untimed (warm-up), then timed one ask at
//! a time, each caller its own grain or a new grain for every ask.

use std::sync::Arc;
use std::time::{Duration, Instant};

use grain_runtime::VirtualActorRef;

use crate::echo::Echo;

/// What one timed run of asks gave.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    /// Asks answered correctly per second, over the wall time of the timed phase.
    pub(crate) rate: f64,
    /// Mean latency of the answered asks, nanoseconds.
    pub(crate) mean: f64,
    /// Median latency, nanoseconds.
    pub(crate) p50: f64,
    /// 90th percentile latency, nanoseconds.
    pub(crate) p90: f64,
    /// 99th percentile latency, nanoseconds.
    pub(crate) p99: f64,
    /// 99.9th percentile latency, nanoseconds.
    pub(crate) p999: f64,
    /// Slowest ask, nanoseconds.
    pub(crate) max: f64,
    /// Asks that failed or answered wrongly (warm-up included); they have no latency sample.
    pub(crate) errors: u64,
    /// The first failure seen, if any.
    pub(crate) first_error: Option<String>,
}

/// Which grain each ask goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spread {
    /// Caller `i` asks `grains[i % grains.len()]` every time.
    GrainPerCaller,
    /// Every ask, warm-up included, goes to a grain of its own: caller `i`'s ask `n` to
    /// `grains[i * (warmup + per_caller) + n]`.
    GrainPerAsk,
}

/// How many grains [`drive`] needs for `spread`.
pub(crate) fn grains_needed(spread: Spread, callers: usize, warmup: u64, per_caller: u64) -> usize {
    match spread {
        Spread::GrainPerCaller => callers,
        Spread::GrainPerAsk => callers * (warmup + per_caller) as usize,
    }
}

/// Each caller asks `warmup` times, then, once every caller has warmed up, `per_caller` timed
/// times, each ask to the grain `spread` picks.
pub(crate) async fn drive(
    grains: &[VirtualActorRef<Echo>],
    spread: Spread,
    callers: usize,
    warmup: u64,
    per_caller: u64,
) -> Run {
    assert!(
        grains.len() >= grains_needed(spread, callers, warmup, per_caller),
        "too few grains for {spread:?}"
    );
    let grains: Arc<[VirtualActorRef<Echo>]> = grains.iter().cloned().collect();
    let barrier = Arc::new(tokio::sync::Barrier::new(callers + 1));
    let tasks: Vec<_> = (0..callers)
        .map(|caller| {
            let (grains, barrier) = (Arc::clone(&grains), Arc::clone(&barrier));
            tokio::spawn(async move {
                let grain = |n: u64| match spread {
                    Spread::GrainPerCaller => &grains[caller % grains.len()],
                    Spread::GrainPerAsk => {
                        &grains[caller * (warmup + per_caller) as usize + n as usize]
                    }
                };
                let mut errors = 0u64;
                let mut first_error = None;
                let mut check = |x: u64, answer: Result<u64, grain_runtime::CallError>| {
                    let ok = match answer {
                        Ok(y) if y == x => true,
                        Ok(y) => {
                            first_error.get_or_insert_with(|| format!("asked {x}, got {y}"));
                            false
                        }
                        Err(e) => {
                            first_error.get_or_insert_with(|| e.to_string());
                            false
                        }
                    };
                    errors += u64::from(!ok);
                    ok
                };
                for x in 0..warmup {
                    check(x, grain(x).ping(x).await);
                }
                barrier.wait().await;
                let mut samples = Vec::with_capacity(per_caller as usize);
                for x in 0..per_caller {
                    let started = Instant::now();
                    let answer = grain(warmup + x).ping(x).await;
                    let took = started.elapsed();
                    if check(x, answer) {
                        samples.push(took.as_nanos() as u64);
                    }
                }
                (samples, errors, first_error)
            })
        })
        .collect();
    barrier.wait().await;
    let started = Instant::now();
    let mut samples = Vec::with_capacity(callers * per_caller as usize);
    let mut errors = 0;
    let mut first_error = None;
    for task in tasks {
        let (found, failed, error) = task.await.expect("an ask caller panicked");
        samples.extend(found);
        errors += failed;
        first_error = first_error.or(error);
    }
    let elapsed = started.elapsed();
    summarize(samples, elapsed, errors, first_error)
}

fn summarize(
    mut samples: Vec<u64>,
    elapsed: Duration,
    errors: u64,
    first_error: Option<String>,
) -> Run {
    samples.sort_unstable();
    let mean = if samples.is_empty() {
        f64::NAN
    } else {
        samples.iter().sum::<u64>() as f64 / samples.len() as f64
    };
    Run {
        rate: samples.len() as f64 / elapsed.as_secs_f64(),
        mean,
        p50: percentile(&samples, 0.50),
        p90: percentile(&samples, 0.90),
        p99: percentile(&samples, 0.99),
        p999: percentile(&samples, 0.999),
        max: samples.last().map_or(f64::NAN, |&m| m as f64),
        errors,
        first_error,
    }
}

fn percentile(sorted: &[u64], quantile: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64 * quantile).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64
}

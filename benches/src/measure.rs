//! The measurements, written once against [`Subject`] and run by every framework.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::exec::Spawner;
use crate::subject::Subject;

/// Tells `count` messages to one actor, then asks it once and checks it counted all of them.
/// Returns messages per second, the final ask included in the time.
///
/// The caller of the one-actor measurements is its own task on slot 0: on tokio the scheduler
/// places it, on actix it shares the arbiter of the driver that created the actor.
pub(crate) async fn tell_throughput<S: Subject>(spawner: Spawner, count: u64) -> f64 {
    let subject = Arc::new(S::start(&spawner).await);
    let actor = subject.create(0).await;
    assert_eq!(subject.ask(&actor, 0).await, 0);
    let caller = {
        let (subject, actor) = (Arc::clone(&subject), actor.clone());
        async move {
            let started = Instant::now();
            for _ in 0..count {
                subject.tell(&actor, 1);
            }
            let total = subject.confirm(&actor).await;
            let elapsed = started.elapsed();
            assert_eq!(total, count, "{}: not every tell was handled", S::NAME);
            elapsed
        }
    };
    let elapsed = spawner.spawn(0, caller).await;
    subject.stop(vec![actor]).await;
    count as f64 / elapsed.as_secs_f64()
}

/// Latency of sequential asks from one caller to one actor, in nanoseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Latency {
    /// Mean of the per-call samples.
    pub(crate) mean: f64,
    /// Median.
    pub(crate) p50: f64,
    /// 99th percentile.
    pub(crate) p99: f64,
}

/// Asks one actor `warmup` times, then `count` times more, timing each of the latter.
pub(crate) async fn ask_latency<S: Subject>(spawner: Spawner, warmup: u64, count: u64) -> Latency {
    let subject = Arc::new(S::start(&spawner).await);
    let actor = subject.create(0).await;
    let caller = {
        let (subject, actor) = (Arc::clone(&subject), actor.clone());
        async move {
            for _ in 0..warmup {
                black_box(subject.ask(&actor, 1).await);
            }
            let mut samples = Vec::with_capacity(count as usize);
            for _ in 0..count {
                let started = Instant::now();
                black_box(subject.ask(&actor, 1).await);
                samples.push(started.elapsed().as_nanos() as u64);
            }
            let total = subject.ask(&actor, 0).await;
            assert_eq!(total, warmup + count, "{}: lost asks", S::NAME);
            samples
        }
    };
    let mut samples = spawner.spawn(0, caller).await;
    subject.stop(vec![actor]).await;
    samples.sort_unstable();
    let mean = samples.iter().sum::<u64>() as f64 / samples.len() as f64;
    Latency {
        mean,
        p50: percentile(&samples, 0.50),
        p99: percentile(&samples, 0.99),
    }
}

fn percentile(sorted: &[u64], quantile: f64) -> f64 {
    let rank = ((sorted.len() as f64 * quantile).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64
}

/// Creates `actors` actors (one ask each, untimed), then lets `callers` concurrent callers ask
/// `per_caller` times each, walking the actors round-robin from different offsets. Returns asks
/// per second.
pub(crate) async fn concurrent_asks<S: Subject>(
    spawner: Spawner,
    actors: u64,
    callers: u64,
    per_caller: u64,
) -> f64 {
    let subject = Arc::new(S::start(&spawner).await);
    let (created, _) = populate(&subject, &spawner, 0, actors, callers, true).await;
    let created = Arc::new(created);
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|caller| {
            let (subject, created) = (Arc::clone(&subject), Arc::clone(&created));
            spawner.spawn(caller as usize, async move {
                let len = created.len() as u64;
                let offset = caller * (len / callers).max(1);
                for k in 0..per_caller {
                    let actor = &created[((offset + k) % len) as usize];
                    black_box(subject.ask(actor, 1).await);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await;
    }
    let elapsed = started.elapsed();
    let created = Arc::try_unwrap(created).unwrap_or_else(|_| unreachable!("callers are done"));
    subject.stop(created).await;
    (callers * per_caller) as f64 / elapsed.as_secs_f64()
}

/// Cold start: `callers` concurrent callers each create their share of `count` new actors and
/// ask each once, waiting for the reply. Returns the wall time for all of them.
pub(crate) async fn cold_activation<S: Subject>(
    spawner: Spawner,
    count: u64,
    callers: u64,
) -> Duration {
    let subject = Arc::new(S::start(&spawner).await);
    let (created, elapsed) = populate(&subject, &spawner, 0, count, callers, S::KEEP_HANDLES).await;
    subject.stop(created).await;
    elapsed
}

/// Creates actors `first..first + count` from `callers` concurrent callers, asking each once.
/// Returns the handles (none for a framework that does not need them, unless `keep`) and the
/// wall time.
pub(crate) async fn populate<S: Subject>(
    subject: &Arc<S>,
    spawner: &Spawner,
    first: u64,
    count: u64,
    callers: u64,
    keep: bool,
) -> (Vec<S::Actor>, Duration) {
    let share = count.div_ceil(callers);
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|caller| {
            let subject = Arc::clone(subject);
            let from = first + (caller * share).min(count);
            let to = first + ((caller + 1) * share).min(count);
            spawner.spawn(caller as usize, async move {
                let mut kept = Vec::with_capacity(if keep { (to - from) as usize } else { 0 });
                for index in from..to {
                    let actor = subject.create(index).await;
                    assert_eq!(subject.ask(&actor, 1).await, 1, "{}: fresh actor", S::NAME);
                    if keep {
                        kept.push(actor);
                    }
                }
                kept
            })
        })
        .collect();
    let mut created = Vec::with_capacity(if keep { count as usize } else { 0 });
    for task in tasks {
        created.extend(task.await);
    }
    (created, started.elapsed())
}

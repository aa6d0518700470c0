//! Ask deadlines without a tokio timer per ask.
//!
//! Nearly every ask is answered long before its deadline, yet putting each one into tokio's timer
//! wheel and taking it out again cost about a third of a concurrent ask (the benchmarks ran 1.5x
//! faster without it). So an ask whose deadline is at least [`WATCHED_FROM`] away is watched
//! here instead: it leaves a weak handle to its reply cell in its thread's shard of recent asks.
//! Each time a thread adds one, it clears the entries older than a few [ticks](TICK) from its
//! shard: answered asks are dropped, and the few still waiting move to a heap ordered by
//! deadline. A watchdog thread fails the asks in that heap as their deadlines pass, and clears
//! the shards of threads that went quiet. Deadlines here are on the system clock; asks with
//! shorter deadlines keep a tokio timer, which is exact and follows tokio's paused test clock.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// An ask the watchdog can fail.
pub(crate) trait Expire: Send + Sync {
    /// Answers the ask with "deadline passed", unless it has its answer already.
    fn expire(&self);
    /// Whether the ask still waits for its answer.
    fn waiting(&self) -> bool;
}

/// Asks with at least this long to go are watched here; shorter ones get a tokio timer.
pub(crate) const WATCHED_FROM: Duration = Duration::from_secs(1);

/// How often the watchdog looks at the shards while any holds an ask.
const TICK: Duration = Duration::from_millis(5);

/// Entries this many ticks old are cleared from their shard.
const GRACE_TICKS: u64 = 2;

/// How long the watchdog sleeps when nothing is watched, before it looks again anyway.
const IDLE_NAP: Duration = Duration::from_secs(1);

const SHARDS: usize = 32;

/// One watched ask in its thread's shard.
struct Recent {
    tick: u64,
    deadline: Instant,
    ask: Weak<dyn Expire>,
}

/// A watched ask still waiting after its grace: failed when its deadline passes.
struct Due {
    deadline: Instant,
    ask: Weak<dyn Expire>,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.deadline == other.deadline
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

/// The earliest deadline is the greatest, so that it tops the max-heap.
impl Ord for Due {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other.deadline.cmp(&self.deadline)
    }
}

/// The watched asks of the process.
struct Registry {
    shards: Box<[Mutex<VecDeque<Recent>>]>,
    due: Mutex<BinaryHeap<Due>>,
    /// Advanced by the watchdog every [`TICK`]; the age of an entry is counted in ticks.
    tick: AtomicU64,
    /// Set while the watchdog sleeps with no shard holding anything.
    idle: AtomicBool,
    watchdog: Thread,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let watchdog = std::thread::Builder::new()
            .name("grain-deadlines".into())
            .spawn(|| REGISTRY.wait().watch())
            .expect("spawning the ask deadline watchdog thread");
        Registry {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            due: Mutex::default(),
            tick: AtomicU64::new(0),
            idle: AtomicBool::new(false),
            watchdog: watchdog.thread().clone(),
        }
    })
}

/// The shard of the calling thread.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|shard| *shard)
}

/// Fails `ask` at `deadline` unless it has been answered by then.
pub(crate) fn watch(deadline: Instant, ask: Weak<dyn Expire>) {
    let registry = registry();
    let tick = registry.tick.load(Ordering::Relaxed);
    let mut recent = lock(&registry.shards[shard_index()]);
    recent.push_back(Recent {
        tick,
        deadline,
        ask,
    });
    registry.clear(&mut recent, tick);
    drop(recent);
    // The shard's lock orders this load after the watchdog's last look at the shard.
    if registry.idle.load(Ordering::Relaxed) && registry.idle.swap(false, Ordering::AcqRel) {
        registry.watchdog.unpark();
    }
}

impl Registry {
    /// Takes the entries at least [`GRACE_TICKS`] old out of `recent`; those still waiting
    /// become due.
    fn clear(&self, recent: &mut VecDeque<Recent>, now: u64) {
        let mut waiting = Vec::new();
        while let Some(front) = recent.front() {
            if front.tick + GRACE_TICKS > now {
                break;
            }
            let Some(entry) = recent.pop_front() else {
                break;
            };
            if entry.ask.upgrade().is_some_and(|ask| ask.waiting()) {
                waiting.push(Due {
                    deadline: entry.deadline,
                    ask: entry.ask,
                });
            }
        }
        if !waiting.is_empty() {
            lock(&self.due).extend(waiting);
        }
    }

    /// The watchdog: every tick while anything is watched, clears quiet shards and fails the
    /// asks whose deadline has passed.
    fn watch(&self) -> ! {
        let mut compact_at = 1024;
        loop {
            let tick = self.tick.fetch_add(1, Ordering::Relaxed) + 1;
            let mut watching = false;
            for shard in &self.shards {
                // A busy thread clears its own shard; do not wait for it.
                if let Ok(mut recent) = shard.try_lock() {
                    self.clear(&mut recent, tick);
                    watching |= !recent.is_empty();
                } else {
                    watching = true;
                }
            }
            let now = Instant::now();
            let mut expired: Vec<Arc<dyn Expire>> = Vec::new();
            let next = {
                let mut due = lock(&self.due);
                while due.peek().is_some_and(|d| d.deadline <= now) {
                    if let Some(ask) = due.pop().and_then(|d| d.ask.upgrade()) {
                        expired.push(ask);
                    }
                }
                if due.len() > compact_at {
                    due.retain(|d| d.ask.strong_count() > 0);
                    compact_at = (due.len() * 2).max(1024);
                }
                due.peek().map(|d| d.deadline)
            };
            for ask in expired {
                ask.expire();
            }
            let until_due = next.map(|deadline| deadline.saturating_duration_since(now));
            if watching {
                std::thread::park_timeout(until_due.map_or(TICK, |d| d.min(TICK)));
            } else {
                self.nap(until_due.unwrap_or(IDLE_NAP).min(IDLE_NAP));
            }
        }
    }

    /// Sleeps up to `at_most` with nothing in the shards, unless an ask arrives meanwhile.
    fn nap(&self, at_most: Duration) {
        self.idle.store(true, Ordering::Release);
        // An ask added before the flag was set is seen here; one added after sees the flag.
        let empty = self.shards.iter().all(|shard| lock(shard).is_empty());
        if empty {
            std::thread::park_timeout(at_most);
        }
        self.idle.store(false, Ordering::Release);
    }
}

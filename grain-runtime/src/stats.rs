//! Counters a user can read: per grain kind and per silo (the figures GoAkt exposes).
//!
//! Per-activation figures are in [`ActivationStats`](crate::ActivationStats). Exporting them to a
//! metrics system is the silo host's job; here they are plain numbers.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::activation::KindCounters;
use crate::id::GrainKind;

/// Counters of one grain kind on one silo, since the silo started.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KindStats {
    /// The grain kind.
    pub kind: GrainKind,
    /// Activations alive now.
    pub live_activations: usize,
    /// Activations created.
    pub activations: u64,
    /// Activations deactivated (idle passivation, `deactivate_on_idle`, shutdown).
    pub passivations: u64,
    /// Calls taken from mailboxes, including expired ones.
    pub messages_handled: u64,
    /// Panicking turns and hooks.
    pub panics: u64,
    /// Calls dropped unexecuted because their deadline had passed.
    pub expired: u64,
    /// Calls refused because a mailbox was full.
    pub mailbox_full: u64,
}

impl KindStats {
    pub(crate) fn read(kind: GrainKind, live_activations: usize, counters: &KindCounters) -> Self {
        let read = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
        Self {
            kind,
            live_activations,
            activations: read(&counters.activations),
            passivations: read(&counters.passivations),
            messages_handled: counters.messages_handled.sum(),
            panics: read(&counters.panics),
            expired: read(&counters.expired),
            mailbox_full: read(&counters.mailbox_full),
        }
    }
}

/// Counters of a whole silo: the sums over its grain kinds, and each kind's own.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SiloStats {
    /// Activations alive now.
    pub live_activations: usize,
    /// Activations created.
    pub activations: u64,
    /// Activations deactivated.
    pub passivations: u64,
    /// Calls taken from mailboxes.
    pub messages_handled: u64,
    /// Panicking turns and hooks.
    pub panics: u64,
    /// Calls dropped because their deadline had passed.
    pub expired: u64,
    /// Calls refused because a mailbox was full.
    pub mailbox_full: u64,
    /// Calls that reached this silo for a grain another silo owns (the caller's view lagged)
    /// and were forwarded to the owner.
    pub forwarded: u64,
    /// The same counters per grain kind.
    pub kinds: Vec<KindStats>,
}

impl SiloStats {
    pub(crate) fn sum(kinds: Vec<KindStats>, forwarded: u64) -> Self {
        let mut total = SiloStats {
            live_activations: 0,
            activations: 0,
            passivations: 0,
            messages_handled: 0,
            panics: 0,
            expired: 0,
            mailbox_full: 0,
            forwarded,
            kinds: Vec::new(),
        };
        for kind in &kinds {
            total.live_activations += kind.live_activations;
            total.activations += kind.activations;
            total.passivations += kind.passivations;
            total.messages_handled += kind.messages_handled;
            total.panics += kind.panics;
            total.expired += kind.expired;
            total.mailbox_full += kind.mailbox_full;
        }
        total.kinds = kinds;
        total
    }

    /// The counters of one kind, by name.
    pub fn kind(&self, kind: &str) -> Option<&KindStats> {
        self.kinds.iter().find(|k| k.kind.as_str() == kind)
    }
}

/// How many threads get a cell of their own in each [`StripedCounter`].
const STRIPES: usize = 16;

/// One cache line per cell, so that threads adding to different cells do not contend.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Cell(AtomicU64);

/// A counter that many threads increment on every message, exact and without a cache line
/// bouncing between cores: each of the first [`STRIPES`] threads of the process that count owns
/// a cell, which only it writes, so it adds with a plain load and store rather than an atomic
/// read-modify-write (a locked instruction, which drains the store buffer, on every message).
/// Later threads share one cell and add to it atomically. Reading sums the cells.
#[derive(Debug, Default)]
pub(crate) struct StripedCounter {
    owned: [Cell; STRIPES],
    shared: Cell,
}

impl StripedCounter {
    pub(crate) fn add(&self, n: u64) {
        static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            /// The calling thread's number, unique in the process.
            static THREAD: usize = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
        }
        match self.owned.get(THREAD.with(|thread| *thread)) {
            Some(cell) => cell
                .0
                .store(cell.0.load(Ordering::Relaxed) + n, Ordering::Relaxed),
            None => {
                self.shared.0.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn sum(&self) -> u64 {
        self.owned
            .iter()
            .chain([&self.shared])
            .map(|cell| cell.0.load(Ordering::Relaxed))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_striped_counter_counts_exactly_across_more_threads_than_it_has_cells() {
        let counter = StripedCounter::default();
        let threads = STRIPES * 2;
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    for _ in 0..10_000 {
                        counter.add(1);
                    }
                    counter.add(5);
                });
            }
        });
        assert_eq!(counter.sum(), threads as u64 * 10_005);
    }
}

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

/// How many cells a [`StripedCounter`] spreads its count over.
const STRIPES: usize = 16;

/// One cache line per cell, so that threads adding to different cells do not contend.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Cell(AtomicU64);

/// A counter that many threads increment on every message: each thread adds to its own cell,
/// and reading sums the cells. Exact, without a cache line bouncing between cores.
#[derive(Debug, Default)]
pub(crate) struct StripedCounter {
    cells: [Cell; STRIPES],
}

impl StripedCounter {
    pub(crate) fn add(&self, n: u64) {
        static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static SLOT: usize = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % STRIPES;
        }
        let slot = SLOT.with(|slot| *slot);
        if let Some(cell) = self.cells.get(slot) {
            cell.0.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn sum(&self) -> u64 {
        self.cells
            .iter()
            .map(|cell| cell.0.load(Ordering::Relaxed))
            .sum()
    }
}

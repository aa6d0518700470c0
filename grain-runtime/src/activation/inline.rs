//! Turn loops run by the asking task: an ask to an idle activation runs its turn in the caller's
//! own poll instead of spawning a task for it.
//!
//! Spawning a turn loop, switching to it and back, and freeing it cost more than a short turn
//! itself. So when an ask finds its activation idle, and the asking task runs on a worker thread
//! of the silo's runtime, the activation's turn loop is *lent* to the asker: the asking future
//! polls the loop once, in its own first poll. A turn that finishes in that poll answers the ask
//! before the future returns. A loop that is still pending after it (its turn awaits, or other
//! calls wait behind the asker's) is spawned as an ordinary task at once, so a lent loop never
//! depends on the asker being polled again: it holds the activation only during one poll.
//!
//! Only asks borrow loops. A tell never waits, and calls from timers or other silos keep their
//! own tasks.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Context;

use tokio::time::Instant;

use super::Activation;
use crate::grain::Grain;

/// The turn loop of an activation that an asking task runs itself.
pub(crate) struct InlineLoop<G: Grain> {
    activation: Arc<Activation<G>>,
}

impl<G: Grain> InlineLoop<G> {
    pub(super) fn new(activation: Arc<Activation<G>>) -> Self {
        Self { activation }
    }

    /// Polls the loop once in the asking task's context `cx`, and spawns what is left of it.
    /// `sent_at` is the clock's reading when the ask was sent.
    pub(crate) fn run(self, sent_at: Instant, cx: &mut Context<'_>) {
        let mut turns: Pin<Box<dyn Future<Output = ()> + Send>> =
            Box::pin(Arc::clone(&self.activation).run(Some(sent_at)));
        if turns.as_mut().poll(cx).is_pending() {
            self.activation.lent.store(false, Ordering::Relaxed);
            self.activation.catalog().runtime().spawn(turns);
        }
    }
}

/// Identifies one silo's runtime, so that a thread can tell whether it is one of its workers.
#[derive(Debug)]
pub(crate) struct Home(u64);

thread_local! {
    /// The home of the last turn loop this thread started as a task: the thread is a worker of
    /// that silo's runtime.
    static HOME: Cell<u64> = const { Cell::new(0) };
}

impl Home {
    /// A home no thread is in yet.
    pub(crate) fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The number naming this home, unique in the process.
    pub(crate) fn id(&self) -> u64 {
        self.0
    }

    /// Records that the calling thread runs this silo's tasks.
    pub(super) fn enter(&self) {
        HOME.with(|home| home.set(self.0));
    }

    /// Whether the calling thread runs this silo's tasks, as far as it has seen: a lent loop
    /// must run where the grain's own tasks run, on the same runtime.
    pub(super) fn is_current(&self) -> bool {
        HOME.with(|home| home.get() == self.0)
    }
}

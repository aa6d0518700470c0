//! The queue of one activation: calls in arrival order.
//!
//! A mailbox holds no task and no channel: it is a plain queue inside the activation, and the
//! activation's turn loop runs only while the queue has work. That is what keeps an idle
//! activation small.

use std::collections::VecDeque;

use tokio::time::Instant;

use crate::call::{CallMeta, Fault};
use crate::grain::Grain;

/// A call on its way to a grain, with its routing metadata.
pub(crate) struct Envelope<G: Grain> {
    pub(crate) call: G::Call,
    pub(crate) meta: CallMeta,
}

impl<G: Grain> Envelope<G> {
    /// Whether the deadline passed, so the call must not run.
    pub(crate) fn expired(&self, now: Instant) -> bool {
        self.meta.deadline.is_some_and(|deadline| deadline <= now)
    }

    pub(crate) fn fail(self, fault: Fault) {
        G::__fail(self.call, fault);
    }
}

/// A bounded FIFO of messages for one activation.
pub(crate) struct Mailbox<G: Grain> {
    queue: VecDeque<Envelope<G>>,
}

/// Queues that grew past this many slots give the memory back when they drain.
const RETAINED_SLOTS: usize = 16;

impl<G: Grain> Mailbox<G> {
    pub(crate) fn new() -> Self {
        Self {
            queue: VecDeque::new(),
        }
    }

    /// Queues a call; one beyond `capacity` is handed back.
    pub(crate) fn push(
        &mut self,
        envelope: Envelope<G>,
        capacity: usize,
    ) -> Result<(), Envelope<G>> {
        if self.queue.len() >= capacity {
            return Err(envelope);
        }
        self.queue.push_back(envelope);
        Ok(())
    }

    pub(crate) fn pop(&mut self) -> Option<Envelope<G>> {
        self.queue.pop_front()
    }

    pub(crate) fn front(&self) -> Option<&Envelope<G>> {
        self.queue.front()
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Frees the buffer of a drained queue that once held a burst.
    pub(crate) fn shrink_when_empty(&mut self) {
        if self.queue.is_empty() && self.queue.capacity() > RETAINED_SLOTS {
            self.queue = VecDeque::new();
        }
    }

    /// Empties the mailbox for a successor activation: keeps calls in order and drops the ticks
    /// of timers that belonged to activation `generation`, since those timers stopped with it.
    pub(crate) fn take_for_successor(&mut self, generation: u64) -> Mailbox<G> {
        let queue = std::mem::take(&mut self.queue)
            .into_iter()
            .filter(|envelope| envelope.meta.timer_of != Some(generation))
            .collect();
        Mailbox { queue }
    }

    /// Fails every queued call with `fault`.
    pub(crate) fn fail_all(self, fault: impl Fn() -> Fault) {
        for envelope in self.queue {
            envelope.fail(fault());
        }
    }
}

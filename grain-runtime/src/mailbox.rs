//! The queue of one activation: calls in arrival order, call-backs first.
//!
//! A mailbox holds no task and no channel: it is a plain queue inside the activation, and the
//! activation's turn loop runs only while the queue has work. That is what keeps an idle
//! activation small.
//!
//! A *call-back* is an interleavable call that an interleaved turn of this grain waits on, directly
//! or through other grains (`A.read -> B.fetch -> A.read`). It goes ahead of the calls already
//! queued: an exclusive call among them waits for that turn to end, and the turn waits for the
//! call-back, so queueing it behind them would leave all three waiting until their deadlines. A
//! call-back never overtakes an earlier call from its own sender (the activation that sent it), so
//! each sender's calls still run in send order.

use std::collections::VecDeque;
use std::num::NonZeroU64;

use tokio::time::Instant;

use crate::call::{CallMeta, Fault};
use crate::grain::Grain;
use crate::id::GrainId;

/// A call on its way to a grain, with its routing metadata.
pub(crate) struct Envelope<G: Grain> {
    pub(crate) call: G::Call,
    pub(crate) meta: CallMeta,
}

impl<G: Grain> Envelope<G> {
    /// Whether the deadline passed, so the call must not run. Reads the clock only for calls
    /// that have a deadline.
    pub(crate) fn expired(&self) -> bool {
        self.expired_at(None)
    }

    /// Whether the deadline had passed at `now`, or at the clock's reading if `None`.
    pub(crate) fn expired_at(&self, now: Option<Instant>) -> bool {
        self.meta
            .deadline
            .is_some_and(|deadline| deadline <= now.unwrap_or_else(Instant::now))
    }

    pub(crate) fn fail(self, fault: Fault) {
        G::__fail(self.call, fault);
    }
}

/// Calls a turn loop took from the mailbox in one go, so that it takes the activation's lock once
/// per batch rather than once per call. They run before anything still in the mailbox.
pub(crate) struct Batch<G: Grain>(VecDeque<Envelope<G>>);

impl<G: Grain> Batch<G> {
    pub(crate) fn new() -> Self {
        Self(VecDeque::new())
    }

    pub(crate) fn pop(&mut self) -> Option<Envelope<G>> {
        self.0.pop_front()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn any(&self, f: impl FnMut(&Envelope<G>) -> bool) -> bool {
        self.0.iter().any(f)
    }
}

/// A bounded FIFO of messages for one activation, with call-backs ahead of the rest.
pub(crate) struct Mailbox<G: Grain> {
    /// Call-backs, handled before `queue`.
    call_backs: VecDeque<Envelope<G>>,
    queue: VecDeque<Envelope<G>>,
}

/// Queues that grew past this many slots give the memory back when they drain.
const RETAINED_SLOTS: usize = 16;

impl<G: Grain> Mailbox<G> {
    pub(crate) fn new() -> Self {
        Self {
            call_backs: VecDeque::new(),
            queue: VecDeque::new(),
        }
    }

    /// Queues a call for grain `owner`; one beyond `capacity` is handed back.
    pub(crate) fn push(
        &mut self,
        envelope: Envelope<G>,
        capacity: usize,
        owner: &GrainId,
    ) -> Result<(), Envelope<G>> {
        if self.len() >= capacity {
            return Err(envelope);
        }
        if self.is_call_back(&envelope, owner) {
            self.call_backs.push_back(envelope);
        } else {
            self.queue.push_back(envelope);
        }
        Ok(())
    }

    /// Whether `envelope` is a call-back to `owner` with no earlier call from its sender queued.
    fn is_call_back(&self, envelope: &Envelope<G>, owner: &GrainId) -> bool {
        G::__interleaves(&envelope.call)
            && envelope.meta.awaited_by_interleaved_turn_of(owner)
            && !self
                .queue
                .iter()
                .any(|queued| queued.meta.sender == envelope.meta.sender)
    }

    pub(crate) fn pop(&mut self) -> Option<Envelope<G>> {
        self.call_backs
            .pop_front()
            .or_else(|| self.queue.pop_front())
    }

    /// Whether call-backs are queued; they come out of [`pop`](Self::pop) first.
    pub(crate) fn has_call_backs(&self) -> bool {
        !self.call_backs.is_empty()
    }

    pub(crate) fn front(&self) -> Option<&Envelope<G>> {
        self.call_backs.front().or_else(|| self.queue.front())
    }

    pub(crate) fn len(&self) -> usize {
        self.call_backs.len() + self.queue.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.call_backs.is_empty() && self.queue.is_empty()
    }

    /// Moves every queued call, call-backs first, into the empty `batch`, whose buffer the
    /// mailbox keeps for the calls that come next.
    pub(crate) fn take_all(&mut self, batch: &mut Batch<G>) {
        debug_assert!(batch.is_empty());
        std::mem::swap(&mut self.queue, &mut batch.0);
        while let Some(call_back) = self.call_backs.pop_back() {
            batch.0.push_front(call_back);
        }
    }

    /// Puts what is left of `batch` back at the front. Call-backs that arrived while it ran
    /// follow it as ordinary calls: no turn of the activation could wait on them meanwhile, and
    /// behind the batch they cannot overtake an earlier call of their sender.
    pub(crate) fn put_back(&mut self, batch: &mut Batch<G>) {
        let queued = std::mem::take(&mut self.queue);
        let mut front = std::mem::take(&mut batch.0);
        front.extend(self.call_backs.drain(..));
        front.extend(queued);
        self.queue = front;
    }

    /// Frees the buffers of a drained mailbox that once held a burst.
    pub(crate) fn shrink_when_empty(&mut self) {
        for queue in [&mut self.call_backs, &mut self.queue] {
            if queue.is_empty() && queue.capacity() > RETAINED_SLOTS {
                *queue = VecDeque::new();
            }
        }
    }

    /// Empties the mailbox for a successor activation: keeps calls in order and drops the ticks
    /// of timers that belonged to activation `generation`, since those timers stopped with it.
    pub(crate) fn take_for_successor(&mut self, generation: NonZeroU64) -> Mailbox<G> {
        let queue = std::mem::take(&mut self.call_backs)
            .into_iter()
            .chain(std::mem::take(&mut self.queue))
            .filter(|envelope| envelope.meta.timer_of != Some(generation))
            .collect();
        Mailbox {
            call_backs: VecDeque::new(),
            queue,
        }
    }

    /// Every queued call, in the order they would run.
    pub(crate) fn into_envelopes(self) -> impl Iterator<Item = Envelope<G>> {
        self.call_backs.into_iter().chain(self.queue)
    }

    /// Fails every queued call with `fault`.
    pub(crate) fn fail_all(self, fault: impl Fn() -> Fault) {
        for envelope in self.into_envelopes() {
            envelope.fail(fault());
        }
    }
}

//! The turn loop: the task that runs an activation's queued calls while it is `Running`, taking
//! them in batches, and rests, deactivates or discards the activation when its mailbox is empty.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::{Activation, ActivationStatus, Envelope, Inner, Leftovers};
use crate::call::Fault;
use crate::context::GrainContext;
use crate::grain::Grain;
use crate::mailbox::Batch;

impl<G: Grain> Activation<G> {
    pub(super) fn start_turn_loop(self: &Arc<Self>) {
        self.catalog.runtime().spawn(Arc::clone(self).run(None));
    }

    /// The turn loop: activates if needed, then runs queued messages until the mailbox is empty.
    ///
    /// It takes calls in batches, all that are queued at once. A grain that interleaves turns
    /// goes back to taking one call at a time: its turns admit calls from the mailbox, and a
    /// call-back must see the calls queued before it.
    ///
    /// A lent loop hands over after each turn that leaves calls queued, so that the asker that
    /// runs it does not run other callers' turns: it returns pending once and is spawned.
    ///
    /// `sent_at` is a clock reading taken just before a lent loop started: the first call taken
    /// is checked against it, unless activating came first, which may take long.
    pub(super) async fn run(self: Arc<Self>, sent_at: Option<Instant>) {
        let ctx = GrainContext::new(Arc::clone(&self));
        let taken = self.lock().grain.take();
        let first_check = sent_at.filter(|_| taken.is_some());
        if !self.lent.load(Ordering::Relaxed) {
            self.catalog.home().enter();
        }
        let grain = match taken {
            Some(grain) => grain,
            // Boxed: activating is rare and its future is larger than all the turns together.
            None => match Box::pin(self.activate_when_settled(&ctx)).await {
                Ok(grain) => grain,
                Err(fault) => {
                    if !matches!(fault, Fault::Unavailable(_) | Fault::Refused(_)) {
                        self.catalog
                            .counters()
                            .panics
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    self.catalog.retire(&self, Leftovers::Fail(fault));
                    return;
                }
            },
        };
        self.turns(&ctx, grain, first_check).await;
    }

    /// The turns of the loop: runs queued calls until the mailbox is empty, then rests, or
    /// deactivates or discards the activation. `first_check` is the clock reading the first
    /// call's deadline is checked against, if not the clock's own.
    pub(super) async fn turns(
        self: &Arc<Self>,
        ctx: &GrainContext<G>,
        mut grain: Box<G>,
        mut first_check: Option<Instant>,
    ) {
        let mut batch = Batch::new();
        let mut batching = true;
        // Set after a turn of a lent loop: calls found queued then go to a task of their own.
        let mut hand_over = false;
        let outcome = loop {
            let envelope = match batch.pop() {
                Some(envelope) => {
                    self.batched.store(batch.len(), Ordering::Relaxed);
                    self.catalog.counters().messages_handled.add(1);
                    envelope
                }
                None => {
                    let taken = {
                        let mut inner = self.lock();
                        if std::mem::take(&mut hand_over) && !inner.mailbox.is_empty() {
                            None
                        } else {
                            let next = if batching {
                                self.take_batch(&mut inner, &mut batch)
                            } else {
                                self.take(&mut inner)
                            };
                            match next {
                                Some(envelope) => Some(envelope),
                                None if !self.may_rest(&inner) => {
                                    inner.status = ActivationStatus::Deactivating;
                                    break Ok(());
                                }
                                None => return Self::rest(&mut inner, grain),
                            }
                        }
                    };
                    let Some(envelope) = taken else {
                        tokio::task::yield_now().await;
                        continue;
                    };
                    envelope
                }
            };
            if envelope.expired_at(first_check.take()) {
                self.expire(envelope);
                continue;
            }
            let result = if G::__interleaves(&envelope.call) {
                if batching {
                    batching = false;
                    self.put_back(&mut batch);
                }
                self.interleave(&grain, ctx, envelope).await
            } else {
                self.turn(&mut grain, ctx, envelope, None).await
            };
            if let Some(reason) = self.discard_reason(result) {
                break Err(reason);
            }
            if self.lent.load(Ordering::Relaxed) {
                if batch.is_empty() {
                    hand_over = true;
                } else {
                    tokio::task::yield_now().await;
                }
            }
        };
        match outcome {
            Ok(()) => Box::pin(self.deactivate(grain, ctx)).await,
            Err(reason) => {
                self.put_back(&mut batch);
                self.discard(grain, reason);
            }
        }
    }

    /// Takes every queued call into `batch` and returns the first, counting them as handled (see
    /// [`take`](Self::take)).
    pub(super) fn take_batch(
        &self,
        inner: &mut Inner<G>,
        batch: &mut Batch<G>,
    ) -> Option<Envelope<G>> {
        if inner.mailbox.len() <= 1 {
            // A lone call leaves the mailbox its buffer.
            inner.batch_len = 0;
            return self.take(inner);
        }
        inner.mailbox.take_all(batch);
        let envelope = batch.pop()?;
        inner.batch_len = batch.len();
        inner.handled += 1 + batch.len() as u64;
        inner.kept_alive |= envelope.meta.timer_of != Some(self.generation)
            || batch.any(|e| e.meta.timer_of != Some(self.generation));
        self.batched.store(batch.len(), Ordering::Relaxed);
        self.catalog.counters().messages_handled.add(1);
        Some(envelope)
    }

    /// Returns the calls of `batch` not started yet to the mailbox.
    pub(super) fn put_back(&self, batch: &mut Batch<G>) {
        if !batch.is_empty() {
            let mut inner = self.lock();
            inner.handled -= batch.len() as u64;
            inner.batch_len = 0;
            inner.mailbox.put_back(batch);
            self.batched.store(0, Ordering::Relaxed);
        }
    }

    /// Takes the next call from the mailbox, counting it as handled and, unless it is a tick of
    /// this activation's own timer, as activity that restarts the idle clock.
    pub(super) fn take(&self, inner: &mut Inner<G>) -> Option<Envelope<G>> {
        let envelope = inner.mailbox.pop()?;
        inner.handled += 1;
        inner.kept_alive |= envelope.meta.timer_of != Some(self.generation);
        self.catalog.counters().messages_handled.add(1);
        Some(envelope)
    }
}

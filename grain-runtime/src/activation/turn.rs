//! Turns: one call of an activation run to its end, or several interleavable calls run side by
//! side on shared state, each inside its tracing span and call context, with panics caught.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::task::Poll;

use futures::stream::FuturesUnordered;
use futures::{FutureExt as _, StreamExt as _};
use tracing::Instrument as _;

use super::{Activation, Envelope};
use crate::call::{CallMeta, Fault, TURN, TurnInfo};
use crate::context::GrainContext;
use crate::error::Panicked;
use crate::grain::Grain;

impl<G: Grain> Activation<G> {
    pub(super) fn expire(&self, envelope: Envelope<G>) {
        self.catalog
            .counters()
            .expired
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(grain = %self.id, method = G::__method(&envelope.call), "dropped a call whose deadline had passed");
        envelope.fail(Fault::Expired);
    }

    /// Runs `body` as a turn: inside its tracing span and call context, with panics caught.
    /// The error is the panic.
    ///
    /// This and the turn functions build their futures rather than being `async fn`s: an
    /// `async fn` keeps its arguments beside the future it awaits, which made the turn loop's
    /// task too large for the allocator's fast path. Inlined, like [`turn`](Self::turn), so that
    /// a lent turn builds its future in its box rather than copying it there.
    #[inline(always)]
    pub(super) fn guarded<T>(
        &self,
        method: &'static str,
        interleaving: bool,
        meta: CallMeta,
        body: impl Future<Output = T>,
    ) -> impl Future<Output = Result<T, Panicked>> {
        let span = tracing::debug_span!("turn", grain = %self.id, method, correlation_id = meta.correlation, interleaved = interleaving);
        let info = TurnInfo {
            activation: self.generation,
            grain: self.id.clone(),
            method,
            interleaving,
            correlation: meta.correlation,
            chain: meta.chain,
            silo: self.catalog.home().id(),
        };
        AssertUnwindSafe(TURN.scope(info, body).instrument(span))
            .catch_unwind()
            .map(|outcome| outcome.map_err(|payload| Panicked::of(&*payload)))
    }

    /// Runs one exclusive turn; `answer` is where an asker running it itself takes the result
    /// (see [`Grain::__handle`]).
    #[inline(always)]
    pub(super) fn turn<'a>(
        &'a self,
        grain: &'a mut G,
        ctx: &'a GrainContext<G>,
        envelope: Envelope<G>,
        answer: Option<&'a mut (dyn Any + Send)>,
    ) -> impl Future<Output = Result<(), Panicked>> + 'a {
        let method = G::__method(&envelope.call);
        self.guarded(
            method,
            false,
            envelope.meta,
            grain.__handle(ctx, envelope.call, answer),
        )
    }

    /// Runs one interleavable turn for [`interleave`](Self::interleave).
    fn shared_turn<'a>(
        &'a self,
        grain: &'a G,
        ctx: &'a GrainContext<G>,
        envelope: Envelope<G>,
    ) -> impl Future<Output = Result<(), Panicked>> + 'a {
        let method = G::__method(&envelope.call);
        self.guarded(
            method,
            true,
            envelope.meta,
            grain.__handle_shared(ctx, envelope.call),
        )
    }

    /// Runs `first` and every interleavable call that reaches the head of the mailbox while it
    /// runs, side by side on shared state, until all of them are done. An exclusive call at the
    /// head waits until then.
    ///
    /// If one of them panics, the others run to their end, admitting only the call-backs they wait
    /// on, before the error (the first panic message) is returned.
    pub(super) async fn interleave(
        &self,
        grain: &G,
        ctx: &GrainContext<G>,
        first: Envelope<G>,
    ) -> Result<(), Panicked> {
        let mut turns = FuturesUnordered::new();
        turns.push(self.shared_turn(grain, ctx, first));
        let mut panicked = None;
        std::future::poll_fn(|cx| {
            loop {
                {
                    let mut inner = self.lock();
                    while inner
                        .mailbox
                        .front()
                        .is_some_and(|envelope| G::__interleaves(&envelope.call))
                        && (panicked.is_none() || inner.mailbox.has_call_backs())
                    {
                        let Some(envelope) = self.take(&mut inner) else {
                            break;
                        };
                        if envelope.expired() {
                            self.expire(envelope);
                        } else {
                            turns.push(self.shared_turn(grain, ctx, envelope));
                        }
                    }
                    // Woken by the next message, which may be admitted or be a call-back.
                    inner.waker = Some(cx.waker().clone());
                }
                match turns.poll_next_unpin(cx) {
                    Poll::Ready(Some(Ok(()))) => continue,
                    Poll::Ready(Some(Err(message))) => {
                        panicked.get_or_insert(message);
                        continue;
                    }
                    Poll::Ready(None) => return Poll::Ready(()),
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await;
        self.lock().waker = None;
        panicked.map_or(Ok(()), Err)
    }
}

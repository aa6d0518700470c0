//! Turns run by the asking task: an ask to an idle activation runs its call in the caller's own
//! poll instead of spawning a task for it.
//!
//! Spawning a turn loop, switching to it and back, and freeing it cost more than a short turn
//! itself. So when an ask finds its activation idle, and the asking task runs on a worker thread
//! of the silo's runtime, the activation *lends* its work to the asker, which runs it once, in its
//! own first poll:
//!
//! - an exclusive call with nothing queued is handed over with the grain, and the asker runs
//!   that one turn ([`Lent::Turn`]): the call skips the mailbox and the turn loop altogether;
//! - otherwise (the activation is new and must activate first, or the call interleaves) the
//!   turn loop is lent and polled once ([`Lent::Loop`]).
//!
//! A turn that finishes in that poll answers the ask before the future returns. What is still
//! pending after it (the turn awaits, or other calls queued meanwhile) is spawned as an ordinary
//! task at once, so lent work never depends on the asker being polled again: it holds the
//! activation only during one poll.
//!
//! Only asks borrow work. A tell never waits, and calls from timers or other silos keep their
//! own tasks.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::runtime::Handle;
use tokio::time::Instant;

use super::{Activation, ActivationStatus, Catalog, Envelope};
use crate::call::Fault;
use crate::context::GrainContext;
use crate::error::Panicked;
use crate::grain::Grain;
use crate::reply_cell::ReplyCell;

/// Work of an idle activation that an asking task runs itself.
pub(crate) enum Lent<G: Grain> {
    /// The asker's call, taken out of the mailbox's way, with the grain it runs on.
    Turn {
        activation: Arc<Activation<G>>,
        grain: Box<G>,
        envelope: Envelope<G>,
    },
    /// The activation's turn loop.
    Loop(Arc<Activation<G>>),
}

/// Lent work with the catalog it came from, whose runtime takes what is left of it after the
/// asker's poll.
pub(crate) struct Lending<'c, G: Grain> {
    pub(super) work: Lent<G>,
    pub(super) catalog: &'c Catalog<G>,
}

impl<G: Grain> Lending<'_, G> {
    /// Runs the work for one poll in the asking task's context `cx`, and spawns what is left of
    /// it. `sent_at` is the clock's reading when a queued call was sent. The answer is `None` if
    /// it comes through the cell attached when the call was queued.
    pub(crate) fn run<R: Send + 'static>(
        self,
        sent_at: Option<Instant>,
        cx: &mut Context<'_>,
    ) -> Option<Answer<R>> {
        let runtime = self.catalog.runtime();
        match self.work {
            Lent::Turn {
                activation,
                grain,
                envelope,
            } => Some(Activation::run_lent_turn(
                GrainContext::new(activation),
                grain,
                envelope,
                runtime,
                cx,
            )),
            Lent::Loop(activation) => {
                let mut turns: Pin<Box<dyn Future<Output = ()> + Send>> =
                    Box::pin(Arc::clone(&activation).run(sent_at));
                if turns.as_mut().poll(cx).is_pending() {
                    activation.lent.store(false, Ordering::Relaxed);
                    runtime.spawn(turns);
                }
                None
            }
        }
    }
}

/// The answer to an ask whose turn was lent to it.
pub(crate) enum Answer<R> {
    /// The turn ran to its end in the asker's poll.
    Now(Result<R, Fault>),
    /// The turn waits, in a task of its own now, and answers through this cell.
    Later(Arc<ReplyCell<R>>),
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

impl<G: Grain> Activation<G> {
    /// Runs the turn of a call handed to an asker for one poll. Its future owns what it runs on
    /// and the slot its answer goes to, so that it can be spawned on `runtime` if it does not end
    /// in this poll: the answer then goes to a cell once it ends. No reply cell is made otherwise.
    fn run_lent_turn<R: Send + 'static>(
        ctx: GrainContext<G>,
        mut grain: Box<G>,
        envelope: Envelope<G>,
        runtime: &Handle,
        cx: &mut Context<'_>,
    ) -> Answer<R> {
        let mut turn = boxed_in_place(|| async move {
            let mut answer: Option<Result<R, Fault>> = None;
            let result = ctx
                .activation()
                .turn(&mut grain, &ctx, envelope, Some(&mut answer))
                .await;
            (ctx, grain, result, answer)
        });
        if let Poll::Ready((ctx, grain, result, answer)) = turn.as_mut().poll(cx) {
            ctx.activation().end_lent_turn(grain, result);
            return Answer::Now(answer.unwrap_or(Err(Fault::ShuttingDown)));
        }
        let (cell, sender) = ReplyCell::new();
        runtime.spawn(async move {
            let (ctx, grain, result, answer) = turn.await;
            sender.send(answer.unwrap_or(Err(Fault::ShuttingDown)));
            // Read only by the turn loop, which `resume` may become.
            let activation = ctx.activation();
            activation.lent.store(false, Ordering::Relaxed);
            activation.catalog().home().enter();
            activation.resume(&ctx, grain, result).await;
        });
        Answer::Later(cell)
    }

    /// Ends a lent turn that finished in the asker's poll at once: the activation rests, unless
    /// calls arrived meanwhile or it must go, which its turn loop then sees to as a task.
    fn end_lent_turn(self: &Arc<Self>, grain: Box<G>, result: Result<(), Panicked>) {
        if let Some(reason) = self.discard_reason(result) {
            self.lent.store(false, Ordering::Relaxed);
            self.discard(grain, reason);
            return;
        }
        let mut inner = self.lock();
        if inner.mailbox.is_empty() && self.may_rest(&inner) {
            Self::rest(&mut inner, grain);
            return;
        }
        inner.grain = Some(grain);
        debug_assert_eq!(inner.status, ActivationStatus::Running);
        drop(inner);
        self.lent.store(false, Ordering::Relaxed);
        self.start_turn_loop();
    }

    /// Goes on after a lent turn that had to wait, in a task of its own: as the turn loop would
    /// after that turn.
    async fn resume(
        self: &Arc<Self>,
        ctx: &GrainContext<G>,
        grain: Box<G>,
        result: Result<(), Panicked>,
    ) {
        match self.discard_reason(result) {
            Some(reason) => self.discard(grain, reason),
            None => self.turns(ctx, grain, None).await,
        }
    }
}

/// Boxes the future `make` builds, allocating first so that the future can be built in the box
/// rather than on the stack and copied there.
#[inline(always)]
fn boxed_in_place<F: Future>(make: impl FnOnce() -> F) -> Pin<Box<F>> {
    Box::into_pin(Box::write(Box::new_uninit(), make()))
}

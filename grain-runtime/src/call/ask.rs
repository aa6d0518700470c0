//! The asking side of a call: [`Ask`], its future, and how it waits for its answer or its
//! deadline.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use super::{Bind, CallMeta, Fault, Reply};
use crate::activation::Answer;
use crate::deadlines::{self, Expire, WATCHED_FROM};
use crate::error::CallError;
use crate::grain::Grain;
use crate::reference::RefCore;
use crate::reply_cell::ReplyCell;

/// An ask in preparation: await it to send the call and get the method's return value.
///
/// # Examples
///
/// ```
/// # use grain_runtime::prelude::*;
/// # use std::time::Duration;
/// # #[grain] #[derive(Default)] struct Counter { n: u64 }
/// # #[grain] impl Counter { pub async fn add(&mut self, by: u64) -> u64 { self.n += by; self.n } }
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let silo = Silo::builder().register::<Counter>().start().await?;
/// let counter = silo.grain::<Counter>("hits");
/// let n = counter.add(1).timeout(Duration::from_millis(500)).await?;
/// assert_eq!(n, 1);
/// # Ok(()) }
/// ```
#[must_use = "an ask does nothing until it is awaited"]
pub struct Ask<'a, G: Grain, R> {
    core: &'a RefCore<G>,
    call: G::Call,
    bind: Bind<G, R>,
    timeout: Option<Duration>,
}

impl<'a, G: Grain, R: Send> Ask<'a, G, R> {
    /// Prepares an ask; `make` builds the message around its reply slot, which `bind` finds
    /// again once the ask knows where its answer goes.
    #[doc(hidden)]
    pub fn new(
        core: &'a RefCore<G>,
        make: impl FnOnce(Reply<R>) -> G::Call,
        bind: fn(&mut G::Call) -> Option<&mut Reply<R>>,
    ) -> Self {
        Self {
            core,
            call: make(Reply::none()),
            bind,
            timeout: None,
        }
    }

    /// Overrides the silo's default deadline for this call.
    pub fn timeout(mut self, after: Duration) -> Self {
        self.timeout = Some(after);
        self
    }
}

impl<'a, G: Grain, R: Send + 'static> IntoFuture for Ask<'a, G, R> {
    type Output = Result<R, CallError>;
    type IntoFuture = AskFuture<'a, G, R>;

    fn into_future(self) -> Self::IntoFuture {
        let method = G::__method(&self.call);
        let after = self
            .timeout
            .unwrap_or_else(|| self.core.default_ask_timeout());
        AskFuture {
            core: self.core,
            method,
            after,
            bind: self.bind,
            state: AskState::Unsent { call: self.call },
        }
    }
}

/// The future of an [`Ask`]: resolves to the method's return value or a [`CallError`].
///
/// The call is sent when the future is first polled, and its deadline counts from then. An ask
/// to an idle grain on the silo whose worker polls it runs the grain's turn in that first poll;
/// such a turn finishes before its deadline could pass, or, if it waits, goes on in a task of its
/// own, and the deadline counts from then.
///
/// # Cancel safety
///
/// Dropping the future before its first poll sends nothing. Dropping it later does not recall
/// the message: a call already queued still runs, unless its deadline passes first.
pub struct AskFuture<'a, G: Grain, R> {
    core: &'a RefCore<G>,
    method: &'static str,
    after: Duration,
    bind: Bind<G, R>,
    state: AskState<G, R>,
}

/// The call is moved out, never pinned, so the future may move between polls.
impl<G: Grain, R> Unpin for AskFuture<'_, G, R> {}

enum AskState<G: Grain, R> {
    Unsent {
        call: G::Call,
    },
    /// Sent; the answer arrives in `cell`.
    Waiting {
        cell: Arc<ReplyCell<R>>,
        deadline: Deadline,
    },
    Failed {
        error: Option<CallError>,
    },
}

/// How a sent ask gives up at its deadline. Asks answered in their first poll never set a timer.
enum Deadline {
    /// Not watched yet: the ask has not waited.
    Unarmed(Instant),
    /// Watched by [`deadlines`], for deadlines at least [`WATCHED_FROM`] away.
    Watched,
    /// A tokio timer of its own, for shorter ones.
    Timer(Pin<Box<Sleep>>),
}

impl<G: Grain, R: Send + 'static> AskFuture<'_, G, R> {
    /// Sends the call if it is unsent; an idle local activation lends its work, which runs here
    /// once, unless `lend` is false. Returns the answer if the call's turn ran to its end here.
    ///
    /// The reply slot is bound to a [`ReplyCell`] only where the answer comes from elsewhere: a
    /// turn run here to its end writes it into its own future.
    ///
    /// Inlined into the poll, with the ref's `send`, the catalog's `deliver` and the activation's
    /// `enqueue`: as calls they moved the call through memory at each step, which cost a sixth of
    /// an ask.
    #[inline(always)]
    fn send(&mut self, lend: bool, cx: &mut Context<'_>) -> Option<Result<R, Fault>> {
        if !matches!(self.state, AskState::Unsent { .. }) {
            return None;
        }
        let state = std::mem::replace(&mut self.state, AskState::Failed { error: None });
        let AskState::Unsent { call } = state else {
            return None;
        };
        let (after, bind) = (self.after, self.bind);
        let mut sent_at = None;
        let mut cell = None;
        let mut attach = |call: &mut G::Call, meta: &mut CallMeta| {
            let now = *sent_at.get_or_insert_with(Instant::now);
            meta.deadline = Some(now + after);
            if cell.is_none()
                && let Some(reply) = bind(call)
            {
                let (local, answer) = Reply::local();
                *reply = local;
                cell = Some(answer);
            }
        };
        // A call due at once is queued, so that it expires unexecuted like any other.
        let lend = lend && !after.is_zero();
        let sent = self.core.send(call, true, lend, &mut attach);
        let waiting = |cell: Option<Arc<ReplyCell<R>>>, sent_at: Option<Instant>| match cell {
            Some(cell) => AskState::Waiting {
                cell,
                deadline: Deadline::Unarmed(sent_at.unwrap_or_else(Instant::now) + after),
            },
            None => AskState::Failed { error: None },
        };
        self.state = match sent {
            Ok(Some(lent)) => match lent.run(sent_at, cx) {
                Some(Answer::Now(answer)) => return Some(answer),
                // The turn ran here until it waited: its deadline counts from now.
                Some(Answer::Later(later)) => waiting(Some(later), None),
                None => waiting(cell, sent_at),
            },
            Ok(None) => waiting(cell, sent_at),
            Err(error) => AskState::Failed { error: Some(error) },
        };
        None
    }
}

impl<G: Grain, R: Send + 'static> Future for AskFuture<'_, G, R> {
    type Output = Result<R, CallError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // Asks answered at once would otherwise let a caller run without ever yielding. An ask
        // sent when the task's budget is spent leaves its call to the grain's own task and
        // waits: that yields without waking the task itself, which would also wake an idle
        // worker to steal it.
        let unsent = matches!(this.state, AskState::Unsent { .. });
        let (coop, answered) = if unsent && !tokio::task::coop::has_budget_remaining() {
            (None, this.send(false, cx))
        } else {
            let coop = std::task::ready!(tokio::task::coop::poll_proceed(cx));
            (Some(coop), this.send(true, cx))
        };
        let (core, method, after) = (this.core, this.method, this.after);
        let error = |fault: Fault| fault.into_call_error(core.id().clone(), method, after);
        let result = match (answered, &mut this.state) {
            (Some(answer), _) => answer.map_err(error),
            (None, AskState::Waiting { cell, deadline }) => match cell.poll_answer(cx) {
                Poll::Ready(answer) => answer.map_err(error),
                Poll::Pending if deadline.passed(cell, after, cx) => Err(error(Fault::Expired)),
                Poll::Pending => return Poll::Pending,
            },
            (None, AskState::Failed { error: failed }) => {
                Err(failed.take().unwrap_or_else(|| error(Fault::ShuttingDown)))
            }
            // `send` never leaves an ask unsent.
            (None, AskState::Unsent { .. }) => Err(error(Fault::ShuttingDown)),
        };
        if let Some(coop) = coop {
            coop.made_progress();
        }
        Poll::Ready(result)
    }
}

impl Deadline {
    /// Whether the deadline has passed; arms it on the ask's first wait.
    fn passed<R: Send + 'static>(
        &mut self,
        cell: &Arc<ReplyCell<R>>,
        after: Duration,
        cx: &mut Context<'_>,
    ) -> bool {
        if let Deadline::Unarmed(at) = *self {
            *self = if after >= WATCHED_FROM {
                let cell: Weak<dyn Expire> = Arc::downgrade(cell) as _;
                deadlines::watch(at.into_std(), cell);
                Deadline::Watched
            } else {
                Deadline::Timer(Box::pin(tokio::time::sleep_until(at)))
            };
        }
        match self {
            Deadline::Timer(timer) => timer.as_mut().poll(cx).is_ready(),
            Deadline::Unarmed(_) | Deadline::Watched => false,
        }
    }
}

//! The cell one ask's answer arrives in.
//!
//! Three parties may fill it, and the first one wins: the grain's reply, the reply being dropped
//! unanswered (the silo stopped before the call ran), and the deadline watchdog (see
//! [`deadlines`](crate::deadlines)). The asking future takes the answer out. A tokio `oneshot`
//! has room for one sender only, which is why the ask path has a cell of its own.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::call::Fault;
use crate::deadlines::Expire;

/// Where one ask's answer waits until the asking future takes it.
pub(crate) struct ReplyCell<T> {
    state: Mutex<State<T>>,
}

enum State<T> {
    /// No answer yet; the waker of the asking task, once it has polled.
    Waiting(Option<Waker>),
    Answered(Result<T, Fault>),
    /// The asking future took the answer.
    Taken,
}

impl<T> ReplyCell<T> {
    /// An empty cell, and the sender that answers through it.
    pub(crate) fn new() -> (Arc<Self>, ReplySender<T>) {
        let cell = Arc::new(Self {
            state: Mutex::new(State::Waiting(None)),
        });
        let sender = ReplySender(Some(Arc::clone(&cell)));
        (cell, sender)
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores `answer` unless the cell already has one, and wakes the asking task.
    fn fill(&self, answer: Result<T, Fault>) {
        let mut state = self.lock();
        if let State::Waiting(waker) = &mut *state {
            let waker = waker.take();
            *state = State::Answered(answer);
            drop(state);
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    /// The answer, once there is one; until then the task of `cx` is woken when it arrives.
    pub(crate) fn poll_answer(&self, cx: &mut Context<'_>) -> Poll<Result<T, Fault>> {
        let mut state = self.lock();
        if let State::Waiting(waker) = &mut *state {
            if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *waker = Some(cx.waker().clone());
            }
            return Poll::Pending;
        }
        match std::mem::replace(&mut *state, State::Taken) {
            State::Answered(answer) => Poll::Ready(answer),
            State::Waiting(_) | State::Taken => Poll::Ready(Err(Fault::ShuttingDown)),
        }
    }
}

impl<T: Send> Expire for ReplyCell<T> {
    fn expire(&self) {
        self.fill(Err(Fault::Expired));
    }

    fn waiting(&self) -> bool {
        matches!(&*self.lock(), State::Waiting(_))
    }
}

/// The grain side of a [`ReplyCell`]: answers once; dropped unanswered, it answers that the
/// silo stopped before the call ran.
pub(crate) struct ReplySender<T>(Option<Arc<ReplyCell<T>>>);

impl<T> ReplySender<T> {
    pub(crate) fn send(mut self, answer: Result<T, Fault>) {
        if let Some(cell) = self.0.take() {
            cell.fill(answer);
        }
    }
}

impl<T> Drop for ReplySender<T> {
    fn drop(&mut self) {
        if let Some(cell) = self.0.take() {
            cell.fill(Err(Fault::ShuttingDown));
        }
    }
}

//! One call to a grain: ask and tell, reply slots, deadlines, call chains and correlation ids.
//!
//! An ask carries a deadline and the chain of turns waiting on it, so that a call which would wait
//! on itself (`A -> B -> A`) fails at once with [`CallError::Deadlock`] instead of hanging until
//! the deadline, and a message still queued when its deadline passes is dropped unexecuted.

mod ask;

pub use ask::{Ask, AskFuture};

use std::cell::Cell;
use std::fmt::Write as _;
use std::future::Future;
use std::num::NonZeroU64;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::FutureExt as _;
use tokio::time::Instant;

use crate::error::{CallError, panic_message};
use crate::grain::Grain;
use crate::id::GrainId;
use crate::reply_cell::{ReplyCell, ReplySender};
use crate::wire_call::{RemoteReply, ValueCodec};

/// What a silo reports on a reply channel instead of a value; the caller turns it into a [`CallError`].
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Fault {
    /// The turn panicked with this message.
    Panicked(String),
    /// `on_activate` panicked with this message.
    ActivationFailed(String),
    /// The deadline passed while the message was queued.
    Expired,
    /// The silo stopped before the message ran.
    ShuttingDown,
    /// The grain's mailbox on a remote silo was full; it holds this many messages.
    MailboxFull(usize),
    /// A remote silo found that the call would wait on itself, through this chain.
    Deadlock(String),
    /// The silo that owns the grain cannot be reached, or holds its state and is down.
    Unavailable(String),
    /// A silo refused the call as malformed: an unknown kind or method, or undecodable bytes.
    Rejected(String),
    /// A silo refused the call before running it because the cluster is settling (views
    /// disagree, or the grain's state is moving), so sending it again is safe. Callers retry
    /// it within the call's deadline; the application sees it as `Unavailable`.
    Refused(String),
    /// The connection closed after the call was sent and before its reply arrived: it may have
    /// run.
    Interrupted(String),
}

impl Fault {
    pub(crate) fn into_call_error(
        self,
        grain: GrainId,
        method: &'static str,
        after: Duration,
    ) -> CallError {
        match self {
            Fault::Panicked(message) => CallError::Panicked {
                grain,
                method,
                message,
            },
            Fault::ActivationFailed(message) => CallError::ActivationFailed {
                grain,
                method,
                message,
            },
            Fault::Expired => CallError::Timeout {
                grain,
                method,
                after,
            },
            Fault::ShuttingDown => CallError::ShuttingDown { grain, method },
            Fault::MailboxFull(capacity) => CallError::MailboxFull {
                grain,
                method,
                capacity,
            },
            Fault::Deadlock(chain) => CallError::Deadlock {
                grain,
                method,
                chain,
            },
            Fault::Unavailable(reason) | Fault::Refused(reason) => CallError::Unavailable {
                grain,
                method,
                reason,
            },
            Fault::Interrupted(reason) => CallError::Interrupted {
                grain,
                method,
                reason,
            },
            Fault::Rejected(reason) => CallError::Rejected {
                grain,
                method,
                reason,
            },
        }
    }
}

/// Where the result of one call goes: the asking caller, a remote caller, or nowhere for a tell.
#[doc(hidden)]
pub struct Reply<T>(Slot<T>);

enum Slot<T> {
    None,
    Local(ReplySender<T>),
    /// Boxed: it is rare, and every queued call carries the slot's size.
    Remote(Box<RemoteSlot<T>>),
}

/// Where the encoded result of a call from another silo goes.
struct RemoteSlot<T> {
    sink: RemoteReply,
    codec: ValueCodec<T>,
}

/// Finds the reply slot in a call of the method an ask was made for; generated per method.
pub(crate) type Bind<G, R> = fn(&mut <G as Grain>::Call) -> Option<&mut Reply<R>>;

impl<T: Send> Reply<T> {
    /// The reply slot of a tell: the result is dropped. An ask's slot starts so too, until it is
    /// bound to where its answer goes.
    pub fn none() -> Self {
        Self(Slot::None)
    }

    fn local() -> (Self, Arc<ReplyCell<T>>) {
        let (cell, sender) = ReplyCell::new();
        (Self(Slot::Local(sender)), cell)
    }

    /// Answers with a fault instead of a value.
    pub fn fail(self, fault: Fault) {
        self.send(Err(fault));
    }

    fn send(self, result: Result<T, Fault>) {
        match self.0 {
            Slot::None => {}
            Slot::Local(sender) => sender.send(result),
            Slot::Remote(remote) => (remote.sink)(result.and_then(|value| {
                let mut bytes = Vec::new();
                (remote.codec.encode)(&value, &mut bytes)
                    .map(|()| bytes)
                    .map_err(|e| Fault::Rejected(format!("the reply cannot be encoded: {e}")))
            })),
        }
    }
}

impl<T: Send + 'static> Reply<T> {
    /// Runs the method's future and sends its output, into `answer` if that is where an asker
    /// running the turn itself takes it (an `Option<Result<T, Fault>>`), else to the slot. A
    /// panic is reported to the caller, then resumed so that the turn loop discards the
    /// activation.
    pub async fn complete(
        self,
        turn: impl Future<Output = T>,
        answer: Option<&mut (dyn std::any::Any + Send)>,
    ) {
        let (result, panic) = match AssertUnwindSafe(turn).catch_unwind().await {
            Ok(value) => (Ok(value), None),
            Err(payload) => (
                Err(Fault::Panicked(panic_message(&*payload))),
                Some(payload),
            ),
        };
        match answer.and_then(|answer| answer.downcast_mut::<Option<Result<T, Fault>>>()) {
            Some(answer) => *answer = Some(result),
            None => self.send(result),
        }
        if let Some(payload) = panic {
            std::panic::resume_unwind(payload);
        }
    }

    /// The reply slot of a call that arrived from another silo: the result is encoded and sent
    /// to `sink`, or dropped for a tell.
    pub fn remote(codec: ValueCodec<T>, sink: Option<RemoteReply>) -> Self {
        match sink {
            Some(sink) => Self(Slot::Remote(Box::new(RemoteSlot { sink, codec }))),
            None => Self::none(),
        }
    }

    /// This slot as the receiver of an encoded result, for a call sent to another silo: the
    /// result is decoded and delivered here. `None` for a tell.
    pub fn into_remote(self, codec: ValueCodec<T>) -> Option<RemoteReply> {
        match self.0 {
            Slot::None => None,
            Slot::Local(sender) => Some(Box::new(move |result: Result<Vec<u8>, Fault>| {
                let decoded = result.and_then(|bytes| {
                    let (value, used) = (codec.decode)(&bytes).map_err(|e| {
                        Fault::Rejected(format!("the reply cannot be decoded: {e}"))
                    })?;
                    if used == bytes.len() {
                        Ok(value)
                    } else {
                        Err(Fault::Rejected(format!(
                            "the reply has {} bytes after its value",
                            bytes.len() - used
                        )))
                    }
                });
                sender.send(decoded);
            })),
            Slot::Remote(remote) => Some(remote.sink),
        }
    }
}

// Every queued call carries its metadata and reply slot; a burst of tells queues millions.
const _: () = assert!(std::mem::size_of::<CallMeta>() <= 48);
const _: () = assert!(std::mem::size_of::<Reply<u64>>() <= 16);

/// The routing data of one message: its deadline, correlation id and the chain of waiting turns.
/// Activations are named by their generation, which is never zero, so that an absent one costs
/// nothing.
pub(crate) struct CallMeta {
    pub(crate) deadline: Option<Instant>,
    pub(crate) correlation: u64,
    pub(crate) chain: Option<Arc<ChainLink>>,
    /// The activation whose timer sent this message; such messages do not keep a grain active.
    pub(crate) timer_of: Option<NonZeroU64>,
    /// The activation whose turn sent this message, if one did: the sender whose order the
    /// mailbox keeps.
    pub(crate) sender: Option<NonZeroU64>,
}

impl CallMeta {
    /// The metadata of a lifecycle hook, which no caller waits on.
    pub(crate) fn internal() -> Self {
        Self {
            deadline: None,
            correlation: new_correlation_id(),
            chain: None,
            timer_of: None,
            sender: None,
        }
    }

    /// The metadata of a call that arrived from another silo or a client.
    pub(crate) fn remote(deadline: Option<Instant>, correlation: u64) -> Self {
        Self {
            deadline,
            correlation,
            chain: None,
            timer_of: None,
            sender: None,
        }
    }

    /// Whether an interleaved turn of `grain` is waiting, through the chain of asks, on this call:
    /// such a call must not queue behind calls that wait for that turn to end.
    pub(crate) fn awaited_by_interleaved_turn_of(&self, grain: &GrainId) -> bool {
        self.chain
            .as_deref()
            .is_some_and(|chain| chain.walk().any(|l| l.interleaving && &l.grain == grain))
    }
}

/// One turn that is waiting on an ask it made, linked to the turns waiting on it.
pub(crate) struct ChainLink {
    grain: GrainId,
    method: &'static str,
    interleaving: bool,
    parent: Option<Arc<ChainLink>>,
}

impl ChainLink {
    /// This link, then the turns waiting on it, outermost last.
    fn walk(&self) -> impl Iterator<Item = &ChainLink> {
        std::iter::successors(Some(self), |link| link.parent.as_deref())
    }
}

/// What the running turn knows about itself, for calls it makes.
pub(crate) struct TurnInfo {
    /// The generation of the activation running the turn: the sender of the calls it makes.
    pub(crate) activation: NonZeroU64,
    pub(crate) grain: GrainId,
    pub(crate) method: &'static str,
    pub(crate) interleaving: bool,
    pub(crate) correlation: u64,
    pub(crate) chain: Option<Arc<ChainLink>>,
    /// The id of the home of the silo hosting the turn (see [`silo_at`](crate::silo::silo_at)),
    /// which resolves refs deserialized inside it.
    pub(crate) silo: u64,
}

tokio::task_local! {
    /// Set around every turn, so that calls made inside it extend its chain.
    pub(crate) static TURN: TurnInfo;
    /// Set while a timer callback runs, naming the activation that owns the timer.
    pub(crate) static TIMER_OF: NonZeroU64;
}

/// A correlation id for a call made outside any turn: unique within the process.
fn new_correlation_id() -> u64 {
    const BLOCK: u64 = 1 << 20;
    static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static RANGE: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    }
    RANGE.with(|range| {
        let (mut next, mut end) = range.get();
        if next == end {
            next = NEXT_BLOCK.fetch_add(1, Ordering::Relaxed) * BLOCK;
            end = next + BLOCK;
        }
        range.set((next + 1, end));
        next
    })
}

/// The metadata of a message about to be sent to `target`, or the deadlock it would cause.
///
/// An ask made inside a turn extends that turn's chain; if the target is already in the chain,
/// the call can only proceed when both the waiting turn and the new call interleave. The deadline
/// is left unset: an ask stamps it once it knows the call leaves it (see [`RefCore::send`](crate::reference::RefCore::send)).
pub(crate) fn outgoing(
    target: &GrainId,
    method: &'static str,
    interleaves: bool,
    is_ask: bool,
) -> Result<CallMeta, CallError> {
    let timer_of = TIMER_OF.try_with(|owner| *owner).ok();
    // A tell waits on nothing, so it extends no chain.
    let from_turn = TURN.try_with(|turn| {
        let waiting = is_ask.then(|| {
            Arc::new(ChainLink {
                grain: turn.grain.clone(),
                method: turn.method,
                interleaving: turn.interleaving,
                parent: turn.chain.clone(),
            })
        });
        (turn.correlation, turn.activation, waiting)
    });
    let (correlation, sender, waiting) = match from_turn {
        Ok((correlation, sender, Some(waiting))) => (correlation, sender, waiting),
        Ok((correlation, sender, None)) => {
            return Ok(CallMeta {
                deadline: None,
                correlation,
                chain: None,
                timer_of,
                sender: Some(sender),
            });
        }
        Err(_) => {
            return Ok(CallMeta {
                deadline: None,
                correlation: new_correlation_id(),
                chain: None,
                timer_of,
                sender: None,
            });
        }
    };
    if waiting
        .walk()
        .any(|l| &l.grain == target && !(l.interleaving && interleaves))
    {
        return Err(CallError::Deadlock {
            grain: target.clone(),
            method,
            chain: describe_chain(&waiting, target, method),
        });
    }
    Ok(CallMeta {
        deadline: None,
        correlation,
        chain: Some(waiting),
        timer_of,
        sender: Some(sender),
    })
}

fn describe_chain(waiting: &ChainLink, target: &GrainId, method: &'static str) -> String {
    let links: Vec<&ChainLink> = waiting.walk().collect();
    let mut text = String::new();
    for l in links.iter().rev() {
        let _ = write!(text, "{}.{} -> ", l.grain, l.method);
    }
    let _ = write!(text, "{target}.{method}");
    text
}

//! An activation: the live instance of one grain on this silo, and its turn loop.
//!
//! An activation is a state machine guarded by one short lock:
//!
//! ```text
//! New --message--> Running --mailbox empty--> Idle --message--> Running
//!                     |                         |
//!                     | panic / deactivate      | idle too long
//!                     v                         v
//!                  Retired <--on_deactivate-- Deactivating
//! ```
//!
//! A [turn loop](turn_loop) (one tokio task) exists only while the activation is `Running`: it
//! takes the grain out of the activation, runs queued messages one turn at a time (or several
//! interleavable turns side by side), and puts the grain back when the mailbox is empty. An idle
//! activation is therefore just its state, its empty mailbox and a few counters. An ask that
//! wakes an idle activation runs the loop's first poll itself (see [`inline`]).

mod catalog;
mod inline;
mod recovery;
mod turn;
mod turn_loop;

pub(crate) use crate::mailbox::Envelope;
pub(crate) use catalog::{Catalog, KindCounters, KindSettings, Undelivered};
use inline::Lent;
pub(crate) use inline::{Answer, Home, Lending};

use std::num::NonZeroU64;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::time::Duration;

use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::call::{CallMeta, Fault};
use crate::context::GrainContext;
use crate::error::Panicked;
use crate::grain::Grain;
use crate::id::GrainId;
use crate::mailbox::Mailbox;
use crate::persistence::fencing::Fence;
use crate::persistence::{Cursor, PersistenceModel};

/// Where an activation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ActivationStatus {
    /// Created by a message; `on_activate` has not run yet.
    New,
    /// A turn loop is running its messages.
    Running,
    /// Active with an empty mailbox and no turn loop.
    Idle,
    /// `on_deactivate` is running; messages that arrive wait for the next activation.
    Deactivating,
    /// Gone from the catalog; its memory is freed once the last handle drops.
    Retired,
}

/// A point-in-time view of one activation, for operators and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ActivationStats {
    /// Messages waiting in the mailbox.
    pub mailbox_len: usize,
    /// Calls this activation has taken from its mailbox.
    pub messages_handled: u64,
    /// Where the activation is in its life.
    pub status: ActivationStatus,
    /// How long it has been idle as passivation counts it: from the first passivation sweep
    /// that found it idle after its last turn (zero while it runs, and until that sweep).
    /// Turns do not read the clock, so this lags the end of the last turn by up to one sweep
    /// interval.
    pub idle_for: Duration,
}

/// What happens to messages still queued when an activation retires, unless another silo owns
/// the grain now: then they are forwarded to it.
enum Leftovers {
    /// They go, in order, to a new activation of the same grain.
    Reactivate,
    /// They fail with this fault: the grain could not be activated.
    Fail(Fault),
}

/// Why an activation is dropped without deactivating.
enum Discard {
    /// A turn panicked, with this message.
    Panicked(Panicked),
    /// A write to storage failed, so the in-memory state may differ from what is durable.
    Stale(String),
}

/// Why a message was not queued.
pub(crate) enum Rejected<G: Grain> {
    Full(Envelope<G>),
    Retired(Envelope<G>),
}

static NEXT_GENERATION: AtomicU64 = AtomicU64::new(0);

// The lock starts after the id: at least a cache line past `batched` (see [`Activation`]).
const _: () = assert!(16 + std::mem::size_of::<GrainId>() >= 64);

/// The live instance of one grain.
///
/// Laid out in this order (`repr(C)`) so that the counters the turn loop writes on every call
/// sit at least a cache line away from the lock that senders take: sharing a line made every
/// enqueue miss the cache.
#[repr(C)]
pub(crate) struct Activation<G: Grain> {
    /// Calls the turn loop took in its current batch and has not started yet. They still count
    /// against the mailbox's capacity.
    batched: AtomicUsize,
    /// Whether the turn loop is lent to the ask that started it, which polls it once.
    lent: AtomicBool,
    /// Set when the activation must be discarded after the current turn; the reason is in
    /// [`Durable::discard`].
    discarding: AtomicBool,
    generation: NonZeroU64,
    id: GrainId,
    catalog: Arc<Catalog<G>>,
    inner: Mutex<Inner<G>>,
}

struct Inner<G: Grain> {
    status: ActivationStatus,
    mailbox: Mailbox<G>,
    grain: Option<Box<G>>,
    handled: u64,
    /// When a passivation sweep first found the activation idle after its last activity.
    last_active: Instant,
    /// Whether a call other than this activation's own timer ticks was taken since a sweep last
    /// found the activation idle: the next sweep restarts the idle clock instead of passivating.
    kept_alive: bool,
    /// How many calls the turn loop's current batch held after its first: at least
    /// [`Activation::batched`].
    batch_len: usize,
    /// The turn loop, parked while interleaved turns wait and the mailbox is empty.
    waker: Option<Waker>,
    timers: Vec<AbortHandle>,
    deactivate_on_idle: bool,
    /// Set once the grain has recovered or written, so that volatile grains pay one pointer.
    durable: Option<Box<Durable>>,
}

/// What an activation of a durable grain tracks.
#[derive(Default)]
struct Durable {
    /// Where the grain stands in its journal.
    cursor: Cursor,
    /// The claim this activation writes under, in a store that silos share.
    fence: Option<Fence>,
    /// Why the activation must be discarded when the current turn ends.
    discard: Option<String>,
}

impl<G: Grain> Inner<G> {
    fn durable(&mut self) -> &mut Durable {
        self.durable.get_or_insert_with(Box::default)
    }
}

impl<G: Grain> Activation<G> {
    fn new(catalog: Arc<Catalog<G>>, id: GrainId, mailbox: Mailbox<G>) -> Self {
        Self {
            id,
            generation: NonZeroU64::MIN
                .saturating_add(NEXT_GENERATION.fetch_add(1, Ordering::Relaxed)),
            catalog,
            batched: AtomicUsize::new(0),
            lent: AtomicBool::new(false),
            discarding: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                status: ActivationStatus::New,
                mailbox,
                grain: None,
                handled: 0,
                last_active: Instant::now(),
                kept_alive: false,
                batch_len: 0,
                waker: None,
                timers: Vec::new(),
                deactivate_on_idle: false,
                durable: None,
            }),
        }
    }

    pub(crate) fn id(&self) -> &GrainId {
        &self.id
    }

    pub(crate) fn catalog(&self) -> &Arc<Catalog<G>> {
        &self.catalog
    }

    fn lock(&self) -> MutexGuard<'_, Inner<G>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a message and starts the turn loop if none is running.
    ///
    /// With `lend` (for an ask), and if the calling thread is a worker of the silo's runtime, an
    /// idle activation hands the work back for the caller to run: the call itself with the
    /// grain, when nothing else is queued and the call is exclusive, else the turn loop.
    /// `attach` binds the reply slot of a call about to be queued and stamps its deadline.
    // Inlined into an ask's poll (see `AskFuture::send`).
    #[inline(always)]
    pub(crate) fn enqueue(
        self: &Arc<Self>,
        mut envelope: Envelope<G>,
        lend: bool,
        attach: &mut dyn FnMut(&mut G::Call, &mut CallMeta),
    ) -> Result<Option<Lent<G>>, Rejected<G>> {
        let mut inner = self.lock();
        if inner.status == ActivationStatus::Retired {
            return Err(Rejected::Retired(envelope));
        }
        if lend
            && inner.status == ActivationStatus::Idle
            && inner.mailbox.is_empty()
            && !G::__interleaves(&envelope.call)
            && self.catalog.home().is_current()
            && let Some(grain) = inner.grain.take()
        {
            inner.status = ActivationStatus::Running;
            inner.handled += 1;
            inner.kept_alive = true;
            inner.batch_len = 0;
            drop(inner);
            self.lent.store(true, Ordering::Relaxed);
            self.catalog.counters().messages_handled.add(1);
            return Ok(Some(Lent::Turn {
                activation: Arc::clone(self),
                grain,
                envelope,
            }));
        }
        let capacity = self.catalog.settings().mailbox_capacity;
        // The loop's count of calls still to start is read only when it could matter, since the
        // loop writes it on every call.
        let room = if inner.mailbox.len() + inner.batch_len < capacity {
            capacity
        } else {
            capacity.saturating_sub(self.batched.load(Ordering::Relaxed))
        };
        attach(&mut envelope.call, &mut envelope.meta);
        if let Err(envelope) = inner.mailbox.push(envelope, room, &self.id) {
            return Err(Rejected::Full(envelope));
        }
        match inner.status {
            ActivationStatus::New | ActivationStatus::Idle => {
                inner.status = ActivationStatus::Running;
                let lend = lend && self.catalog.home().is_current();
                self.lent.store(lend, Ordering::Relaxed);
                if lend {
                    return Ok(Some(Lent::Loop(Arc::clone(self))));
                }
                drop(inner);
                self.start_turn_loop();
            }
            ActivationStatus::Running => {
                let waker = inner.waker.take();
                drop(inner);
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            ActivationStatus::Deactivating | ActivationStatus::Retired => {}
        }
        Ok(None)
    }

    /// Why the activation must be discarded after a turn that ended with `result`, if it must.
    fn discard_reason(&self, result: Result<(), Panicked>) -> Option<Discard> {
        if let Err(message) = result {
            return Some(Discard::Panicked(message));
        }
        if self.discarding.load(Ordering::Acquire) {
            let reason = self.lock().durable().discard.take().unwrap_or_default();
            return Some(Discard::Stale(reason));
        }
        None
    }

    /// Whether the activation may go idle once its mailbox is empty, rather than deactivate.
    fn may_rest(&self, inner: &Inner<G>) -> bool {
        !inner.deactivate_on_idle && self.catalog.accepting()
    }

    /// Puts the grain back into the idle activation, its mailbox found empty under `inner`.
    /// Reads no clock: the next passivation sweep stamps the activity (see `kept_alive`).
    fn rest(inner: &mut Inner<G>, grain: Box<G>) {
        inner.mailbox.shrink_when_empty();
        inner.grain = Some(grain);
        inner.status = ActivationStatus::Idle;
    }

    /// Drops the grain after a panicking turn or a failed write; queued messages go to a fresh
    /// activation.
    fn discard(self: &Arc<Self>, grain: Box<G>, reason: Discard) {
        match reason {
            Discard::Panicked(message) => {
                tracing::error!(grain = %self.id, "a turn panicked, discarding the activation: {message}");
                self.catalog
                    .counters()
                    .panics
                    .fetch_add(1, Ordering::Relaxed);
            }
            Discard::Stale(reason) => {
                tracing::warn!(grain = %self.id, "discarding the activation, its state may not match storage: {reason}");
            }
        }
        self.abort_timers();
        drop(grain);
        self.catalog.retire(self, Leftovers::Reactivate);
    }

    /// Runs `on_deactivate` and retires; messages that arrived meanwhile go to a fresh activation.
    async fn deactivate(self: &Arc<Self>, mut grain: Box<G>, ctx: &GrainContext<G>) {
        self.abort_timers();
        let hook = grain.__on_deactivate(ctx);
        if let Err(message) = self
            .guarded("on_deactivate", false, CallMeta::internal(), hook)
            .await
        {
            self.catalog
                .counters()
                .panics
                .fetch_add(1, Ordering::Relaxed);
            tracing::error!(grain = %self.id, "on_deactivate panicked: {message}");
        }
        if let Some(storage) = self.catalog.storage() {
            let cursor = self.cursor();
            <G::Persistence as PersistenceModel<G>>::deactivating(
                &grain, &storage, &self.id, cursor,
            )
            .await;
        }
        drop(grain);
        self.catalog
            .counters()
            .passivations
            .fetch_add(1, Ordering::Relaxed);
        self.catalog.retire(self, Leftovers::Reactivate);
    }

    /// Starts passivation if the activation has been idle for `idle_timeout` (zero: if it is idle).
    /// An idle activation active since the last sweep starts its idle time `now`.
    pub(crate) fn passivate_if_idle(self: &Arc<Self>, now: Instant, idle_timeout: Duration) {
        let grain = {
            let mut inner = self.lock();
            if inner.status != ActivationStatus::Idle || !inner.mailbox.is_empty() {
                return;
            }
            if std::mem::take(&mut inner.kept_alive) {
                inner.last_active = now;
            }
            if now.saturating_duration_since(inner.last_active) < idle_timeout {
                return;
            }
            inner.status = ActivationStatus::Deactivating;
            inner.grain.take()
        };
        let Some(grain) = grain else { return };
        let this = Arc::clone(self);
        self.catalog.runtime().spawn(async move {
            let ctx = GrainContext::new(Arc::clone(&this));
            this.deactivate(grain, &ctx).await;
        });
    }

    /// Marks the activation retired and hands over what its mailbox still holds.
    fn close(&self) -> Mailbox<G> {
        let mut inner = self.lock();
        inner.status = ActivationStatus::Retired;
        inner.waker = None;
        inner.mailbox.take_for_successor(self.generation)
    }

    /// The activation's position in its grain's journal.
    pub(crate) fn cursor(&self) -> Cursor {
        self.lock()
            .durable
            .as_ref()
            .map_or_else(Cursor::default, |d| d.cursor)
    }

    /// The claim the activation writes under, if its store fences.
    pub(crate) fn fence(&self) -> Option<Fence> {
        self.lock().durable.as_ref().and_then(|d| d.fence)
    }

    pub(crate) fn set_cursor(&self, cursor: Cursor) {
        self.lock().durable().cursor = cursor;
    }

    /// Discards the activation when the current turn ends, because its state may no longer match
    /// what is durable.
    pub(crate) fn discard_after_turn(&self, reason: String) {
        self.lock().durable().discard.get_or_insert(reason);
        self.discarding.store(true, Ordering::Release);
    }

    pub(crate) fn set_deactivate_on_idle(&self) {
        self.lock().deactivate_on_idle = true;
    }

    /// Ties a timer task to this activation; it is aborted when the activation ends.
    pub(crate) fn add_timer(&self, timer: AbortHandle) {
        let mut inner = self.lock();
        if matches!(
            inner.status,
            ActivationStatus::Deactivating | ActivationStatus::Retired
        ) {
            timer.abort();
            return;
        }
        inner.timers.retain(|t| !t.is_finished());
        inner.timers.push(timer);
    }

    fn abort_timers(&self) {
        let timers = std::mem::take(&mut self.lock().timers);
        for timer in timers {
            timer.abort();
        }
    }

    pub(crate) fn generation(&self) -> NonZeroU64 {
        self.generation
    }

    pub(crate) fn stats(&self) -> ActivationStats {
        let inner = self.lock();
        let batched = self.batched.load(Ordering::Relaxed);
        let idle_for = match inner.status {
            ActivationStatus::Idle if !inner.kept_alive => inner.last_active.elapsed(),
            _ => Duration::ZERO,
        };
        ActivationStats {
            mailbox_len: inner.mailbox.len() + batched,
            messages_handled: inner.handled.saturating_sub(batched as u64),
            status: inner.status,
            idle_for,
        }
    }
}

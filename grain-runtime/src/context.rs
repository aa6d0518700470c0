//! [`GrainContext`]: what a grain's methods can ask of the runtime while they run.

use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

use crate::activation::Activation;
use crate::grain::Grain;
use crate::id::{GrainId, GrainKey};
use crate::persistence::{
    Cursor, EventSourced, JournaledGrain, PRUNE_SAVED_EVERY, PersistError, PersistentGrain,
    Storage, encode, prune_saved, take_snapshot,
};
use crate::reference::{RefCore, VirtualActorRef};
use crate::timers::{self, GrainTimer};

/// The runtime side of one activation, handed to grain methods that declare a
/// `ctx: &GrainContext<Self>` parameter and to the lifecycle hooks.
///
/// # Examples
///
/// ```
/// # use grain_runtime::prelude::*;
/// #[grain]
/// #[derive(Default)]
/// pub struct Greeter;
///
/// #[grain]
/// impl Greeter {
///     pub async fn greet(&self, ctx: &GrainContext<Self>) -> String {
///         format!("hello from {}", ctx.id())
///     }
/// }
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let silo = Silo::builder().register::<Greeter>().start().await?;
/// assert_eq!(silo.grain::<Greeter>("x").greet().await?, "hello from Greeter/\"x\"");
/// # Ok(()) }
/// ```
pub struct GrainContext<G: Grain> {
    activation: Arc<Activation<G>>,
}

impl<G: Grain> GrainContext<G> {
    pub(crate) fn new(activation: Arc<Activation<G>>) -> Self {
        Self { activation }
    }

    pub(crate) fn activation(&self) -> &Arc<Activation<G>> {
        &self.activation
    }

    /// The identity of this grain.
    pub fn id(&self) -> &GrainId {
        self.activation.id()
    }

    /// A ref to this grain, to hand to other grains or to call from a timer.
    pub fn this(&self) -> VirtualActorRef<G> {
        let catalog = self.activation.catalog();
        VirtualActorRef::from_core(RefCore::new(
            self.id().key.clone(),
            Some(Arc::clone(catalog)),
            catalog.router().cloned(),
        ))
    }

    /// A ref to another grain on this grain's silo. Asks made through it from this turn carry the
    /// turn's correlation id and are checked for call cycles.
    pub fn grain<O: Grain>(&self, key: impl Into<GrainKey>) -> VirtualActorRef<O> {
        crate::silo::resolve::<O>(self.activation.catalog().silo(), key.into())
    }

    /// Deactivates this grain as soon as its mailbox is empty, instead of after the idle timeout.
    pub fn deactivate_on_idle(&self) {
        self.activation.set_deactivate_on_idle();
    }

    /// Calls `tick` with a ref to this grain after `due`, then every `period`, while this
    /// activation lives. `tick` sends a tell, so each tick runs as a turn of this grain.
    ///
    /// Ticks do not keep the grain active: an activation with only timer turns is passivated
    /// after its idle timeout, and its timers stop. A tick that finds the mailbox full is skipped.
    ///
    /// # Examples
    ///
    /// ```
    /// # use grain_runtime::prelude::*;
    /// # use std::time::Duration;
    /// #[grain]
    /// #[derive(Default)]
    /// pub struct Heartbeat { beats: u64 }
    ///
    /// #[grain]
    /// impl Heartbeat {
    ///     pub async fn start(&mut self, ctx: &GrainContext<Self>) {
    ///         ctx.register_timer(Duration::ZERO, Duration::from_millis(10), |me| me.tell().beat());
    ///     }
    ///     pub async fn beat(&mut self) { self.beats += 1; }
    ///     pub async fn beats(&self) -> u64 { self.beats }
    /// }
    /// ```
    pub fn register_timer<F>(&self, due: Duration, period: Duration, tick: F) -> GrainTimer
    where
        F: Fn(&VirtualActorRef<G>) -> Result<(), crate::CallError> + Send + Sync + 'static,
    {
        timers::start(&self.activation, self.this(), due, period, tick)
    }

    /// Makes `events` durable in this grain's journal, then applies them to `grain` (which is
    /// `self` in a method), and returns the sequence number of the last one.
    ///
    /// When this returns, the events are on disk: a reply sent after it never acknowledges a
    /// change that a crash could lose. A snapshot is taken when the type's
    /// [`SnapshotPolicy`](crate::SnapshotPolicy) says so.
    ///
    /// # Errors
    ///
    /// [`PersistError::Conflict`] if another activation of this grain wrote first, and
    /// [`PersistError::Storage`] if the store failed. In both cases nothing was applied and this
    /// activation is discarded when the turn ends; the next call recovers the grain from
    /// storage. [`PersistError::Encode`] if an event cannot be encoded (nothing was written).
    pub async fn persist<I>(&self, grain: &mut G, events: I) -> Result<u64, PersistError>
    where
        G: JournaledGrain,
        I: IntoIterator<Item = <G as EventSourced>::Event>,
    {
        let events: Vec<_> = events.into_iter().collect();
        let cursor = self.activation.cursor();
        if events.is_empty() {
            return Ok(cursor.seq);
        }
        let payloads = events
            .iter()
            .map(encode)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|message| self.encode_error("events", message))?;
        let storage = self.storage()?;
        let count = events.len() as u64;
        self.append(&storage, cursor, payloads).await?;
        for event in &events {
            grain.apply(event);
        }
        let seq = cursor.seq + count;
        let snapshot_due = seq - cursor.snapshot_seq >= G::OPTIONS.snapshots.every.max(1);
        self.activation.set_cursor(Cursor {
            seq,
            snapshot_seq: if snapshot_due {
                seq
            } else {
                cursor.snapshot_seq
            },
        });
        if snapshot_due {
            take_snapshot(&*grain, &storage, self.id(), seq).await;
        }
        Ok(seq)
    }

    /// Makes the whole state of `grain` (which is `self` in a method) durable, replacing the
    /// state saved before, and returns its version (1 for the first save). Superseded versions
    /// are deleted every few saves and when the grain deactivates.
    ///
    /// # Errors
    ///
    /// As [`persist`](Self::persist): on [`PersistError::Conflict`] or
    /// [`PersistError::Storage`] the activation is discarded when the turn ends.
    pub async fn save(&self, grain: &mut G) -> Result<u64, PersistError>
    where
        G: PersistentGrain + Serialize,
    {
        let payload = encode(&*grain).map_err(|message| self.encode_error("state", message))?;
        let storage = self.storage()?;
        let cursor = self.activation.cursor();
        self.append(&storage, cursor, vec![payload]).await?;
        let mut next = Cursor {
            seq: cursor.seq + 1,
            ..cursor
        };
        if cursor.seq - cursor.snapshot_seq >= PRUNE_SAVED_EVERY {
            prune_saved(&storage, self.id(), cursor.seq).await;
            next.snapshot_seq = cursor.seq;
        }
        self.activation.set_cursor(next);
        Ok(next.seq)
    }

    /// Appends after `cursor`; on failure, marks the activation for discarding.
    async fn append(
        &self,
        storage: &Storage,
        cursor: Cursor,
        payloads: Vec<Vec<u8>>,
    ) -> Result<(), PersistError> {
        storage
            .append(self.id(), self.activation.fence(), cursor.seq + 1, payloads)
            .await
            .map_err(|error| {
                let error = PersistError::from_store(self.id(), error);
                self.activation.discard_after_turn(error.to_string());
                error
            })
    }

    fn storage(&self) -> Result<Storage, PersistError> {
        self.activation
            .catalog()
            .storage()
            .ok_or_else(|| PersistError::Storage {
                grain: self.id().clone(),
                message: "the silo has no storage".to_string(),
            })
    }

    fn encode_error(&self, what: &str, message: String) -> PersistError {
        PersistError::Encode {
            grain: self.id().clone(),
            what: what.to_string(),
            message,
        }
    }
}

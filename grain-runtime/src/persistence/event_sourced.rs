//! The persistence models of a grain type and what the runtime does for each: recover on
//! activation, snapshot, and keep the activation's position in its journal.

use std::future::Future;

use futures::StreamExt as _;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Snapshot, Storage, decode, encode};
use crate::grain::GrainSpec;
use crate::id::GrainId;

/// An event-sourced grain: its state changes only by applying events, and
/// `GrainContext::persist` makes the events durable before they are applied.
///
/// Declare the grain with `#[grain(journaled)]` and implement this trait for it. The grain
/// struct itself is the state that snapshots store, so it derives `Serialize` and `Deserialize`.
///
/// # Examples
///
/// ```
/// use grain_runtime::prelude::*;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// pub enum AccountEvent { Deposited { amount: u64 } }
///
/// #[grain(journaled(snapshot_every = 100))]
/// #[derive(Default, Serialize, Deserialize)]
/// pub struct Account { balance: u64 }
///
/// impl EventSourced for Account {
///     type Event = AccountEvent;
///     fn apply(&mut self, event: &AccountEvent) {
///         match event { AccountEvent::Deposited { amount } => self.balance += amount }
///     }
/// }
///
/// #[grain]
/// impl Account {
///     pub async fn deposit(&mut self, ctx: &GrainContext<Self>, amount: u64) -> Result<u64, PersistError> {
///         ctx.persist(self, [AccountEvent::Deposited { amount }]).await?;
///         Ok(self.balance)
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is declared journaled but does not implement `EventSourced`",
    label = "journaled grains need their events and `apply`",
    note = "add `impl EventSourced for {Self} {{ type Event = ...; fn apply(&mut self, event: &Self::Event) {{ ... }} }}`"
)]
pub trait EventSourced: GrainSpec + Serialize + DeserializeOwned {
    /// What happened to the grain. Events are persisted with field and variant names, so fields
    /// added with `#[serde(default)]` and new variants keep old journals readable.
    type Event: Serialize + DeserializeOwned + Send + Sync + 'static;

    /// Changes the state by one event. It runs on every persisted event and again on recovery,
    /// so it must not fail or call out: validate in the method, before persisting.
    fn apply(&mut self, event: &Self::Event);

    /// Takes the state loaded from a snapshot. The default replaces `self`, so fields that are
    /// not persisted (`#[serde(skip)]`) take their `Default`; override it to keep such fields,
    /// for instance handles the grain's factory gave it.
    fn restore(&mut self, snapshot: Self) {
        *self = snapshot;
    }
}

/// When an event-sourced grain's state is snapshotted, set in its attribute:
/// `#[grain(journaled(snapshot_every = 100, snapshot_on_deactivate = true, prune_events = false))]`.
///
/// Saving a snapshot deletes the grain's older snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// Take a snapshot once this many events were persisted since the last one.
    pub every: u64,
    /// Take a snapshot when the activation is deactivated, if events were persisted since the last.
    pub on_deactivate: bool,
    /// Delete the events a snapshot covers once it is durable.
    pub prune_events: bool,
}

impl SnapshotPolicy {
    /// A snapshot every 1000 events and on deactivation; events are kept.
    pub const DEFAULT: SnapshotPolicy = SnapshotPolicy {
        every: 1000,
        on_deactivate: true,
        prune_events: false,
    };
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Where an activation stands in its grain's journal.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    /// The last durable sequence number.
    pub(crate) seq: u64,
    /// The sequence number of the latest snapshot taken.
    pub(crate) snapshot_seq: u64,
}

/// How a grain type's state is kept; chosen by `#[grain]` on the struct.
#[doc(hidden)]
pub trait PersistenceModel<G: GrainSpec>: Send + Sync + 'static {
    /// Whether the grain needs storage.
    const DURABLE: bool;

    /// Restores `grain` from `storage`; the error says what could not be read.
    fn recover<'a>(
        grain: &'a mut G,
        storage: &'a Storage,
        id: &'a GrainId,
    ) -> impl Future<Output = Result<Cursor, String>> + Send + 'a;

    /// Runs when an activation is deactivated, after `on_deactivate`.
    fn deactivating<'a>(
        grain: &'a G,
        storage: &'a Storage,
        id: &'a GrainId,
        cursor: Cursor,
    ) -> impl Future<Output = ()> + Send + 'a;
}

/// Kept in memory only: the default.
#[doc(hidden)]
pub struct Volatile;

impl<G: GrainSpec> PersistenceModel<G> for Volatile {
    const DURABLE: bool = false;

    async fn recover(_: &mut G, _: &Storage, _: &GrainId) -> Result<Cursor, String> {
        Ok(Cursor::default())
    }

    async fn deactivating(_: &G, _: &Storage, _: &GrainId, _: Cursor) {}
}

/// Event-sourced: `#[grain(journaled)]`.
#[doc(hidden)]
pub struct Journaled;

/// Marks a grain declared `#[grain(journaled)]`, which may call `GrainContext::persist`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not declared as an event-sourced grain",
    label = "`persist` needs a journaled grain",
    note = "write `#[grain(journaled)]` on the struct `{Self}` and implement `EventSourced` for it"
)]
pub trait JournaledGrain: EventSourced {}

impl<G: EventSourced> PersistenceModel<G> for Journaled {
    const DURABLE: bool = true;

    async fn recover(grain: &mut G, storage: &Storage, id: &GrainId) -> Result<Cursor, String> {
        let mut cursor = Cursor::default();
        let snapshot = storage
            .snapshots()
            .latest(id)
            .await
            .map_err(|error| error.to_string())?;
        if let Some(snapshot) = snapshot {
            let state = decode(&snapshot.payload).map_err(|error| {
                format!(
                    "snapshot of {id} at sequence {} cannot be decoded: {error}",
                    snapshot.seq
                )
            })?;
            grain.restore(state);
            cursor.seq = snapshot.seq;
            cursor.snapshot_seq = snapshot.seq;
        }
        let mut entries = storage.journal().read(id, cursor.seq + 1);
        while let Some(entry) = entries.next().await {
            let entry = entry.map_err(|error| error.to_string())?;
            if entry.seq != cursor.seq + 1 {
                return Err(format!(
                    "journal of {id} jumps from sequence {} to {}: entries are missing",
                    cursor.seq, entry.seq
                ));
            }
            let event: G::Event = decode(&entry.payload).map_err(|error| {
                format!("event {} of {id} cannot be decoded: {error}", entry.seq)
            })?;
            grain.apply(&event);
            cursor.seq = entry.seq;
        }
        Ok(cursor)
    }

    async fn deactivating(grain: &G, storage: &Storage, id: &GrainId, cursor: Cursor) {
        if G::OPTIONS.snapshots.on_deactivate && cursor.seq > cursor.snapshot_seq {
            take_snapshot(grain, storage, id, cursor.seq).await;
        }
    }
}

/// Saves a snapshot of `grain` at `seq`, then prunes what it supersedes. Failures are logged:
/// a missing snapshot only makes the next recovery replay more events.
pub(crate) async fn take_snapshot<G: EventSourced>(
    grain: &G,
    storage: &Storage,
    id: &GrainId,
    seq: u64,
) {
    let payload = match encode(grain) {
        Ok(payload) => payload,
        Err(error) => {
            tracing::warn!(grain = %id, seq, "snapshot not taken, the state cannot be encoded: {error}");
            return;
        }
    };
    if let Err(error) = storage
        .snapshots()
        .save(id, Snapshot { seq, payload })
        .await
    {
        tracing::warn!(grain = %id, seq, "snapshot not saved: {error}");
        return;
    }
    let snapshots = storage.snapshots().prune(id, seq);
    let events = async {
        if G::OPTIONS.snapshots.prune_events {
            storage.journal().prune(id, seq).await
        } else {
            Ok(())
        }
    };
    let (snapshots, events) = futures::join!(snapshots, events);
    if let Err(error) = snapshots.and(events) {
        tracing::warn!(grain = %id, seq, "pruning after a snapshot failed: {error}");
    }
}

/// How many superseded saved states a persistent grain leaves before deleting them.
pub(crate) const PRUNE_SAVED_EVERY: u64 = 64;

/// Deletes the saved states of a persistent grain up to and including `through`. A failure is
/// logged: superseded states are never read.
pub(crate) async fn prune_saved(storage: &Storage, id: &GrainId, through: u64) {
    if let Err(error) = storage.journal().prune(id, through).await {
        tracing::warn!(grain = %id, through, "deleting superseded saved states failed: {error}");
    }
}

/// Whole-state persistence: `#[grain(persistent)]`. The cursor's `snapshot_seq` is the version
/// up to which superseded states were deleted.
#[doc(hidden)]
pub struct Saved;

/// Marks a grain declared `#[grain(persistent)]`, which may call `GrainContext::save`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not declared as a persistent grain",
    label = "`save` needs a persistent grain",
    note = "write `#[grain(persistent)]` on the struct `{Self}` and derive `Serialize` and `Deserialize` for it"
)]
pub trait PersistentGrain: GrainSpec {}

impl<G: GrainSpec + Serialize + DeserializeOwned> PersistenceModel<G> for Saved {
    const DURABLE: bool = true;

    async fn recover(grain: &mut G, storage: &Storage, id: &GrainId) -> Result<Cursor, String> {
        let last = storage
            .journal()
            .last_seq(id)
            .await
            .map_err(|error| error.to_string())?;
        if last == 0 {
            return Ok(Cursor::default());
        }
        let entry = storage
            .journal()
            .read(id, last)
            .next()
            .await
            .transpose()
            .map_err(|error| error.to_string())?
            .filter(|entry| entry.seq == last)
            .ok_or_else(|| format!("saved state {last} of {id} is missing"))?;
        *grain = decode(&entry.payload)
            .map_err(|error| format!("saved state {last} of {id} cannot be decoded: {error}"))?;
        Ok(Cursor {
            seq: last,
            snapshot_seq: 0,
        })
    }

    async fn deactivating(_: &G, storage: &Storage, id: &GrainId, cursor: Cursor) {
        if cursor.seq > cursor.snapshot_seq + 1 {
            prune_saved(storage, id, cursor.seq - 1).await;
        }
    }
}

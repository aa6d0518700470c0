//! Durable grain state: the [`Journal`] and [`SnapshotStore`] traits, the embedded sled and redb
//! stores behind them, and the [`Storage`] handle a silo is built with.
//!
//! Two models share the store. An **event-sourced** grain (`#[grain(journaled)]`, see
//! [`EventSourced`]) persists events with `GrainContext::persist`; its state is its latest
//! snapshot plus the events after it. A **persistent-state** grain (`#[grain(persistent)]`) saves
//! its whole state with `GrainContext::save`. Either way a write is acknowledged only once it is
//! durable, every record carries a checksum, and an append names the sequence number it expects,
//! so a stale activation can never fork a grain's history.

mod codec;
pub(crate) mod custody;
mod embedded;
mod error;
mod event_sourced;
pub(crate) mod fencing;
mod journal;
mod keys;
#[cfg(feature = "postgres")]
mod postgres;
mod record;
mod snapshot;

pub use error::{PersistError, StoreError};
pub use event_sourced::{EventSourced, SnapshotPolicy};
pub use journal::{EntryStream, Journal, JournalEntry};
#[cfg(feature = "postgres")]
pub use postgres::{CopyReport, PostgresConfig, copy_to_postgres};
pub use snapshot::{Snapshot, SnapshotStore};

pub(crate) use codec::{decode, encode};
#[doc(hidden)]
pub use event_sourced::{
    Cursor, Journaled, JournaledGrain, PersistenceModel, PersistentGrain, Saved, Volatile,
};

pub(crate) use event_sourced::{PRUNE_SAVED_EVERY, prune_saved, take_snapshot};

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::id::GrainId;

/// Where a silo keeps grain state: a [`Journal`] and a [`SnapshotStore`].
///
/// # Examples
///
/// ```no_run
/// # use grain_runtime::{Silo, Storage};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let storage = Storage::redb("/var/lib/my-silo")?;
/// let silo = Silo::builder().storage(storage).start().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Storage {
    name: &'static str,
    journal: Arc<dyn Journal>,
    snapshots: Arc<dyn SnapshotStore>,
    /// Set for a store that only this silo reaches, whose grain state must move with ownership.
    custody: Option<Arc<dyn custody::Custody>>,
    /// Set for a store that silos share, where each activation claims its grain.
    fencing: Option<Arc<dyn fencing::Fencing>>,
}

impl Storage {
    /// The embedded sled store in directory `dir`, created if missing.
    ///
    /// # Errors
    ///
    /// [`StoreError::Open`] if the directory cannot be opened, for instance because another
    /// process holds it.
    #[cfg(feature = "sled")]
    pub fn sled(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let store = Arc::new(embedded::EmbeddedStore::new(embedded::SledEngine::open(
            dir.as_ref(),
        )?));
        Ok(Self::embedded("sled", store))
    }

    /// The embedded redb store in directory `dir` (file `grains.redb`), created if missing. This
    /// is the default of the `silo` host.
    ///
    /// # Errors
    ///
    /// [`StoreError::Open`] if the file cannot be opened, for instance because another process
    /// holds it.
    #[cfg(feature = "redb")]
    pub fn redb(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let store = Arc::new(embedded::EmbeddedStore::new(embedded::RedbEngine::open(
            dir.as_ref(),
        )?));
        Ok(Self::embedded("redb", store))
    }

    /// The PostgreSQL store described by `config`, shared by the silos of a cluster: grains
    /// re-activate on any silo at once, with no hand-off of state. Connects, and creates or
    /// migrates the schema, before it returns.
    ///
    /// # Errors
    ///
    /// [`StoreError::Open`] naming the server (without its password) if the connection string
    /// or schema name is invalid, the server cannot be reached, the migrations fail, or the
    /// server does not make commits durable.
    #[cfg(feature = "postgres")]
    pub async fn postgres(config: PostgresConfig) -> Result<Self, StoreError> {
        let store = Arc::new(postgres::PostgresStore::open(&config).await?);
        Ok(Self {
            fencing: Some(Arc::clone(&store) as Arc<dyn fencing::Fencing>),
            ..Self::new("postgres", Arc::clone(&store) as Arc<dyn Journal>, store)
        })
    }

    fn embedded<S: Journal + SnapshotStore + custody::Custody>(
        name: &'static str,
        store: Arc<S>,
    ) -> Self {
        Self {
            name,
            journal: Arc::clone(&store) as Arc<dyn Journal>,
            snapshots: Arc::clone(&store) as Arc<dyn SnapshotStore>,
            custody: Some(store),
            fencing: None,
        }
    }

    /// Storage on any journal and snapshot store, such as a database shared by a cluster.
    pub fn new(
        name: &'static str,
        journal: Arc<dyn Journal>,
        snapshots: Arc<dyn SnapshotStore>,
    ) -> Self {
        Self {
            name,
            journal,
            snapshots,
            custody: None,
            fencing: None,
        }
    }

    /// The name of the storage backend, such as `"sled"`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The journal.
    pub fn journal(&self) -> &Arc<dyn Journal> {
        &self.journal
    }

    /// The snapshot store.
    pub fn snapshots(&self) -> &Arc<dyn SnapshotStore> {
        &self.snapshots
    }

    /// How grain state moves between silos, for a store that only this silo reaches.
    pub(crate) fn custody(&self) -> Option<&Arc<dyn custody::Custody>> {
        self.custody.as_ref()
    }

    /// Claims `grain` for a new activation in a store that silos share; `None` for a store
    /// that does not fence.
    pub(crate) async fn claim(
        &self,
        grain: &GrainId,
    ) -> Result<Option<fencing::Fence>, StoreError> {
        match &self.fencing {
            Some(fencing) => fencing.claim(grain).await.map(Some),
            None => Ok(None),
        }
    }

    /// Appends `events` to `grain`'s journal from `first_seq`, under `fence` if the activation
    /// holds one.
    pub(crate) async fn append(
        &self,
        grain: &GrainId,
        fence: Option<fencing::Fence>,
        first_seq: u64,
        events: Vec<Vec<u8>>,
    ) -> Result<(), StoreError> {
        match (&self.fencing, fence) {
            (Some(fencing), Some(fence)) => {
                fencing.append_fenced(grain, fence, first_seq, events).await
            }
            _ => self.journal.append(grain, first_seq, events).await,
        }
    }
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Storage")
            .field("backend", &self.name)
            .finish()
    }
}

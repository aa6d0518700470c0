//! Support for the tests of durable grain state: the embedded backends each scenario runs on,
//! direct access to the records of a closed store, and a journal that can hold reads or fail
//! appends on request.
//!
//! A test file writes each scenario as `async fn scenario(backend: Backend)` and lists the
//! scenarios in [`backend_tests!`](crate::backend_tests), which defines `sled::scenario` and
//! `redb::scenario`.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use futures::{StreamExt as _, TryStreamExt as _};
use grain_runtime::{EntryStream, GrainId, Journal, JournalEntry, Storage, StoreError};
use redb::{ReadableDatabase as _, ReadableTable as _, TableDefinition};

use crate::Gate;

/// An embedded storage engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// [`Storage::sled`].
    Sled,
    /// [`Storage::redb`].
    Redb,
}

/// Defines one test per embedded backend for each listed scenario: `sled::scenario` and
/// `redb::scenario` call `scenario(Backend::Sled)` and `scenario(Backend::Redb)` on a
/// multi-threaded runtime.
#[macro_export]
macro_rules! backend_tests {
    ($($scenario:ident),* $(,)?) => {
        mod sled {
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::durable::Backend::Sled).await;
                }
            )*
        }

        mod redb {
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::durable::Backend::Redb).await;
                }
            )*
        }
    };
}

/// A temporary data directory of one backend, deleted when dropped.
#[derive(Debug)]
pub struct DataDir {
    backend: Backend,
    dir: tempfile::TempDir,
}

impl DataDir {
    /// A new, empty directory.
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            dir: tempfile::tempdir().expect("creating a temporary directory"),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Opens the store in the directory.
    ///
    /// A store can be open only once at a time. A silo lets go of its store when
    /// [`Silo::shutdown`](grain_runtime::Silo::shutdown) returns, so once the test has dropped its
    /// own handles the directory can be opened again at once.
    ///
    /// # Panics
    ///
    /// If the store cannot be opened, for instance because a handle on it is still alive.
    pub fn open(&self) -> Storage {
        let dir = self.path();
        match self.backend {
            Backend::Sled => Storage::sled(dir).expect("opening the sled store"),
            Backend::Redb => Storage::redb(dir).expect("opening the redb store"),
        }
    }

    /// Opens the database with the engine's own crate, bypassing the runtime. Every [`Storage`]
    /// on the directory must be gone (see [`open`](Self::open)).
    ///
    /// # Panics
    ///
    /// If the database cannot be opened.
    pub fn raw(&self) -> RawStore {
        let dir = self.path();
        let db = match self.backend {
            Backend::Sled => RawDb::Sled(open_closed_sled(dir)),
            Backend::Redb => RawDb::Redb(
                ::redb::Database::open(dir.join("grains.redb")).expect("opening redb directly"),
            ),
        };
        RawStore { db }
    }
}

/// The two key spaces of an embedded store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Journal entries, and one head record per grain.
    Journal,
    /// Snapshots.
    Snapshots,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Journal => "journal",
            Table::Snapshots => "snapshots",
        }
    }
}

/// A closed store's database opened with the engine's crate, to count or damage its records.
///
/// Records are found by their payload rather than their key, so that the tests do not depend on
/// the key layout: a stored value is a 5-byte header (format and checksum) and the payload.
pub struct RawStore {
    db: RawDb,
}

enum RawDb {
    Sled(::sled::Db),
    Redb(::redb::Database),
}

const HEADER: usize = 5;

impl RawStore {
    /// Every record in `table` as (key, stored value), in key order.
    pub fn records(&self, table: Table) -> Vec<(Vec<u8>, Vec<u8>)> {
        match &self.db {
            RawDb::Sled(db) => db
                .open_tree(table.name())
                .expect("opening the sled tree")
                .iter()
                .map(|item| {
                    let (key, value) = item.expect("scanning the sled tree");
                    (key.to_vec(), value.to_vec())
                })
                .collect(),
            RawDb::Redb(db) => {
                let read = db.begin_read().expect("starting a redb read");
                let Ok(found) = read.open_table(definition(table)) else {
                    return Vec::new();
                };
                found
                    .iter()
                    .expect("scanning the redb table")
                    .map(|item| {
                        let (key, value) = item.expect("scanning the redb table");
                        (key.value().to_vec(), value.value().to_vec())
                    })
                    .collect()
            }
        }
    }

    /// How many records in `table` have the payload `payload`.
    pub fn count(&self, table: Table, payload: &[u8]) -> usize {
        self.records(table)
            .iter()
            .filter(|(_, value)| holds(value, payload))
            .count()
    }

    /// Flips a bit of the payload of the one record in `table` whose payload is `payload`.
    ///
    /// # Panics
    ///
    /// Unless exactly one record has that payload.
    pub fn damage(&self, table: Table, payload: &[u8]) {
        let key = self.key_of(table, payload);
        let mut value = self
            .records(table)
            .into_iter()
            .find(|(k, _)| *k == key)
            .map(|(_, value)| value)
            .expect("the record found a moment ago");
        *value.last_mut().expect("a payload is never empty") ^= 0x01;
        self.write(table, &key, Some(&value));
    }

    /// Deletes the one record in `table` whose payload is `payload`.
    ///
    /// # Panics
    ///
    /// Unless exactly one record has that payload.
    pub fn delete(&self, table: Table, payload: &[u8]) {
        let key = self.key_of(table, payload);
        self.write(table, &key, None);
    }

    fn key_of(&self, table: Table, payload: &[u8]) -> Vec<u8> {
        let found: Vec<Vec<u8>> = self
            .records(table)
            .into_iter()
            .filter(|(_, value)| holds(value, payload))
            .map(|(key, _)| key)
            .collect();
        match <[Vec<u8>; 1]>::try_from(found) {
            Ok([key]) => key,
            Err(found) => panic!(
                "{} {} records have the payload {payload:02x?}, expected one",
                found.len(),
                table.name()
            ),
        }
    }

    fn write(&self, table: Table, key: &[u8], value: Option<&[u8]>) {
        match &self.db {
            RawDb::Sled(db) => {
                let tree = db.open_tree(table.name()).expect("opening the sled tree");
                match value {
                    Some(value) => tree.insert(key, value).map(drop),
                    None => tree.remove(key).map(drop),
                }
                .expect("writing to sled");
                db.flush().expect("flushing sled");
            }
            RawDb::Redb(db) => {
                let write = db.begin_write().expect("starting a redb write");
                {
                    let mut opened = write
                        .open_table(definition(table))
                        .expect("opening the redb table");
                    match value {
                        Some(value) => opened.insert(key, value).map(drop),
                        None => opened.remove(key).map(drop),
                    }
                    .expect("writing to redb");
                }
                write.commit().expect("committing to redb");
            }
        }
    }
}

/// Whether the stored `value` is a record of `payload`.
fn holds(value: &[u8], payload: &[u8]) -> bool {
    value.len() == HEADER + payload.len() && value.ends_with(payload)
}

fn definition(table: Table) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(table.name())
}

/// Every journal entry of `grain`, from the first one kept.
///
/// # Panics
///
/// If the journal cannot be read.
pub async fn journal_entries(storage: &Storage, grain: &GrainId) -> Vec<JournalEntry> {
    storage
        .journal()
        .read(grain, 1)
        .try_collect()
        .await
        .expect("reading the journal")
}

/// The sequence numbers of [`journal_entries`].
pub async fn journal_seqs(storage: &Storage, grain: &GrainId) -> Vec<u64> {
    journal_entries(storage, grain)
        .await
        .iter()
        .map(|entry| entry.seq)
        .collect()
}

/// A journal that passes everything to another one, but can hold reads at a gate (to keep a
/// grain recovering) and fail appends (as a broken disk would).
pub struct ControlledJournal {
    inner: Arc<dyn Journal>,
    read_gate: Mutex<Option<Gate>>,
    failing_appends: AtomicUsize,
}

impl ControlledJournal {
    /// `storage` with its journal wrapped in a [`ControlledJournal`], and the wrapper.
    pub fn wrap(storage: &Storage) -> (Storage, Arc<ControlledJournal>) {
        let journal = Arc::new(ControlledJournal {
            inner: Arc::clone(storage.journal()),
            read_gate: Mutex::new(None),
            failing_appends: AtomicUsize::new(0),
        });
        let wrapped = Storage::new(
            "controlled",
            Arc::clone(&journal) as Arc<dyn Journal>,
            Arc::clone(storage.snapshots()),
        );
        (wrapped, journal)
    }

    /// From now on, reads start only once the returned gate is open; each read passes it once.
    pub fn hold_reads(&self) -> Gate {
        let gate = Gate::closed();
        *self
            .read_gate
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(gate.clone());
        gate
    }

    /// Makes the next `n` appends fail with [`StoreError::Backend`] without writing anything.
    pub fn fail_appends(&self, n: usize) {
        self.failing_appends.store(n, Ordering::SeqCst);
    }
}

#[async_trait]
impl Journal for ControlledJournal {
    async fn append(
        &self,
        grain: &GrainId,
        first_seq: u64,
        events: Vec<Vec<u8>>,
    ) -> Result<(), StoreError> {
        let fail = self
            .failing_appends
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if fail {
            return Err(StoreError::Backend {
                backend: "controlled",
                message: "the disk is on fire".to_string(),
            });
        }
        self.inner.append(grain, first_seq, events).await
    }

    fn read(&self, grain: &GrainId, from_seq: u64) -> EntryStream {
        let entries = self.inner.read(grain, from_seq);
        let gate = self
            .read_gate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match gate {
            None => entries,
            Some(gate) => futures::stream::once(async move {
                gate.pass().await;
                entries
            })
            .flatten()
            .boxed(),
        }
    }

    async fn last_seq(&self, grain: &GrainId) -> Result<u64, StoreError> {
        self.inner.last_seq(grain).await
    }

    async fn prune(&self, grain: &GrainId, through_seq: u64) -> Result<(), StoreError> {
        self.inner.prune(grain, through_seq).await
    }
}

/// Opens the sled database in `dir` once the store that just closed it lets go of its lock: sled
/// releases it from a background thread, a moment after the last handle drops.
///
/// # Panics
///
/// If the database cannot be opened within [`WAIT`](crate::WAIT).
pub fn open_closed_sled(dir: &Path) -> ::sled::Db {
    let deadline = std::time::Instant::now() + crate::WAIT;
    loop {
        match ::sled::open(dir) {
            Err(::sled::Error::Io(error))
                if error.to_string().starts_with("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            opened => return opened.expect("opening the closed sled database"),
        }
    }
}

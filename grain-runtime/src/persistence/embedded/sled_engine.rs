//! The sled engine. sled makes writes durable only on `flush`, so every commit ends with one.
//!
//! On Linux, sled's flush ends with `sync_file_range`, which neither flushes the drive's write
//! cache nor the file's metadata, so it does not make writes durable across a power loss or a
//! kernel crash. Every commit therefore also calls `fdatasync` on sled's log file.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{Engine, ReadBatch, Tree, WriteBatch};
use crate::persistence::StoreError;

/// The file sled 0.34 keeps its log in, inside its directory.
const LOG_FILE: &str = "db";

/// A sled database with a journal tree and a snapshot tree.
pub(crate) struct SledEngine {
    db: sled::Db,
    /// sled's log file, opened only to `fdatasync` it.
    log: std::fs::File,
    journal: sled::Tree,
    snapshots: sled::Tree,
}

/// How long an open waits for the directory's lock, which sled releases only once its background
/// threads let go of a database that was just dropped.
const LOCK_WAIT: Duration = Duration::from_secs(1);

/// Opens the database in `dir`, waiting up to [`LOCK_WAIT`] while its lock is held: a silo that
/// restarts in the same directory must not fail because the previous handle is still closing.
/// A directory that another live store holds still fails, after the wait.
fn open_when_released(dir: &Path) -> Result<sled::Db, sled::Error> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match sled::Config::new().path(dir).open() {
            // sled reports the lock as an `Other` error whose text names it.
            Err(sled::Error::Io(error))
                if error.to_string().starts_with("could not acquire lock")
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            outcome => return outcome,
        }
    }
}

impl SledEngine {
    /// Opens (or creates) the database in directory `dir`.
    pub(crate) fn open(dir: &Path) -> Result<Self, StoreError> {
        let open_error = |error: sled::Error| StoreError::Open {
            backend: Self::NAME,
            path: dir.display().to_string(),
            message: error.to_string(),
        };
        let db = open_when_released(dir).map_err(open_error)?;
        let journal = db.open_tree("journal").map_err(open_error)?;
        let snapshots = db.open_tree("snapshots").map_err(open_error)?;
        let io_error = |error: std::io::Error| StoreError::Open {
            backend: Self::NAME,
            path: dir.display().to_string(),
            message: format!("cannot open sled's log file to sync it: {error}"),
        };
        let log = std::fs::File::open(dir.join(LOG_FILE)).map_err(io_error)?;
        std::fs::File::open(dir)
            .and_then(|dir| dir.sync_all())
            .map_err(io_error)?;
        Ok(Self {
            db,
            log,
            journal,
            snapshots,
        })
    }

    fn tree(&self, tree: Tree) -> &sled::Tree {
        match tree {
            Tree::Journal => &self.journal,
            Tree::Snapshots => &self.snapshots,
        }
    }
}

/// Pending writes per tree; `None` deletes.
struct SledBatch<'a> {
    engine: &'a SledEngine,
    pending: [BTreeMap<Vec<u8>, Option<Vec<u8>>>; 2],
}

fn slot(tree: Tree) -> usize {
    match tree {
        Tree::Journal => 0,
        Tree::Snapshots => 1,
    }
}

impl WriteBatch for SledBatch<'_> {
    fn get(&mut self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        if let Some(pending) = self.pending[slot(tree)].get(key) {
            return Ok(pending.clone());
        }
        get(self.engine.tree(tree), key)
    }

    fn put(&mut self, tree: Tree, key: Vec<u8>, value: Vec<u8>) -> Result<(), String> {
        self.pending[slot(tree)].insert(key, Some(value));
        Ok(())
    }

    fn delete(&mut self, tree: Tree, key: Vec<u8>) -> Result<(), String> {
        self.pending[slot(tree)].insert(key, None);
        Ok(())
    }

    fn delete_range(&mut self, tree: Tree, start: &[u8], end: &[u8]) -> Result<(), String> {
        let pending = &mut self.pending[slot(tree)];
        for value in pending.range_mut(start.to_vec()..end.to_vec()) {
            *value.1 = None;
        }
        for key in self.engine.tree(tree).range(start..end).keys() {
            let key = key.map_err(|error| error.to_string())?;
            pending.insert(key.to_vec(), None);
        }
        Ok(())
    }
}

impl Engine for SledEngine {
    const NAME: &'static str = "sled";

    fn write(
        &self,
        body: &mut dyn FnMut(&mut dyn WriteBatch) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut batch = SledBatch {
            engine: self,
            pending: [BTreeMap::new(), BTreeMap::new()],
        };
        body(&mut batch)?;
        let [journal, snapshots] = batch.pending;
        // Snapshots first: a crash between the two never leaves pruned events without the
        // snapshot that covers them.
        for (tree, pending) in [(&self.snapshots, snapshots), (&self.journal, journal)] {
            if pending.is_empty() {
                continue;
            }
            let mut writes = sled::Batch::default();
            for (key, value) in pending {
                match value {
                    Some(value) => writes.insert(key, value),
                    None => writes.remove(key),
                }
            }
            tree.apply_batch(writes)
                .map_err(|error| error.to_string())?;
        }
        self.db.flush().map_err(|error| error.to_string())?;
        self.log
            .sync_data()
            .map_err(|error| format!("fdatasync of sled's log failed: {error}"))
    }

    fn read(
        &self,
        body: &mut dyn FnMut(&mut dyn ReadBatch) -> Result<(), String>,
    ) -> Result<(), String> {
        body(&mut SledView { engine: self })
    }
}

fn get(tree: &sled::Tree, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
    tree.get(key)
        .map(|value| value.map(|value| value.to_vec()))
        .map_err(|error| error.to_string())
}

/// Reads straight from the trees: sled has no read transactions, and the runtime never reads a
/// grain's records while that grain is being written.
struct SledView<'a> {
    engine: &'a SledEngine,
}

impl ReadBatch for SledView<'_> {
    fn get(&mut self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        get(self.engine.tree(tree), key)
    }

    fn scan(
        &mut self,
        tree: Tree,
        start: &[u8],
        end: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), String> {
        for item in self.engine.tree(tree).range(start..end) {
            let (key, value) = item.map_err(|error| error.to_string())?;
            if !visit(&key, &value) {
                break;
            }
        }
        Ok(())
    }
}

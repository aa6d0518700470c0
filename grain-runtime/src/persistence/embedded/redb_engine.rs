//! The redb engine: one file, ACID write transactions, fsync on commit.

use std::path::Path;

use redb::{Database, ReadOnlyTable, ReadableDatabase as _, ReadableTable as _, TableDefinition};

use super::{Engine, ReadBatch, Tree, WriteBatch};
use crate::persistence::StoreError;

const JOURNAL: TableDefinition<'static, &[u8], &[u8]> = TableDefinition::new("journal");
const SNAPSHOTS: TableDefinition<'static, &[u8], &[u8]> = TableDefinition::new("snapshots");

/// The file inside the data directory.
const FILE: &str = "grains.redb";

/// Where a new database is built before it is renamed to [`FILE`].
const CREATING: &str = "grains.redb.creating";

/// A redb database with a journal table and a snapshot table.
pub(crate) struct RedbEngine {
    db: Database,
}

impl RedbEngine {
    /// Opens (or creates) the database file in directory `dir`.
    ///
    /// A new file is built under a temporary name and renamed into place once its header and
    /// tables are durable, so a crash while creating it never leaves a file redb cannot open.
    pub(crate) fn open(dir: &Path) -> Result<Self, StoreError> {
        let open_error = |message: String| StoreError::Open {
            backend: Self::NAME,
            path: dir.display().to_string(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|error| open_error(error.to_string()))?;
        let file = dir.join(FILE);
        if !file.exists() {
            Self::create(dir).map_err(open_error)?;
        }
        let db = Database::open(&file).map_err(|error| open_error(error.to_string()))?;
        Ok(Self { db })
    }

    /// Builds an empty database with both tables and renames it to [`FILE`] durably.
    fn create(dir: &Path) -> Result<(), String> {
        let creating = dir.join(CREATING);
        match std::fs::remove_file(&creating) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(format!("removing {}: {error}", creating.display())),
        }
        let engine = Self {
            db: Database::create(&creating).map_err(|error| error.to_string())?,
        };
        engine.write(&mut |_| Ok(()))?;
        drop(engine);
        std::fs::rename(&creating, dir.join(FILE)).map_err(|error| error.to_string())?;
        std::fs::File::open(dir)
            .and_then(|directory| directory.sync_all())
            .map_err(|error| format!("syncing {}: {error}", dir.display()))
    }
}

struct RedbBatch<'a> {
    journal: redb::Table<'a, &'static [u8], &'static [u8]>,
    snapshots: redb::Table<'a, &'static [u8], &'static [u8]>,
}

impl<'a> RedbBatch<'a> {
    fn table(&mut self, tree: Tree) -> &mut redb::Table<'a, &'static [u8], &'static [u8]> {
        match tree {
            Tree::Journal => &mut self.journal,
            Tree::Snapshots => &mut self.snapshots,
        }
    }
}

impl WriteBatch for RedbBatch<'_> {
    fn get(&mut self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let found = self
            .table(tree)
            .get(key)
            .map_err(|error| error.to_string())?;
        Ok(found.map(|value| value.value().to_vec()))
    }

    fn put(&mut self, tree: Tree, key: Vec<u8>, value: Vec<u8>) -> Result<(), String> {
        self.table(tree)
            .insert(key.as_slice(), value.as_slice())
            .map(drop)
            .map_err(|error| error.to_string())
    }

    fn delete(&mut self, tree: Tree, key: Vec<u8>) -> Result<(), String> {
        self.table(tree)
            .remove(key.as_slice())
            .map(drop)
            .map_err(|error| error.to_string())
    }

    fn delete_range(&mut self, tree: Tree, start: &[u8], end: &[u8]) -> Result<(), String> {
        self.table(tree)
            .retain_in(start..end, |_, _| false)
            .map_err(|error| error.to_string())
    }
}

impl Engine for RedbEngine {
    const NAME: &'static str = "redb";

    fn write(
        &self,
        body: &mut dyn FnMut(&mut dyn WriteBatch) -> Result<(), String>,
    ) -> Result<(), String> {
        let txn = self.db.begin_write().map_err(|error| error.to_string())?;
        {
            let mut batch = RedbBatch {
                journal: txn.open_table(JOURNAL).map_err(|error| error.to_string())?,
                snapshots: txn
                    .open_table(SNAPSHOTS)
                    .map_err(|error| error.to_string())?,
            };
            body(&mut batch)?;
        }
        txn.commit().map_err(|error| error.to_string())
    }

    fn read(
        &self,
        body: &mut dyn FnMut(&mut dyn ReadBatch) -> Result<(), String>,
    ) -> Result<(), String> {
        let txn = self.db.begin_read().map_err(|error| error.to_string())?;
        let mut view = RedbView {
            journal: txn.open_table(JOURNAL).map_err(|error| error.to_string())?,
            snapshots: txn
                .open_table(SNAPSHOTS)
                .map_err(|error| error.to_string())?,
        };
        body(&mut view)
    }
}

/// One read transaction: a consistent view of both tables.
struct RedbView {
    journal: ReadOnlyTable<&'static [u8], &'static [u8]>,
    snapshots: ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl RedbView {
    fn table(&self, tree: Tree) -> &ReadOnlyTable<&'static [u8], &'static [u8]> {
        match tree {
            Tree::Journal => &self.journal,
            Tree::Snapshots => &self.snapshots,
        }
    }
}

impl ReadBatch for RedbView {
    fn get(&mut self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let found = self
            .table(tree)
            .get(key)
            .map_err(|error| error.to_string())?;
        Ok(found.map(|value| value.value().to_vec()))
    }

    fn scan(
        &mut self,
        tree: Tree,
        start: &[u8],
        end: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), String> {
        let range = self
            .table(tree)
            .range(start..end)
            .map_err(|error| error.to_string())?;
        for item in range {
            let (key, value) = item.map_err(|error| error.to_string())?;
            if !visit(key.value(), value.value()) {
                break;
            }
        }
        Ok(())
    }
}

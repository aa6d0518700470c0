//! The embedded stores pass the storage conformance suite: every property in
//! `grain_tests::storage_conformance`, run against sled and against redb, each on a fresh
//! temporary directory. The corruptors here open the closed database with the engine's own crate
//! and flip a byte of one stored value.

use std::path::Path;

use grain_runtime::Storage;
use grain_tests::storage_conformance::{self, RecordKind, StoredRecord};

/// One test per conformance property, in a module named after the backend, so that test names
/// read `sled::data_survives_reopening`. `$open` opens the store in a directory and `$corrupt`
/// damages a record of the closed store in that directory.
macro_rules! conformance_tests {
    ($backend:ident, open: $open:path, corrupt: $corrupt:path, properties: [$($property:ident),* $(,)?]) => {
        mod $backend {
            use super::*;

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $property() {
                    let dir = tempfile::tempdir().expect("creating a temporary directory");
                    storage_conformance::$property(async || $open(dir.path())).await;
                }
            )*

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn corrupt_journal_entry_is_reported() {
                let dir = tempfile::tempdir().expect("creating a temporary directory");
                storage_conformance::corrupt_journal_entry_is_reported(
                    async || $open(dir.path()),
                    async |record| $corrupt(dir.path(), &record),
                )
                .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn corrupt_snapshot_is_reported() {
                let dir = tempfile::tempdir().expect("creating a temporary directory");
                storage_conformance::corrupt_snapshot_is_reported(
                    async || $open(dir.path()),
                    async |record| $corrupt(dir.path(), &record),
                )
                .await;
            }
        }
    };
}

macro_rules! backends {
    ($($backend:ident, open: $open:path, corrupt: $corrupt:path;)*) => {
        $(
            conformance_tests!($backend, open: $open, corrupt: $corrupt, properties: [
                sequence_numbers_are_contiguous_from_one,
                appends_are_all_or_nothing,
                appends_at_the_wrong_seq_conflict,
                grains_never_see_each_others_records,
                last_seq_survives_pruning,
                prune_deletes_exactly_through_seq,
                latest_snapshot_has_the_highest_seq,
                saving_a_snapshot_again_replaces_it,
                snapshot_prune_deletes_those_before_seq,
                data_survives_reopening,
                concurrent_appends_to_many_grains_all_land,
                racing_appends_to_one_grain_have_one_winner,
                long_journal_streams_in_order,
            ]);
        )*
    };
}

backends! {
    sled, open: open_sled, corrupt: corrupt_sled;
    redb, open: open_redb, corrupt: corrupt_redb;
}

fn open_sled(dir: &Path) -> Storage {
    Storage::sled(dir).expect("opening the sled store")
}

fn open_redb(dir: &Path) -> Storage {
    Storage::redb(dir).expect("opening the redb store")
}

/// The sled tree or redb table that holds records of `kind`.
fn table_name(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::JournalEntry => "journal",
        RecordKind::Snapshot => "snapshots",
    }
}

/// Flips a bit in the last byte of `value`, which is the last byte of the record's payload.
fn damaged(value: &[u8]) -> Vec<u8> {
    let mut value = value.to_vec();
    let last = value.last_mut().expect("a stored value is never empty");
    *last ^= 0x01;
    value
}

/// Damages `record` in the closed sled database in `dir`.
fn corrupt_sled(dir: &Path, record: &StoredRecord) {
    let db = grain_tests::durable::open_closed_sled(dir);
    let tree = db
        .open_tree(table_name(record.kind))
        .expect("opening the sled tree");
    let found: Vec<(::sled::IVec, ::sled::IVec)> = tree
        .iter()
        .map(|item| item.expect("scanning the sled tree"))
        .filter(|(_, value)| value.ends_with(&record.payload_suffix))
        .collect();
    let [(key, value)] = found.as_slice() else {
        panic!(
            "{} sled records match {record:?}, expected one",
            found.len()
        );
    };
    tree.insert(key, damaged(value))
        .expect("writing the damaged record");
    db.flush().expect("flushing the sled database");
}

/// Damages `record` in the closed redb database in `dir`.
fn corrupt_redb(dir: &Path, record: &StoredRecord) {
    use ::redb::{ReadableTable as _, TableDefinition};

    let db = ::redb::Database::open(dir.join("grains.redb")).expect("opening the closed redb file");
    let definition: TableDefinition<&[u8], &[u8]> = TableDefinition::new(table_name(record.kind));
    let txn = db.begin_write().expect("starting a redb write");
    {
        let mut table = txn.open_table(definition).expect("opening the redb table");
        let found: Vec<(Vec<u8>, Vec<u8>)> = table
            .iter()
            .expect("scanning the redb table")
            .map(|item| {
                let (key, value) = item.expect("scanning the redb table");
                (key.value().to_vec(), value.value().to_vec())
            })
            .filter(|(_, value)| value.ends_with(&record.payload_suffix))
            .collect();
        let [(key, value)] = found.as_slice() else {
            panic!(
                "{} redb records match {record:?}, expected one",
                found.len()
            );
        };
        table
            .insert(key.as_slice(), damaged(value).as_slice())
            .expect("writing the damaged record");
    }
    txn.commit().expect("committing the damaged record");
}

/// A crash while redb builds a new database leaves only `grains.redb.creating` behind; the next
/// open discards it and creates the database again instead of failing on a file without a header.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redb_rebuilds_a_database_a_crash_left_half_created() {
    let dir = tempfile::tempdir().expect("creating a temporary directory");
    std::fs::write(dir.path().join("grains.redb.creating"), [0u8; 100])
        .expect("writing a half-created database");
    let grain =
        grain_runtime::GrainId::new(grain_runtime::GrainKind::from_static("HalfCreated"), "a");
    {
        let storage = open_redb(dir.path());
        storage
            .journal()
            .append(&grain, 1, vec![b"first".to_vec()])
            .await
            .expect("appending to the rebuilt database");
    }
    assert!(!dir.path().join("grains.redb.creating").exists());
    let storage = open_redb(dir.path());
    let last = storage.journal().last_seq(&grain).await;
    assert_eq!(last.expect("reading the last sequence number"), 1);
}

/// A `grains.redb` that is not a redb database is refused with an error naming the file's
/// directory and the problem; it is never replaced by an empty database.
#[test]
fn redb_refuses_a_damaged_database_file_by_name() {
    let dir = tempfile::tempdir().expect("creating a temporary directory");
    let file = dir.path().join("grains.redb");
    std::fs::write(&file, b"not a database").expect("writing a damaged database file");
    let Err(error) = Storage::redb(dir.path()) else {
        panic!("opening a damaged redb file succeeded");
    };
    let message = error.to_string();
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
    assert!(message.contains("redb"), "{message}");
    assert_eq!(
        std::fs::read(&file).expect("reading the file"),
        b"not a database"
    );
}

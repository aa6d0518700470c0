//! Corruption: a damaged journal entry or snapshot is reported, never skipped or returned.

use std::ops::RangeInclusive;

use futures::StreamExt as _;
use grain_runtime::{GrainId, JournalEntry, Snapshot, Storage, StoreError};

use super::{RecordKind, StoredRecord, append, grain, last_seq, latest, read_all};

/// A journal entry whose stored bytes were damaged is reported as [`StoreError::Corrupt`] naming
/// its grain and sequence number: a read never skips it and never returns its payload. Entries
/// after it, other grains and new appends are unaffected.
///
/// `corrupt` is called while the store is closed and must damage the record it is given.
pub async fn corrupt_journal_entry_is_reported(
    open: impl AsyncFn() -> Storage,
    corrupt: impl AsyncFnOnce(StoredRecord),
) {
    let grain = grain("CorruptJournal", "a");
    let other = self::grain("CorruptJournal", "b");
    let suffix = |grain: &GrainId, seq: u64| format!("|journal entry {seq} of {grain}");
    let entries_of = |grain: &GrainId, seqs: RangeInclusive<u64>| -> Vec<JournalEntry> {
        seqs.map(|seq| JournalEntry {
            seq,
            payload: suffix(grain, seq).into_bytes(),
        })
        .collect()
    };
    {
        let storage = open().await;
        let journal = storage.journal();
        for (grain, count) in [(&grain, 5), (&other, 3)] {
            let events = entries_of(grain, 1..=count)
                .into_iter()
                .map(|entry| entry.payload)
                .collect();
            journal
                .append(grain, 1, events)
                .await
                .expect("appending to a new journal");
        }
    }
    corrupt(StoredRecord {
        kind: RecordKind::JournalEntry,
        grain: grain.clone(),
        seq: 3,
        payload_suffix: suffix(&grain, 3).into_bytes(),
    })
    .await;

    let storage = open().await;
    let journal = storage.journal();
    for from in [0, 1, 3] {
        let mut stream = journal.read(&grain, from);
        let mut seen = Vec::new();
        let error = loop {
            match stream.next().await {
                Some(Ok(entry)) => seen.push(entry),
                Some(Err(error)) => break error,
                None => panic!(
                    "reading from {from} skipped the corrupt entry 3: got {:?}",
                    seqs(&seen)
                ),
            }
        };
        let valid = entries_of(&grain, from.max(1)..=2);
        assert!(
            valid.starts_with(&seen),
            "reading from {from} returned {:?} before the corrupt entry 3, not a prefix of {:?}",
            seen,
            valid
        );
        assert_corrupt(&error, &grain, "journal", 3);
    }
    assert_eq!(
        read_all(journal, &grain, 4).await,
        entries_of(&grain, 4..=5),
        "the entries after the corrupt one"
    );
    assert_eq!(
        read_all(journal, &other, 0).await,
        entries_of(&other, 1..=3)
    );
    assert_eq!(last_seq(journal, &grain).await, 5);
    append(journal, &grain, 6, 1).await;
}

/// A snapshot whose stored bytes were damaged is reported as [`StoreError::Corrupt`] naming its
/// grain and sequence number; the store never falls back to an older snapshot in silence.
/// Other grains' snapshots are unaffected, and a newer snapshot supersedes the damaged one.
///
/// `corrupt` is called while the store is closed and must damage the record it is given.
pub async fn corrupt_snapshot_is_reported(
    open: impl AsyncFn() -> Storage,
    corrupt: impl AsyncFnOnce(StoredRecord),
) {
    let grain = grain("CorruptSnapshot", "a");
    let other = self::grain("CorruptSnapshot", "b");
    let snapshot_at = |grain: &GrainId, seq: u64| Snapshot {
        seq,
        payload: format!("|snapshot {seq} of {grain}").into_bytes(),
    };
    {
        let storage = open().await;
        let snapshots = storage.snapshots();
        for (grain, seq) in [(&grain, 4), (&grain, 8), (&other, 8)] {
            snapshots
                .save(grain, snapshot_at(grain, seq))
                .await
                .expect("saving a snapshot");
        }
    }
    corrupt(StoredRecord {
        kind: RecordKind::Snapshot,
        grain: grain.clone(),
        seq: 8,
        payload_suffix: snapshot_at(&grain, 8).payload,
    })
    .await;

    let storage = open().await;
    let snapshots = storage.snapshots();
    match snapshots.latest(&grain).await {
        Err(error) => assert_corrupt(&error, &grain, "snapshot", 8),
        Ok(found) => panic!("the latest snapshot is corrupt, but the store returned {found:?}"),
    }
    assert_eq!(
        latest(snapshots, &other).await,
        Some(snapshot_at(&other, 8))
    );
    snapshots
        .save(&grain, snapshot_at(&grain, 9))
        .await
        .expect("saving a snapshot");
    assert_eq!(
        latest(snapshots, &grain).await,
        Some(snapshot_at(&grain, 9))
    );
}

fn seqs(entries: &[JournalEntry]) -> Vec<u64> {
    entries.iter().map(|entry| entry.seq).collect()
}

fn assert_corrupt(error: &StoreError, grain: &GrainId, record: &str, seq: u64) {
    match error {
        StoreError::Corrupt {
            grain: reported_grain,
            record: reported_record,
            seq: reported_seq,
            reason: _,
        } if reported_grain == grain && *reported_record == record && *reported_seq == seq => {}
        other => panic!(
            "expected the {record} record {seq} of {grain} to be reported corrupt, got {other:?}"
        ),
    }
}

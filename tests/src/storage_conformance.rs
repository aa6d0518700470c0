//! The storage conformance suite: what every [`Journal`] and [`SnapshotStore`] must do, one public
//! async function per property, so that each backend (sled, redb, and later PostgreSQL) runs the
//! same checks.
//!
//! Every property takes `open`, which opens the backend under test on the same data each time it
//! is called. A property drops every handle it holds before it opens the store again, so `open`
//! may rely on the previous handle being closed. Each property uses grain kinds of its own and
//! expects the store to hold none of their records at the start. The corruption properties also
//! take a backend-specific corruptor, the only place where the suite reaches past the traits.
//!
//! A property panics with a message naming what broke.
//!
//! # Examples
//!
//! ```
//! use grain_runtime::Storage;
//! use grain_tests::storage_conformance;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let dir = tempfile::tempdir().unwrap();
//! storage_conformance::sequence_numbers_are_contiguous_from_one(async || {
//!     Storage::redb(dir.path()).unwrap()
//! })
//! .await;
//! # }
//! ```

use std::ops::RangeInclusive;
use std::sync::Arc;

use futures::{StreamExt as _, TryStreamExt as _};
use grain_runtime::{
    GrainId, GrainKey, GrainKind, Journal, JournalEntry, Snapshot, SnapshotStore, Storage,
    StoreError,
};
use tokio::sync::Barrier;
use uuid::Uuid;

/// Which kind of record a corruptor damages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A journal entry.
    JournalEntry,
    /// A snapshot.
    Snapshot,
}

/// A stored record that a backend's corruptor must damage, the way a failing disk or a careless
/// operator might: flip a byte of its stored payload, so that reading it back must fail.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    /// A journal entry or a snapshot.
    pub kind: RecordKind,
    /// The grain the record belongs to.
    pub grain: GrainId,
    /// The entry's or snapshot's sequence number.
    pub seq: u64,
    /// The last bytes of the record's payload. No other record in the store has a payload that
    /// ends with them, so a corruptor that cannot decode keys can find the record by its value.
    pub payload_suffix: Vec<u8>,
}

/// A journal starts at sequence number 1, numbers its entries without gaps, and can be read
/// from any point (`0` reads from the start, past the end reads nothing).
pub async fn sequence_numbers_are_contiguous_from_one(open: impl AsyncFn() -> Storage) {
    let storage = open().await;
    let journal = storage.journal();
    let grain = grain("Contiguous", "a");

    assert_eq!(last_seq(journal, &grain).await, 0, "a new journal");
    assert_eq!(
        read_all(journal, &grain, 0).await,
        NO_ENTRIES,
        "a new journal"
    );
    assert_eq!(
        read_all(journal, &grain, 1).await,
        NO_ENTRIES,
        "a new journal"
    );

    for seq in 1..=10 {
        append(journal, &grain, seq, 1).await;
        assert_eq!(last_seq(journal, &grain).await, seq);
    }
    for from in 0..=12 {
        assert_eq!(
            read_all(journal, &grain, from).await,
            entries(&grain, from.max(1)..=10),
            "reading from {from}"
        );
    }
}

/// An append writes all of its events as consecutive entries or none of them: a rejected
/// multi-event append leaves no trace, an empty append writes nothing, and one large append
/// lands whole.
pub async fn appends_are_all_or_nothing(open: impl AsyncFn() -> Storage) {
    let storage = open().await;
    let journal = storage.journal();
    let grain = grain("AllOrNothing", "a");

    append(journal, &grain, 1, 3).await;
    assert_eq!(read_all(journal, &grain, 1).await, entries(&grain, 1..=3));

    journal
        .append(&grain, 4, Vec::new())
        .await
        .expect("an empty append succeeds");
    assert_eq!(last_seq(journal, &grain).await, 3, "after an empty append");
    assert_eq!(read_all(journal, &grain, 1).await, entries(&grain, 1..=3));

    append(journal, &grain, 4, 5).await;
    assert_eq!(read_all(journal, &grain, 1).await, entries(&grain, 1..=8));

    for first_seq in [8, 10] {
        let rejected = journal.append(&grain, first_seq, rejected_events(4)).await;
        assert!(
            matches!(rejected, Err(StoreError::Conflict { .. })),
            "a four-event append at {first_seq} after 8 entries must conflict, got {rejected:?}"
        );
        assert_eq!(last_seq(journal, &grain).await, 8);
        assert_eq!(
            read_all(journal, &grain, 1).await,
            entries(&grain, 1..=8),
            "a rejected append at {first_seq} left entries behind"
        );
    }

    append(journal, &grain, 9, 600).await;
    assert_eq!(last_seq(journal, &grain).await, 608);
    assert_eq!(read_all(journal, &grain, 1).await, entries(&grain, 1..=608));
}

/// An append names the sequence number it expects to write. One that is too low (a stale
/// writer) or too high (a gap) is rejected with [`StoreError::Conflict`] naming the grain, the
/// sequence number asked for and the journal's last one, and writes nothing.
pub async fn appends_at_the_wrong_seq_conflict(open: impl AsyncFn() -> Storage) {
    let storage = open().await;
    let journal = storage.journal();
    let grain = grain("WrongSeq", "a");

    for first_seq in [0, 2, 7] {
        assert_conflict(journal, &grain, first_seq, 0).await;
    }
    append(journal, &grain, 1, 3).await;
    for first_seq in [0, 1, 2, 3, 5, 100, u64::MAX] {
        assert_conflict(journal, &grain, first_seq, 3).await;
    }
    assert_eq!(last_seq(journal, &grain).await, 3);
    assert_eq!(
        read_all(journal, &grain, 1).await,
        entries(&grain, 1..=3),
        "a rejected append changed the journal"
    );

    append(journal, &grain, 4, 1).await;
    assert_eq!(read_all(journal, &grain, 1).await, entries(&grain, 1..=4));
}

/// No grain sees another's entries, sequence numbers or snapshots: not string keys that are
/// prefixes of each other, not an integer key and the string with its digits, not a UUID key and
/// the string with its text, not two kinds where one name is a prefix of the other.
pub async fn grains_never_see_each_others_records(open: impl AsyncFn() -> Storage) {
    let storage = open().await;
    let journal = storage.journal();
    let snapshots = storage.snapshots();
    let uuid = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
    let grains = [
        grain("Isolation", "a"),
        grain("Isolation", "ab"),
        grain("Isolation", "a\0"),
        grain("Isolation", "a\u{1}"),
        grain("Isolation", "a\u{1}\0\0\0\0\0\0\0"),
        grain("Isolation", ""),
        grain("Isolation", "7"),
        grain("Isolation", 7u64),
        grain("Isolation", 0u64),
        grain("Isolation", u64::MAX),
        grain("Isolation", uuid),
        grain("Isolation", uuid.to_string()),
        grain("IsolationB", "a"),
        GrainId::new(GrainKind::from(String::from("Isolatio")), "na"),
    ];
    // Grain `i` gets `i + 1` entries, so a leak shows up as a wrong count as well as a wrong
    // payload.
    let count = |i: usize| i as u64 + 1;

    for (i, grain) in grains.iter().enumerate() {
        append(journal, grain, 1, count(i)).await;
        save(snapshots, grain, count(i)).await;
    }
    for (i, grain) in grains.iter().enumerate() {
        assert_eq!(last_seq(journal, grain).await, count(i), "{grain}");
        assert_eq!(
            read_all(journal, grain, 1).await,
            entries(grain, 1..=count(i)),
            "{grain}"
        );
        assert_eq!(
            latest(snapshots, grain).await,
            Some(snapshot(grain, count(i)))
        );
    }

    // Pruning one grain, or appending to it, leaves every other one alone.
    let (pruned, others) = grains.split_first().expect("the grain list is not empty");
    journal
        .prune(pruned, u64::MAX)
        .await
        .expect("pruning the journal");
    snapshots
        .prune(pruned, u64::MAX)
        .await
        .expect("pruning the snapshots");
    assert_conflict(journal, pruned, 1, 1).await;
    append(journal, pruned, 2, 1).await;
    assert_eq!(read_all(journal, pruned, 0).await, entries(pruned, 2..=2));
    assert_eq!(latest(snapshots, pruned).await, None);
    for (i, grain) in others.iter().enumerate() {
        let count = count(i + 1);
        assert_eq!(last_seq(journal, grain).await, count, "{grain}");
        assert_eq!(
            read_all(journal, grain, 1).await,
            entries(grain, 1..=count),
            "{grain} after pruning {pruned}"
        );
        assert_eq!(latest(snapshots, grain).await, Some(snapshot(grain, count)));
    }
}

/// The last sequence number outlives the entries it counts: after pruning every entry, even
/// across a restart, appends continue after it and an append from 1 conflicts.
pub async fn last_seq_survives_pruning(open: impl AsyncFn() -> Storage) {
    let grain = grain("LastSeq", "a");
    {
        let storage = open().await;
        let journal = storage.journal();
        append(journal, &grain, 1, 5).await;
        append(journal, &grain, 6, 5).await;
        prune(journal, &grain, 10).await;
        assert_eq!(read_all(journal, &grain, 0).await, NO_ENTRIES);
        assert_eq!(
            last_seq(journal, &grain).await,
            10,
            "after pruning everything"
        );
        assert_conflict(journal, &grain, 1, 10).await;
        append(journal, &grain, 11, 1).await;
        assert_eq!(read_all(journal, &grain, 0).await, entries(&grain, 11..=11));
        prune(journal, &grain, 11).await;
    }
    let storage = open().await;
    let journal = storage.journal();
    assert_eq!(
        last_seq(journal, &grain).await,
        11,
        "after pruning everything and reopening"
    );
    assert_eq!(read_all(journal, &grain, 0).await, NO_ENTRIES);
    assert_conflict(journal, &grain, 1, 11).await;
    append(journal, &grain, 12, 2).await;
    assert_eq!(read_all(journal, &grain, 0).await, entries(&grain, 12..=13));
}

/// Pruning through `seq` deletes exactly the entries up to and including `seq`; pruning less
/// than is already gone, or a grain with no journal, changes nothing.
pub async fn prune_deletes_exactly_through_seq(open: impl AsyncFn() -> Storage) {
    let storage = open().await;
    let journal = storage.journal();
    let grain = grain("Prune", "a");

    append(journal, &grain, 1, 10).await;
    prune(journal, &grain, 0).await;
    assert_eq!(read_all(journal, &grain, 0).await, entries(&grain, 1..=10));
    prune(journal, &grain, 4).await;
    assert_eq!(read_all(journal, &grain, 0).await, entries(&grain, 5..=10));
    assert_eq!(read_all(journal, &grain, 7).await, entries(&grain, 7..=10));
    for through in [4, 3, 0] {
        prune(journal, &grain, through).await;
        assert_eq!(
            read_all(journal, &grain, 0).await,
            entries(&grain, 5..=10),
            "pruning through {through} again"
        );
    }
    prune(journal, &grain, 9).await;
    assert_eq!(read_all(journal, &grain, 0).await, entries(&grain, 10..=10));
    prune(journal, &grain, 20).await;
    assert_eq!(read_all(journal, &grain, 0).await, NO_ENTRIES);
    assert_eq!(last_seq(journal, &grain).await, 10);

    let untouched = self::grain("Prune", "never written");
    prune(journal, &untouched, 5).await;
    assert_eq!(last_seq(journal, &untouched).await, 0);
    append(journal, &untouched, 1, 1).await;
}

/// The latest snapshot is the one with the highest sequence number, whatever the order they
/// were saved in (`256` sorts after `255`).
pub async fn latest_snapshot_has_the_highest_seq(open: impl AsyncFn() -> Storage) {
    let storage = open().await;
    let snapshots = storage.snapshots();
    let grain = grain("LatestSnapshot", "a");

    assert_eq!(latest(snapshots, &grain).await, None);
    save(snapshots, &grain, 0).await;
    assert_eq!(latest(snapshots, &grain).await, Some(snapshot(&grain, 0)));
    for seq in [5, 10, 7] {
        save(snapshots, &grain, seq).await;
    }
    assert_eq!(latest(snapshots, &grain).await, Some(snapshot(&grain, 10)));
    for seq in [256, 255] {
        save(snapshots, &grain, seq).await;
    }
    assert_eq!(latest(snapshots, &grain).await, Some(snapshot(&grain, 256)));
}

/// Saving a snapshot at a sequence number that already has one replaces it.
pub async fn saving_a_snapshot_again_replaces_it(open: impl AsyncFn() -> Storage) {
    let storage = open().await;
    let snapshots = storage.snapshots();
    let grain = grain("ReplaceSnapshot", "a");

    save(snapshots, &grain, 4).await;
    let replacement = Snapshot {
        seq: 4,
        payload: b"the state at 4, saved again".to_vec(),
    };
    snapshots
        .save(&grain, replacement.clone())
        .await
        .expect("saving a snapshot");
    assert_eq!(latest(snapshots, &grain).await, Some(replacement.clone()));
    save(snapshots, &grain, 3).await;
    assert_eq!(latest(snapshots, &grain).await, Some(replacement));
}

/// Pruning snapshots before `seq` keeps the one at `seq`, and pruning before a sequence number
/// past every snapshot deletes them all.
pub async fn snapshot_prune_deletes_those_before_seq(open: impl AsyncFn() -> Storage) {
    let storage = open().await;
    let snapshots = storage.snapshots();
    let grain = grain("PruneSnapshots", "a");

    for seq in [2, 5, 9] {
        save(snapshots, &grain, seq).await;
    }
    for before in [0, 5, 9] {
        prune_snapshots(snapshots, &grain, before).await;
        assert_eq!(
            latest(snapshots, &grain).await,
            Some(snapshot(&grain, 9)),
            "after pruning before {before}"
        );
    }
    prune_snapshots(snapshots, &grain, 10).await;
    assert_eq!(
        latest(snapshots, &grain).await,
        None,
        "after pruning before 10"
    );

    let untouched = self::grain("PruneSnapshots", "never written");
    prune_snapshots(snapshots, &untouched, 5).await;
    assert_eq!(latest(snapshots, &untouched).await, None);
}

/// Entries, last sequence numbers, pruning and snapshots survive closing and reopening the
/// store, and the reopened store goes on checking expected sequence numbers.
pub async fn data_survives_reopening(open: impl AsyncFn() -> Storage) {
    let a = grain("Reopen", "a");
    let b = grain("Reopen", 42u64);
    {
        let storage = open().await;
        let journal = storage.journal();
        append(journal, &a, 1, 4).await;
        append(journal, &a, 5, 3).await;
        append(journal, &b, 1, 3).await;
        prune(journal, &b, 2).await;
        save(storage.snapshots(), &a, 5).await;
        save(storage.snapshots(), &b, 3).await;
    }
    {
        let storage = open().await;
        let journal = storage.journal();
        assert_eq!(read_all(journal, &a, 0).await, entries(&a, 1..=7));
        assert_eq!(read_all(journal, &b, 0).await, entries(&b, 3..=3));
        assert_eq!(last_seq(journal, &a).await, 7);
        assert_eq!(last_seq(journal, &b).await, 3);
        assert_eq!(latest(storage.snapshots(), &a).await, Some(snapshot(&a, 5)));
        assert_eq!(latest(storage.snapshots(), &b).await, Some(snapshot(&b, 3)));
        assert_conflict(journal, &a, 7, 7).await;
        append(journal, &a, 8, 1).await;
    }
    let storage = open().await;
    assert_eq!(read_all(storage.journal(), &a, 0).await, entries(&a, 1..=8));
}

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

/// Many tasks appending to many grains at once all get their appends in, each grain's entries
/// contiguous and in its own order: what group commit must preserve.
pub async fn concurrent_appends_to_many_grains_all_land(open: impl AsyncFn() -> Storage) {
    const GRAINS: u64 = 100;
    const APPENDS: u64 = 20;
    let storage = open().await;
    let events_in = |grain: u64, append: u64| 1 + (grain + append) % 3;

    let writers: Vec<_> = (0..GRAINS)
        .map(|key| {
            let journal = Arc::clone(storage.journal());
            tokio::spawn(async move {
                let grain = grain("Concurrent", key);
                let mut next = 1;
                for append_no in 0..APPENDS {
                    let count = events_in(key, append_no);
                    append(&journal, &grain, next, count).await;
                    next += count;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("an appending task panicked");
    }

    for key in 0..GRAINS {
        let grain = grain("Concurrent", key);
        let total = (0..APPENDS).map(|append| events_in(key, append)).sum();
        assert_eq!(last_seq(storage.journal(), &grain).await, total, "{grain}");
        assert_eq!(
            read_all(storage.journal(), &grain, 1).await,
            entries(&grain, 1..=total),
            "{grain}"
        );
    }
}

/// When many writers race to append at the same sequence number of one grain, exactly one wins
/// and its events are what the journal holds; every other one gets a [`StoreError::Conflict`]
/// that names the winner's last sequence number.
pub async fn racing_appends_to_one_grain_have_one_winner(open: impl AsyncFn() -> Storage) {
    const RACERS: u64 = 16;
    const ROUNDS: u64 = 20;
    let storage = open().await;
    let grain = grain("Race", "contested");
    let racer_events = |round: u64, racer: u64| -> Vec<Vec<u8>> {
        (0..1 + racer % 3)
            .map(|i| format!("round {round}, racer {racer}, event {i}").into_bytes())
            .collect()
    };

    let mut last = 0;
    for round in 0..ROUNDS {
        let first_seq = last + 1;
        let start = Arc::new(Barrier::new(RACERS as usize));
        let racers: Vec<_> = (0..RACERS)
            .map(|racer| {
                let journal = Arc::clone(storage.journal());
                let grain = grain.clone();
                let start = Arc::clone(&start);
                let events = racer_events(round, racer);
                tokio::spawn(async move {
                    start.wait().await;
                    journal.append(&grain, first_seq, events).await
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for racer in racers {
            outcomes.push(racer.await.expect("a racing task panicked"));
        }

        let winners: Vec<u64> = (0..RACERS)
            .filter(|&racer| outcomes[racer as usize].is_ok())
            .collect();
        let [winner] = winners[..] else {
            panic!("round {round}: racers {winners:?} won, expected exactly one: {outcomes:?}");
        };
        let won = racer_events(round, winner);
        last = first_seq - 1 + won.len() as u64;
        for (racer, outcome) in outcomes.iter().enumerate() {
            if racer as u64 == winner {
                continue;
            }
            let expected = StoreError::Conflict {
                grain: grain.clone(),
                expected: first_seq,
                actual: last,
            };
            assert_eq!(
                outcome.as_ref().err(),
                Some(&expected),
                "round {round}, racer {racer} lost to racer {winner}"
            );
        }
        let stored: Vec<Vec<u8>> = read_all(storage.journal(), &grain, first_seq)
            .await
            .into_iter()
            .map(|entry| entry.payload)
            .collect();
        assert_eq!(
            stored, won,
            "round {round}: the journal holds the winner's events"
        );
        assert_eq!(last_seq(storage.journal(), &grain).await, last);
    }
}

/// A journal of 5,000 entries streams back in order from any point, also across the chunks a
/// backend reads it in (chunk sizes are commonly powers of two, so the starting points straddle
/// those).
pub async fn long_journal_streams_in_order(open: impl AsyncFn() -> Storage) {
    const LEN: u64 = 5_000;
    let storage = open().await;
    let journal = storage.journal();
    let grain = grain("LongJournal", "a");

    let mut next = 1;
    for count in [1, 7, 64, 300, 511, 513, 1024].into_iter().cycle() {
        let count = count.min(LEN + 1 - next);
        append(journal, &grain, next, count).await;
        next += count;
        if next > LEN {
            break;
        }
    }
    assert_eq!(last_seq(journal, &grain).await, LEN);

    for from in [
        0, 1, 2, 255, 256, 257, 511, 512, 513, 1023, 1024, 1025, 2049, 4999, 5000, 5001,
    ] {
        let mut stream = journal.read(&grain, from);
        let mut expected_seq = from.max(1);
        while let Some(entry) = stream.next().await {
            let entry = entry
                .unwrap_or_else(|error| panic!("reading from {from}, at {expected_seq}: {error}"));
            assert_eq!(
                entry,
                self::entry(&grain, expected_seq),
                "reading from {from}"
            );
            expected_seq += 1;
        }
        assert_eq!(expected_seq, LEN + 1, "reading from {from} stopped early");
    }
}

// ===== helpers =====

const NO_ENTRIES: Vec<JournalEntry> = Vec::new();

fn grain(kind: &'static str, key: impl Into<GrainKey>) -> GrainId {
    GrainId::new(GrainKind::from_static(kind), key)
}

/// The payload this suite stores as entry `seq` of `grain`: unique across grains and entries,
/// and of varying length.
fn payload(grain: &GrainId, seq: u64) -> Vec<u8> {
    let mut payload = format!("{grain} #{seq}").into_bytes();
    payload.resize(payload.len() + (seq % 97) as usize, b'.');
    payload
}

fn entry(grain: &GrainId, seq: u64) -> JournalEntry {
    JournalEntry {
        seq,
        payload: payload(grain, seq),
    }
}

fn entries(grain: &GrainId, seqs: RangeInclusive<u64>) -> Vec<JournalEntry> {
    seqs.map(|seq| entry(grain, seq)).collect()
}

fn snapshot(grain: &GrainId, seq: u64) -> Snapshot {
    Snapshot {
        seq,
        payload: format!("the state of {grain} at {seq}").into_bytes(),
    }
}

fn rejected_events(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| format!("rejected event {i}").into_bytes())
        .collect()
}

fn seqs(entries: &[JournalEntry]) -> Vec<u64> {
    entries.iter().map(|entry| entry.seq).collect()
}

/// Appends this suite's payloads for entries `first_seq..first_seq + count`.
async fn append(journal: &Arc<dyn Journal>, grain: &GrainId, first_seq: u64, count: u64) {
    let events = (first_seq..first_seq + count)
        .map(|seq| payload(grain, seq))
        .collect();
    if let Err(error) = journal.append(grain, first_seq, events).await {
        panic!("appending {count} events to {grain} at {first_seq}: {error}");
    }
}

async fn assert_conflict(journal: &Arc<dyn Journal>, grain: &GrainId, first_seq: u64, actual: u64) {
    let outcome = journal.append(grain, first_seq, rejected_events(2)).await;
    let expected = StoreError::Conflict {
        grain: grain.clone(),
        expected: first_seq,
        actual,
    };
    assert_eq!(
        outcome.err(),
        Some(expected),
        "an append to {grain} at {first_seq} when its journal ends at {actual}"
    );
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

async fn read_all(journal: &Arc<dyn Journal>, grain: &GrainId, from_seq: u64) -> Vec<JournalEntry> {
    journal
        .read(grain, from_seq)
        .try_collect()
        .await
        .unwrap_or_else(|error| panic!("reading {grain} from {from_seq}: {error}"))
}

async fn last_seq(journal: &Arc<dyn Journal>, grain: &GrainId) -> u64 {
    journal
        .last_seq(grain)
        .await
        .unwrap_or_else(|error| panic!("the last sequence number of {grain}: {error}"))
}

async fn prune(journal: &Arc<dyn Journal>, grain: &GrainId, through_seq: u64) {
    if let Err(error) = journal.prune(grain, through_seq).await {
        panic!("pruning {grain} through {through_seq}: {error}");
    }
}

async fn save(snapshots: &Arc<dyn SnapshotStore>, grain: &GrainId, seq: u64) {
    if let Err(error) = snapshots.save(grain, snapshot(grain, seq)).await {
        panic!("saving the snapshot of {grain} at {seq}: {error}");
    }
}

async fn latest(snapshots: &Arc<dyn SnapshotStore>, grain: &GrainId) -> Option<Snapshot> {
    snapshots
        .latest(grain)
        .await
        .unwrap_or_else(|error| panic!("the latest snapshot of {grain}: {error}"))
}

async fn prune_snapshots(snapshots: &Arc<dyn SnapshotStore>, grain: &GrainId, before_seq: u64) {
    if let Err(error) = snapshots.prune(grain, before_seq).await {
        panic!("pruning the snapshots of {grain} before {before_seq}: {error}");
    }
}

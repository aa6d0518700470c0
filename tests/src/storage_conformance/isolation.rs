//! Isolation: no grain sees another grain's records.

use grain_runtime::{GrainId, GrainKind, Storage};
use uuid::Uuid;

use super::{append, assert_conflict, entries, grain, last_seq, latest, read_all, save, snapshot};

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

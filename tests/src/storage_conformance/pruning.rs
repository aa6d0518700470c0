//! Journal pruning: deletes exactly the entries asked for and keeps the last sequence number.

use grain_runtime::Storage;

use super::{NO_ENTRIES, append, assert_conflict, entries, grain, last_seq, prune, read_all};

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

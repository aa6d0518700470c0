//! Durability: everything a store holds survives closing and reopening it.

use grain_runtime::Storage;

use super::{
    append, assert_conflict, entries, grain, last_seq, latest, prune, read_all, save, snapshot,
};

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

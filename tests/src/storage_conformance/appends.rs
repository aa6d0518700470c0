//! Appends: an append lands whole at the sequence number it names, or writes nothing.

use grain_runtime::{Storage, StoreError};

use super::{append, assert_conflict, entries, grain, last_seq, read_all, rejected_events};

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

//! Journal order: entries are numbered from 1 without gaps and read back in order from any point.

use futures::StreamExt as _;
use grain_runtime::Storage;

use super::{NO_ENTRIES, append, entries, entry, grain, last_seq, read_all};

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

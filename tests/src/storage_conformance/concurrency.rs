//! Concurrency: appends from many tasks at once all land, and racing appends have one winner.

use std::sync::Arc;

use grain_runtime::{Storage, StoreError};
use tokio::sync::Barrier;

use super::{append, entries, grain, last_seq, read_all};

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

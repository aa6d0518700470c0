//! Snapshots: the latest has the highest sequence number, saving again replaces, pruning is exact.

use std::sync::Arc;

use grain_runtime::{GrainId, Snapshot, SnapshotStore, Storage};

use super::{grain, latest, save, snapshot};

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

async fn prune_snapshots(snapshots: &Arc<dyn SnapshotStore>, grain: &GrainId, before_seq: u64) {
    if let Err(error) = snapshots.prune(grain, before_seq).await {
        panic!("pruning the snapshots of {grain} before {before_seq}: {error}");
    }
}

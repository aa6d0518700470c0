//! A grain whose state is larger than one transport frame (8 MiB by default) still follows its
//! ownership: to the silo that takes it over and back from a silo that leaves, intact.

use std::time::Duration;

use grain_runtime::Storage;
use grain_runtime::prelude::*;
use grain_runtime::testing::TestCluster;
use grain_tests::{active_on, once_available};
use serde::{Deserialize, Serialize};

/// Bytes saved whole on every change.
#[grain(persistent)]
#[derive(Default, Serialize, Deserialize)]
pub struct Blob {
    data: Vec<u8>,
}

/// The length and a position-weighted sum of the bytes, to compare contents cheaply.
fn summary(data: &[u8]) -> (u64, u64) {
    let sum = data.iter().enumerate().fold(0u64, |acc, (i, b)| {
        acc.wrapping_mul(31).wrapping_add(u64::from(*b) ^ i as u64)
    });
    (data.len() as u64, sum)
}

#[grain]
impl Blob {
    /// Appends `len` pseudo-random bytes seeded by `seed`, saves, and returns the summary.
    pub async fn grow(
        &mut self,
        ctx: &GrainContext<Self>,
        len: u64,
        seed: u64,
    ) -> Result<(u64, u64), PersistError> {
        let mut x = seed | 1;
        self.data.extend((0..len).map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        }));
        ctx.save(self).await?;
        Ok(summary(&self.data))
    }

    /// The summary of the bytes held.
    pub async fn summary(&self) -> (u64, u64) {
        summary(&self.data)
    }
}

/// Reads blob `key` through silo `via`, waiting while the cluster settles.
async fn summary_via(cluster: &TestCluster, via: usize, key: u64) -> (u64, u64) {
    let blob = cluster.silo(via).grain::<Blob>(key);
    once_available(
        "reading the blob",
        100,
        Duration::from_millis(50),
        || async { blob.summary().timeout(Duration::from_secs(30)).await },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_larger_than_a_frame_moves_to_the_owner_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let mut cluster = TestCluster::start(2, move |index, silo| {
        let storage = Storage::redb(root.join(format!("silo-{index}"))).expect("opening redb");
        silo.register::<Blob>().storage(storage)
    })
    .await
    .unwrap();
    // A blob that silo 1 owns: reading an empty blob activates it there and stores nothing.
    let mut key = 0;
    while {
        cluster.silo(0).grain::<Blob>(key).summary().await.unwrap();
        active_on::<Blob>(&cluster, key) != [1]
    } {
        key += 1;
    }

    // With silo 1 away, silo 0 owns the blob and its 9 MiB are written there.
    cluster.stop(1).await;
    cluster.settle().await.unwrap();
    let blob = cluster.silo(0).grain::<Blob>(key);
    blob.grow(5 << 20, 7).await.unwrap().unwrap();
    let written = blob.grow(4 << 20, 11).await.unwrap().unwrap();
    assert_eq!(written.0, 9 << 20, "more than one 8 MiB frame");

    // Silo 1 returns and owns the blob again: it fetches the state from silo 0.
    cluster.restart(1).await.unwrap();
    assert_eq!(summary_via(&cluster, 0, key).await, written);
    assert_eq!(
        active_on::<Blob>(&cluster, key),
        [1],
        "the blob moved to its owner"
    );

    // Silo 1 leaves gracefully and pushes the state back to silo 0.
    cluster.stop(1).await;
    cluster.settle().await.unwrap();
    assert_eq!(summary_via(&cluster, 0, key).await, written);
    assert_eq!(active_on::<Blob>(&cluster, key), [0]);
    cluster.shutdown().await;
}

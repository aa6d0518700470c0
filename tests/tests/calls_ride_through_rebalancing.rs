//! While silos join and leave gracefully, calls to grains whose state is moving wait for it to
//! arrive instead of failing: callers on every silo, the owners included, see no error, and
//! every acknowledged increment is in the final counts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use grain_runtime::Storage;
use grain_runtime::prelude::*;
use grain_runtime::testing::TestCluster;
use serde::{Deserialize, Serialize};

/// A counter saved whole after every change.
#[grain(persistent)]
#[derive(Default, Serialize, Deserialize)]
pub struct Counter {
    value: u64,
}

#[grain]
impl Counter {
    /// Adds one and saves.
    pub async fn bump(&mut self, ctx: &GrainContext<Self>) -> Result<u64, PersistError> {
        self.value += 1;
        ctx.save(self).await?;
        Ok(self.value)
    }

    /// The value.
    pub async fn get(&self) -> u64 {
        self.value
    }
}

const GRAINS: u64 = 300;
const DEADLINE: Duration = Duration::from_secs(10);

/// Bumps counters round-robin through silo `via` until `stop`, returning the acknowledged
/// bumps per counter and the errors seen.
async fn caller(
    cluster: Arc<tokio::sync::RwLock<TestCluster>>,
    via: usize,
    stop: Arc<AtomicBool>,
) -> (Vec<u64>, Vec<String>) {
    let mut acked = vec![0u64; GRAINS as usize];
    let mut errors = Vec::new();
    let mut key = via as u64;
    while !stop.load(Ordering::Relaxed) {
        let counter = cluster.read().await.silo(via).grain::<Counter>(key);
        match counter.bump().timeout(DEADLINE).await {
            Ok(Ok(_)) => acked[key as usize] += 1,
            Ok(Err(error)) => errors.push(format!("counter {key}: {error}")),
            Err(error) => errors.push(format!("counter {key}: {error}")),
        }
        key = (key + 7) % GRAINS;
    }
    (acked, errors)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_on_every_silo_wait_out_joins_and_leaves() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().to_path_buf();
    let cluster = TestCluster::start(3, move |index, silo| {
        let storage = Storage::sled(path.join(format!("silo-{index}"))).expect("opening sled");
        silo.register::<Counter>().storage(storage)
    })
    .await
    .expect("starting the cluster");
    let cluster = Arc::new(tokio::sync::RwLock::new(cluster));
    let stop = Arc::new(AtomicBool::new(false));
    // Silo 0 leaves midway, so callers use silos 1 and 2 (and 3 once it has joined).
    let mut callers = Vec::new();
    for via in [1, 2, 1, 2] {
        callers.push(tokio::spawn(caller(
            Arc::clone(&cluster),
            via,
            Arc::clone(&stop),
        )));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let joined = cluster
        .write()
        .await
        .add_silo()
        .await
        .expect("adding a silo");
    cluster.read().await.settle().await.expect("settling");
    for _ in 0..2 {
        callers.push(tokio::spawn(caller(
            Arc::clone(&cluster),
            joined,
            Arc::clone(&stop),
        )));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    cluster.write().await.stop(0).await;
    cluster.read().await.settle().await.expect("settling");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);

    let mut acked = vec![0u64; GRAINS as usize];
    let mut errors = Vec::new();
    for caller in callers {
        let (counts, seen) = caller.await.expect("a caller task");
        for (total, count) in acked.iter_mut().zip(counts) {
            *total += count;
        }
        errors.extend(seen);
    }
    assert!(
        errors.is_empty(),
        "{} calls failed, first: {:?}",
        errors.len(),
        errors.first()
    );
    let cluster = Arc::into_inner(cluster).expect("callers done").into_inner();
    for (key, expected) in acked.iter().enumerate() {
        let value = cluster.silo(1).grain::<Counter>(key as u64).get().await;
        assert_eq!(value.expect("reading"), *expected, "counter {key}");
    }
    assert!(acked.iter().sum::<u64>() > 0, "the callers made progress");
    cluster.shutdown().await;
}

//! In a cluster whose silos each keep grain state in their own sled directory, a grain's state
//! moves with its ownership: to a silo that joins, away from a silo that leaves gracefully, and
//! never to an empty activation while the silo holding it is down, unless an operator marks
//! that silo lost.

use std::path::PathBuf;
use std::time::Duration;

use grain_runtime::prelude::*;
use grain_runtime::testing::TestCluster;
use grain_runtime::{CallError, Silo, Storage};
use grain_tests::{active_on, once_available};
use serde::{Deserialize, Serialize};

/// A counter saved whole after every change.
#[grain(persistent)]
#[derive(Default, Serialize, Deserialize)]
pub struct Counter {
    value: u64,
}

#[grain]
impl Counter {
    /// Adds `n`, saves, and returns the new value.
    pub async fn add(&mut self, ctx: &GrainContext<Self>, n: u64) -> Result<u64, PersistError> {
        self.value += n;
        ctx.save(self).await?;
        Ok(self.value)
    }

    /// The value.
    pub async fn get(&self) -> u64 {
        self.value
    }
}

const GRAINS: u64 = 120;

/// A cluster of `count` silos, silo `i` keeping its state in `<dir>/silo-i`.
async fn cluster(dir: PathBuf, count: usize) -> TestCluster {
    TestCluster::start(count, move |index, silo| {
        let storage = Storage::sled(dir.join(format!("silo-{index}"))).expect("opening sled");
        silo.register::<Counter>().storage(storage)
    })
    .await
    .expect("starting the cluster")
}

/// Gives counter `key` the value `key + 1`, through silo `via`.
async fn fill(cluster: &TestCluster, via: usize) {
    for key in 0..GRAINS {
        let value = cluster.silo(via).grain::<Counter>(key).add(key + 1).await;
        assert_eq!(value.expect("calling").expect("saving"), key + 1);
    }
}

/// Every counter still has the value `fill` gave it, read through silo `via`.
async fn check(cluster: &TestCluster, via: usize) {
    for key in 0..GRAINS {
        let value = get(cluster, via, key).await;
        assert_eq!(value, key + 1, "counter {key}");
    }
}

/// Reads counter `key` through silo `via`, retrying while it is unavailable as the cluster
/// settles.
async fn get(cluster: &TestCluster, via: usize, key: u64) -> u64 {
    let counter = cluster.silo(via).grain::<Counter>(key);
    once_available(
        "reading a counter",
        100,
        Duration::from_millis(20),
        || async { counter.get().await },
    )
    .await
}

/// The counters active on silo `index` and no other.
fn active_only_on(cluster: &TestCluster, index: usize) -> Vec<u64> {
    (0..GRAINS)
        .filter(|&k| active_on::<Counter>(cluster, k) == [index])
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_moves_to_a_silo_that_joins() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = cluster(dir.path().to_owned(), 2).await;
    fill(&cluster, 0).await;
    let joined = cluster.add_silo().await.unwrap();
    check(&cluster, 0).await;
    let on_new = active_only_on(&cluster, joined).len();
    assert!(on_new > 10, "the new silo took over {on_new} counters");
    tokio::time::sleep(Duration::from_millis(200)).await;
    for key in 0..GRAINS {
        assert!(
            active_on::<Counter>(&cluster, key).len() <= 1,
            "counter {key} has two activations"
        );
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silo_that_leaves_hands_its_state_off() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = cluster(dir.path().to_owned(), 3).await;
    fill(&cluster, 0).await;
    let held_by_2 = active_only_on(&cluster, 2).len();
    assert!(held_by_2 > 10, "silo 2 held {held_by_2} counters");
    cluster.stop(2).await;
    cluster.settle().await.unwrap();
    assert!(
        cluster.silo(0).down_silos().is_empty(),
        "a graceful leave is not a crash"
    );
    check(&cluster, 1).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_silos_grains_wait_for_it_and_come_back_intact() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = cluster(dir.path().to_owned(), 3).await;
    fill(&cluster, 0).await;
    let held = active_only_on(&cluster, 2);
    assert!(!held.is_empty());
    cluster.crash(2);
    cluster.settle().await.unwrap();
    let down = cluster.silo(0).down_silos();
    assert_eq!(down.len(), 1, "{down:?}");
    assert_eq!(down[0].name, "silo-2");
    for &key in &held {
        match cluster.silo(1).grain::<Counter>(key).get().await {
            Err(CallError::Unavailable { reason, .. }) => {
                assert!(reason.contains("silo-2"), "{reason}");
            }
            other => panic!("counter {key} held by the crashed silo answered {other:?}"),
        }
    }
    wait_until_released(dir.path().join("silo-2")).await;
    cluster.restart(2).await.unwrap();
    check(&cluster, 0).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marking_a_crashed_silo_lost_gives_its_state_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = cluster(dir.path().to_owned(), 3).await;
    fill(&cluster, 0).await;
    let held = active_only_on(&cluster, 2);
    let kept: Vec<u64> = (0..GRAINS).filter(|k| !held.contains(k)).collect();
    cluster.crash(2);
    cluster.settle().await.unwrap();
    let marked = cluster.silo(0).mark_lost("silo-2");
    assert_eq!(marked.len(), 1);
    assert!(
        cluster.silo(0).mark_lost("silo-0").is_empty(),
        "a live silo is not lost"
    );
    for &key in &held {
        let value = get(&cluster, 1, key).await;
        assert_eq!(
            value, 0,
            "counter {key} starts over once its state is given up"
        );
    }
    for &key in &kept {
        let value = get(&cluster, 1, key).await;
        assert_eq!(value, key + 1, "counter {key} was held by a live silo");
    }
    cluster.shutdown().await;
}

/// Waits until a crashed in-process silo has let go of its sled directory.
async fn wait_until_released(dir: PathBuf) {
    for _ in 0..200 {
        match Storage::sled(&dir) {
            Ok(storage) => {
                drop(storage);
                return;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
    panic!("{} is still held", dir.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_made_through_a_join_all_succeed_on_intact_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = cluster(dir.path().to_owned(), 2).await;
    fill(&cluster, 0).await;
    let seed = cluster.silo(0).address().unwrap().to_string();
    let config = grain_runtime::ClientConfig::new([seed])
        .cluster(cluster.cluster_name())
        .refresh_interval(Duration::from_millis(50));
    let client = std::sync::Arc::new(grain_runtime::Client::connect_with(config).await.unwrap());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let callers: Vec<_> = (0..8u64)
        .map(|caller| {
            let (client, stop) = (client.clone(), stop.clone());
            tokio::spawn(async move {
                let mut calls = 0u64;
                let mut key = caller;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    key = (key + 8) % GRAINS;
                    let value = client.grain::<Counter>(key).get().await;
                    assert_eq!(
                        value.expect("a call during the join"),
                        key + 1,
                        "counter {key}"
                    );
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    cluster.add_silo().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut calls = 0;
    for caller in callers {
        calls += caller.await.expect("a caller failed");
    }
    assert!(calls > 100, "only {calls} calls");
    cluster.shutdown().await;
}

/// Starts silo `name` of `cluster` on the data directory `dir`, outside the test cluster.
async fn start_on(
    cluster: &TestCluster,
    name: &str,
    dir: &std::path::Path,
) -> Result<Silo, grain_runtime::SiloError> {
    let seed = cluster.silo(0).address().unwrap().to_string();
    let config = grain_runtime::ClusterConfig::new(name)
        .cluster(cluster.cluster_name())
        .join([seed])
        .gossip_interval(Duration::from_millis(50))
        .dead_after(Duration::from_secs(1));
    Silo::builder()
        .register::<Counter>()
        .storage(Storage::sled(dir).expect("opening sled"))
        .cluster(config)
        .start()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_silo_must_come_back_with_its_own_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = cluster(dir.path().to_owned(), 3).await;
    fill(&cluster, 0).await;
    cluster.crash(2);
    cluster.settle().await.unwrap();
    refuse_an_empty_directory(&cluster).await;
    cluster.settle().await.unwrap();
    assert_eq!(
        cluster.silo(0).down_silos().len(),
        1,
        "the refused start left no trace"
    );
    come_back_with_its_own(cluster, dir.path()).await;
}

/// Starting silo-2 of `cluster` on an empty directory fails, saying what it would lose.
async fn refuse_an_empty_directory(cluster: &TestCluster) {
    let empty = tempfile::tempdir().unwrap();
    let refused = start_on(cluster, "silo-2", empty.path())
        .await
        .expect_err("an empty directory");
    let reason = refused.to_string();
    assert!(reason.contains("is down holding grain state"), "{reason}");
    assert!(reason.contains("no silo's state"), "{reason}");
}

/// Restarts crashed silo-2 on its own directory under `dir`; its state is intact.
async fn come_back_with_its_own(mut cluster: TestCluster, dir: &std::path::Path) {
    wait_until_released(dir.join("silo-2")).await;
    cluster.restart(2).await.unwrap();
    check(&cluster, 1).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_silo_restarted_at_once_must_still_bring_its_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = cluster(dir.path().to_owned(), 3).await;
    fill(&cluster, 0).await;
    cluster.crash(2);
    // Restarted before the others noticed the crash: their views still show silo-2 active.
    refuse_an_empty_directory(&cluster).await;
    come_back_with_its_own(cluster, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silo_marked_lost_cannot_come_back_with_its_old_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = cluster(dir.path().to_owned(), 3).await;
    fill(&cluster, 0).await;
    cluster.crash(2);
    cluster.settle().await.unwrap();
    assert_eq!(cluster.silo(0).mark_lost("silo-2").len(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let old = dir.path().join("silo-2");
    wait_until_released(old.clone()).await;
    let refused = start_on(&cluster, "silo-2", &old)
        .await
        .expect_err("the lost silo's data");
    assert!(
        refused
            .to_string()
            .contains("which an operator marked lost"),
        "{refused}"
    );
    let fresh = tempfile::tempdir().unwrap();
    let silo = start_on(&cluster, "silo-2", fresh.path())
        .await
        .expect("a fresh directory");
    silo.shutdown().await;
    cluster.shutdown().await;
}

//! Counters incremented with unique request ids by many concurrent callers, while silos join,
//! leave gracefully and crash: every increment acknowledged to a caller is counted exactly
//! once, and no counter ends up with two activations.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use grain_runtime::prelude::*;
use grain_runtime::testing::TestCluster;
use grain_runtime::{ClientConfig, Storage};
use grain_tests::once_available;
use serde::{Deserialize, Serialize};

/// What a counter journals.
#[derive(Debug, Serialize, Deserialize)]
pub enum CounterEvent {
    /// Request `request` was counted.
    Counted {
        /// The caller's unique id of the increment.
        request: u64,
    },
}

/// A counter that counts each request id once, so that callers may retry.
#[grain(journaled(snapshot_every = 50))]
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Counter {
    requests: BTreeSet<u64>,
}

impl EventSourced for Counter {
    type Event = CounterEvent;

    fn apply(&mut self, event: &CounterEvent) {
        match event {
            CounterEvent::Counted { request } => {
                self.requests.insert(*request);
            }
        }
    }
}

#[grain]
impl Counter {
    /// Counts request `request` unless it was counted before; returns the count.
    pub async fn increment(
        &mut self,
        ctx: &GrainContext<Self>,
        request: u64,
    ) -> Result<u64, PersistError> {
        if !self.requests.contains(&request) {
            ctx.persist(self, [CounterEvent::Counted { request }])
                .await?;
        }
        Ok(self.requests.len() as u64)
    }

    /// The count.
    pub async fn count(&self) -> u64 {
        self.requests.len() as u64
    }
}

const COUNTERS: u64 = 40;
const CALLERS: u64 = 16;

/// Increments counters round-robin until told to stop, retrying each request id until it is
/// acknowledged; returns the acknowledged ids per counter.
async fn caller(
    client: Arc<Client>,
    index: u64,
    stop: Arc<AtomicBool>,
    errors: Arc<AtomicU64>,
) -> Vec<(u64, u64)> {
    let mut acknowledged = Vec::new();
    let mut request = index << 32;
    while !stop.load(Ordering::Relaxed) {
        request += 1;
        let counter = request % COUNTERS;
        loop {
            match client.grain::<Counter>(counter).increment(request).await {
                Ok(Ok(_)) => {
                    acknowledged.push((counter, request));
                    break;
                }
                Ok(Err(_)) | Err(_) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }
    acknowledged
}

async fn count(cluster: &TestCluster, counter: u64) -> u64 {
    once_available("counting", 300, Duration::from_millis(20), || async {
        let via = cluster.running()[0];
        cluster.silo(via).grain::<Counter>(counter).count().await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_leaves_and_crashes_lose_no_acknowledged_increment() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let dir = tempfile::tempdir().unwrap();
    let root: PathBuf = dir.path().to_owned();
    let cluster = TestCluster::start(3, move |index, silo| {
        let storage = Storage::sled(root.join(format!("silo-{index}"))).expect("opening sled");
        silo.register::<Counter>().storage(storage)
    })
    .await
    .unwrap();
    let data = dir.path().join("silo-2");
    chaos(cluster, async || {
        for _ in 0..200 {
            if Storage::sled(&data).is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    })
    .await;
}

/// The same on PostgreSQL shared by every silo: the crashed silo's counters carry on at once on
/// the others, and the silo that comes back picks up where they left off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_joins_leaves_and_crashes_lose_no_acknowledged_increment() {
    let Some(scratch) = grain_tests::postgres::Scratch::new("cluster_changes_on_postgres") else {
        return;
    };
    scratch
        .run(async {
            let storage = scratch.open().await;
            let cluster = TestCluster::start(3, move |_, silo| {
                silo.register::<Counter>().storage(storage.clone())
            })
            .await
            .unwrap();
            chaos(cluster, async || {}).await;
        })
        .await;
}

/// Runs the callers while a silo joins, silo 1 leaves, and silo 2 crashes and, after
/// `before_restart`, comes back; then checks every counter.
async fn chaos(cluster: TestCluster, before_restart: impl AsyncFnOnce()) {
    let seed = cluster.silo(0).address().unwrap().to_string();
    let config = ClientConfig::new([seed])
        .cluster(cluster.cluster_name())
        .ask_timeout(Duration::from_secs(5))
        .refresh_interval(Duration::from_millis(50));
    let client = Arc::new(Client::connect_with(config).await.unwrap());
    let mut cluster = cluster;
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let callers: Vec<_> = (0..CALLERS)
        .map(|i| {
            tokio::spawn(caller(
                Arc::clone(&client),
                i,
                Arc::clone(&stop),
                Arc::clone(&errors),
            ))
        })
        .collect();

    let pause = || tokio::time::sleep(Duration::from_millis(300));
    pause().await;
    cluster.add_silo().await.unwrap();
    pause().await;
    cluster.stop(1).await;
    cluster.settle().await.unwrap();
    pause().await;
    cluster.crash(2);
    cluster.settle().await.unwrap();
    pause().await;
    before_restart().await;
    cluster.restart(2).await.unwrap();
    pause().await;
    stop.store(true, Ordering::Relaxed);

    let mut expected = vec![0u64; COUNTERS as usize];
    let mut acknowledged = 0;
    for caller in callers {
        for (counter, _) in caller.await.unwrap() {
            expected[counter as usize] += 1;
            acknowledged += 1;
        }
    }
    assert!(
        acknowledged > 100,
        "only {acknowledged} increments were acknowledged"
    );
    cluster.settle().await.unwrap();
    for counter in 0..COUNTERS {
        assert_eq!(
            count(&cluster, counter).await,
            expected[counter as usize],
            "counter {counter}"
        );
        let active: Vec<usize> = cluster
            .running()
            .into_iter()
            .filter(|&i| {
                let silo = cluster.silo(i);
                silo.activation_stats(&silo.grain::<Counter>(counter))
                    .is_some()
            })
            .collect();
        assert!(
            active.len() <= 1,
            "counter {counter} is active on {active:?}"
        );
    }
    eprintln!(
        "{acknowledged} increments acknowledged, {} failed attempts retried",
        errors.load(Ordering::Relaxed)
    );
}

//! A cluster whose silos share PostgreSQL: a crashed silo's grains re-activate on their new
//! owners at once, with their state intact, instead of waiting for the silo to come back.
//! Needs `GRAIN_POSTGRES_URL` (see `grain_tests::postgres`).

use grain_runtime::prelude::*;
use grain_runtime::testing::TestCluster;
use grain_runtime::{Silo, Storage};
use grain_tests::postgres::Scratch;
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

/// The counters active on silo `index`.
fn active_on(cluster: &TestCluster, index: usize) -> Vec<u64> {
    let silo: &Silo = cluster.silo(index);
    (0..GRAINS)
        .filter(|&key| silo.activation_stats(&silo.grain::<Counter>(key)).is_some())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_silos_grains_carry_on_elsewhere_at_once() {
    let Some(scratch) = Scratch::new("a_crashed_silos_grains_carry_on_elsewhere_at_once") else {
        return;
    };
    scratch
        .run(async {
            let mut stores = Vec::new();
            for _ in 0..3 {
                stores.push(scratch.open().await);
            }
            let mut cluster = TestCluster::start(3, move |index, silo| {
                let storage: Storage = stores[index % stores.len()].clone();
                silo.register::<Counter>().storage(storage)
            })
            .await
            .expect("starting the cluster");
            for key in 0..GRAINS {
                let value = cluster.silo(0).grain::<Counter>(key).add(key + 1).await;
                assert_eq!(value.expect("calling").expect("saving"), key + 1);
            }
            let held = active_on(&cluster, 2);
            assert!(!held.is_empty(), "silo 2 owns some counters");

            cluster.crash(2);
            cluster.settle().await.unwrap();
            for key in 0..GRAINS {
                let value = cluster.silo(1).grain::<Counter>(key).add(1).await;
                let value = value
                    .unwrap_or_else(|e| panic!("counter {key} after the crash: {e}"))
                    .expect("saving");
                assert_eq!(value, key + 2, "counter {key}");
            }
            let moved: Vec<u64> = held
                .iter()
                .copied()
                .filter(|key| !active_on(&cluster, 0).contains(key))
                .filter(|key| !active_on(&cluster, 1).contains(key))
                .collect();
            assert!(moved.is_empty(), "counters {moved:?} did not re-activate");

            cluster.restart(2).await.unwrap();
            for key in 0..GRAINS {
                let value = cluster.silo(2).grain::<Counter>(key).get().await;
                assert_eq!(value.expect("calling"), key + 2, "counter {key}");
            }
            cluster.shutdown().await;
        })
        .await;
}

//! Ids handed out while the cluster changes under load, on any store.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use grain_runtime::Client;
use ipseity::Namespace;

use crate::silos::{Cluster, Store, next_ids, wait_for_view};

/// Hands out ids from `namespaces` round-robin until `stop`, retrying a namespace while it is
/// unavailable; returns every id acknowledged, with its namespace.
async fn hand_out_ids(
    client: Arc<Client>,
    caller: u64,
    namespaces: u64,
    stop: Arc<AtomicBool>,
) -> Vec<(u64, u64)> {
    let mut acknowledged = Vec::new();
    let mut turn = caller;
    while !stop.load(Ordering::Relaxed) {
        turn += 16;
        let key = turn % namespaces;
        match client.grain::<Namespace>(key).next_id().await {
            Ok(Ok(id)) => acknowledged.push((key, id)),
            Ok(Err(_)) | Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    acknowledged
}

/// 16 callers hand out ids from 300 shared namespaces while a fourth silo joins, one leaves
/// with SIGTERM, and one is killed with SIGKILL and restarted: no id is handed out twice, and
/// afterwards every namespace continues above the highest id it acknowledged.
pub(crate) async fn ids_stay_unique_under_churn(store: Store) {
    const SHARED: u64 = 300;
    let mut cluster = Cluster::start(3, store);
    let client = Arc::new(cluster.client().await);
    wait_for_view(&client, 3).await;
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..16)
        .map(|caller| {
            tokio::spawn(hand_out_ids(
                Arc::clone(&client),
                caller,
                SHARED,
                Arc::clone(&stop),
            ))
        })
        .collect();
    let pause = || tokio::time::sleep(Duration::from_millis(400));

    pause().await;
    let joined = cluster.launch(3);
    cluster.silos.push(Some(joined));
    wait_for_view(&client, 4).await;
    pause().await;
    cluster.silos[1].take().unwrap().stop();
    wait_for_view(&client, 3).await;
    pause().await;
    cluster.kill(2);
    wait_for_view(&client, 2).await;
    pause().await;
    cluster.silos[2] = Some(cluster.launch(2));
    wait_for_view(&client, 3).await;
    pause().await;
    stop.store(true, Ordering::Relaxed);

    let mut issued: HashMap<u64, HashSet<u64>> = HashMap::new();
    let mut acknowledged = 0;
    for caller in callers {
        for (key, id) in caller.await.unwrap() {
            acknowledged += 1;
            assert!(
                issued.entry(key).or_default().insert(id),
                "namespace {key} handed out {id} twice"
            );
        }
    }
    assert!(
        acknowledged > 1_000,
        "only {acknowledged} ids were handed out"
    );
    let after = next_ids(&client, 0..SHARED).await;
    for (key, id) in after {
        let highest = issued
            .get(&key)
            .and_then(|ids| ids.iter().max())
            .copied()
            .unwrap_or(0);
        assert!(
            id > highest,
            "namespace {key} went back from {highest} to {id}"
        );
    }
}

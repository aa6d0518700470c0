//! A caller whose view lags learns a grain's owner from the silo that forwarded its call, and
//! sends the grain's next calls there directly; when that owner passes the grain on, the caller
//! learns the newer owner instead.

use std::time::Duration;

use grain_runtime::ClientConfig;
use grain_runtime::prelude::*;
use grain_runtime::testing::TestCluster;
use grain_tests::active_on;
use grain_tests::visits::Visits;

const GRAINS: u64 = 400;

fn forwarded(cluster: &TestCluster) -> Vec<u64> {
    cluster
        .running()
        .into_iter()
        .map(|i| cluster.silo(i).stats().forwarded)
        .collect()
}

/// Calls every key once, expecting each `(key, count)` of `expect` to answer that count.
async fn visit_all(client: &Client, expect: &[(u64, u64)]) {
    for key in 0..GRAINS {
        let count = client.grain::<Visits>(key).visit().await.expect("visiting");
        if let Some((_, expected)) = expect.iter().find(|(k, _)| *k == key) {
            assert_eq!(count, *expected, "grain {key} kept its activation");
        }
    }
}

/// Calls every key again, expecting the second visit of the `again` keys, and no call to be
/// forwarded.
async fn visit_again_unforwarded(cluster: &TestCluster, client: &Client, again: &[u64], why: &str) {
    let before = forwarded(cluster);
    let twice: Vec<_> = again.iter().map(|&key| (key, 2)).collect();
    visit_all(client, &twice).await;
    assert_eq!(forwarded(cluster), before, "{why}");
}

/// The keys active on silo `index`, which must be their only activation.
fn keys_on(cluster: &TestCluster, index: usize) -> Vec<u64> {
    (0..GRAINS)
        .filter(|&key| {
            let on = active_on::<Visits>(cluster, key);
            assert_eq!(on.len(), 1, "grain {key} is active on {on:?}");
            on[0] == index
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_client_sends_straight_to_the_owner_it_learned() {
    let mut cluster = TestCluster::start(3, |_, silo| silo.register::<Visits>())
        .await
        .unwrap();
    let seed = cluster.silo(0).address().unwrap().to_string();
    let config = ClientConfig::new([seed])
        .cluster(cluster.cluster_name())
        .refresh_interval(Duration::from_secs(3600));
    let client = Client::connect_with(config).await.expect("connecting");
    let newest = cluster.add_silo().await.unwrap();

    visit_all(&client, &[]).await;
    let moved = keys_on(&cluster, newest);
    assert!(
        moved.len() > 40,
        "silo {newest} took {} grains",
        moved.len()
    );
    assert!(
        moved
            .iter()
            .all(|&key| client.owner_of::<Visits>(key) != Some(TestCluster::silo_name(newest))),
        "the client's view never had silo {newest}"
    );
    let total = |counts: &[u64]| counts.iter().sum::<u64>();
    assert_eq!(
        total(&forwarded(&cluster)),
        moved.len() as u64,
        "each call to a moved grain was forwarded once"
    );

    let why = format!("the second calls went straight to silo {newest}");
    visit_again_unforwarded(&cluster, &client, &moved, &why).await;

    let latest = cluster.add_silo().await.unwrap();
    let before = forwarded(&cluster);
    visit_all(&client, &[]).await;
    let passed_on: Vec<_> = keys_on(&cluster, latest)
        .into_iter()
        .filter(|key| moved.contains(key))
        .collect();
    assert!(
        !passed_on.is_empty(),
        "silo {latest} took none of silo {newest}'s grains"
    );
    let after = forwarded(&cluster);
    assert_eq!(
        after[newest] - before[newest],
        passed_on.len() as u64,
        "silo {newest} forwarded the calls to the grains it no longer owns"
    );

    let why = format!("the client dropped silo {newest} for the grains silo {latest} owns now");
    visit_again_unforwarded(&cluster, &client, &passed_on, &why).await;
    cluster.shutdown().await;
}

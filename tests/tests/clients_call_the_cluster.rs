//! A client outside the cluster calls its grains on their owners, and keeps working when the
//! silo it first connected to leaves.

use std::collections::HashMap;
use std::time::Duration;

use grain_runtime::prelude::*;
use grain_runtime::testing::TestCluster;
use grain_runtime::{ClientConfig, SiloError};
use grain_tests::visits::Visits;

const GRAINS: u64 = 600;

async fn connect(cluster: &TestCluster, via: usize) -> Client {
    let seed = cluster.silo(via).address().unwrap().to_string();
    let config = ClientConfig::new([seed])
        .cluster(cluster.cluster_name())
        .refresh_interval(Duration::from_millis(50));
    Client::connect_with(config).await.expect("connecting")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_spreads_calls_over_the_owners() {
    let cluster = TestCluster::start(3, |_, silo| silo.register::<Visits>())
        .await
        .unwrap();
    let client = connect(&cluster, 1).await;
    assert_eq!(client.view().active().count(), 3, "{}", client.view());
    let mut owners: HashMap<String, u64> = HashMap::new();
    for key in 0..GRAINS {
        assert_eq!(client.grain::<Visits>(key).visit().await.unwrap(), 1);
        *owners
            .entry(client.owner_of::<Visits>(key).unwrap())
            .or_default() += 1;
    }
    for index in 0..3 {
        let name = TestCluster::silo_name(index);
        let owned = owners.get(&name).copied().unwrap_or(0);
        assert!(
            (100..=300).contains(&owned),
            "{name} owns {owned} of {GRAINS}: {owners:?}"
        );
        let active = cluster.silo(index).stats().live_activations;
        assert_eq!(active as u64, owned, "{name} runs the grains it owns");
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_outlives_the_silo_it_connected_to() {
    let mut cluster = TestCluster::start(3, |_, silo| silo.register::<Visits>())
        .await
        .unwrap();
    let client = connect(&cluster, 0).await;
    cluster.stop(0).await;
    cluster.settle().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(client.view().get("silo-0").is_none(), "{}", client.view());
    for key in 0..100u64 {
        client
            .grain::<Visits>(key)
            .visit()
            .await
            .expect("calling after the seed left");
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_client_without_a_reachable_seed_says_why() {
    let error = Client::connect(["127.0.0.1:1"])
        .await
        .expect_err("nobody listens");
    match error {
        SiloError::Membership(reason) => assert!(reason.contains("127.0.0.1:1"), "{reason}"),
        other => panic!("unexpected error {other}"),
    }
    let error = Client::connect(Vec::<String>::new())
        .await
        .expect_err("no seeds");
    assert!(error.to_string().contains("seeds"), "{error}");
}

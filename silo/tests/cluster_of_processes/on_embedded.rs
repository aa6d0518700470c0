//! Three `silo` processes, each with its own sled directory: grains spread over the silos, a
//! silo killed with SIGKILL leaves its grains unavailable (never empty) until it restarts with
//! its data, and a silo stopped with SIGTERM hands its grains' state to the others and exits 0.

use std::process::Command;
use std::time::Duration;

use grain_runtime::CallError;
use ipseity::Namespace;

use crate::churn::ids_stay_unique_under_churn;
use crate::silos::{Cluster, Store, next_ids, owned_by, wait_for_view};

const NAMESPACES: u64 = 10_000;

const SLED: Store = Store::Embedded("sled");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_silos_share_the_grains_and_a_killed_one_comes_back_with_its_state() {
    let mut cluster = Cluster::start(3, SLED);
    let client = cluster.client().await;
    wait_for_view(&client, 3).await;

    let first = next_ids(&client, 0..NAMESPACES).await;
    assert!(
        first.iter().all(|&(_, id)| id == 1),
        "every namespace starts at 1"
    );
    let mut owned = [0u64; 3];
    for key in 0..NAMESPACES {
        let owner = client.owner_of::<Namespace>(key).expect("an owner");
        owned[owner.trim_start_matches("silo-").parse::<usize>().unwrap()] += 1;
    }
    for (index, count) in owned.iter().enumerate() {
        assert!(
            (2_500..=4_200).contains(count),
            "silo-{index} owns {count} of {NAMESPACES}: {owned:?}"
        );
    }

    let mut on_2 = owned_by(&client, "silo-2", 0..NAMESPACES);
    on_2.truncate(50);
    cluster.kill(2);
    wait_for_view(&client, 2).await;
    let mut unavailable = 0;
    for &key in &on_2 {
        for _ in 0..100 {
            match client.grain::<Namespace>(key).next_id().await {
                Err(CallError::Unavailable { reason, .. }) if reason.contains("silo-2") => {
                    unavailable += 1;
                    break;
                }
                Err(CallError::Unavailable { .. }) => {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                other => panic!("namespace {key} of the killed silo answered {other:?}"),
            }
        }
    }
    assert_eq!(
        unavailable,
        on_2.len(),
        "its grains wait for the killed silo"
    );

    cluster.silos[2] = Some(cluster.launch(2));
    wait_for_view(&client, 3).await;
    let again = next_ids(&client, on_2.iter().copied()).await;
    assert!(
        again.iter().all(|&(_, id)| id > 1),
        "ids resume above what was handed out: {again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_the_silos_grains_off_and_exits_zero() {
    let mut cluster = Cluster::start(3, SLED);
    let client = cluster.client().await;
    wait_for_view(&client, 3).await;
    let keys = 0..1_000u64;
    let first = next_ids(&client, keys.clone()).await;
    assert!(first.iter().all(|&(_, id)| id == 1));

    cluster.silos[1].take().unwrap().stop();
    wait_for_view(&client, 2).await;

    let again = next_ids(&client, keys).await;
    assert!(
        again.iter().all(|&(_, id)| id > 1),
        "no namespace starts over after a graceful leave"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_marks_a_killed_silo_lost_and_its_grains_start_over() {
    let mut cluster = Cluster::start(2, SLED);
    let client = cluster.client().await;
    wait_for_view(&client, 2).await;
    let mut on_1 = owned_by(&client, "silo-1", 0..200);
    on_1.truncate(5);
    next_ids(&client, on_1.iter().copied()).await;
    cluster.kill(1);
    wait_for_view(&client, 1).await;

    let mark = |name: &str| {
        Command::new(env!("CARGO_BIN_EXE_silo"))
            .args([
                "--cluster",
                &cluster.name,
                "--seeds",
                &cluster.seeds().join(","),
            ])
            .args(["mark-lost", name])
            .output()
            .expect("running mark-lost")
    };
    let refused = mark("silo-0");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("silo silo-0 is not down"), "{stderr}");
    let marked = mark("silo-1");
    let stdout = String::from_utf8_lossy(&marked.stdout);
    assert!(
        marked.status.success(),
        "{}",
        String::from_utf8_lossy(&marked.stderr)
    );
    assert!(stdout.contains("marked silo-1@"), "{stdout}");

    let again = next_ids(&client, on_1.iter().copied()).await;
    assert!(
        again.iter().all(|&(_, id)| id == 1),
        "given-up namespaces start over: {again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_stay_unique_while_silos_join_leave_and_crash_under_load() {
    ids_stay_unique_under_churn(SLED).await;
}

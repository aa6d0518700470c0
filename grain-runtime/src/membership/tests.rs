//! Membership over real UDP sockets on 127.0.0.1: convergence, status changes, crashes, restarts,
//! config errors and cluster isolation.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::*;

const GOSSIP_INTERVAL: Duration = Duration::from_millis(100);
const DEAD_AFTER: Duration = Duration::from_millis(1500);
/// Generous, for a loaded 2-core machine; waits return as soon as the view is right.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A free UDP port on 127.0.0.1. chitchat needs the advertised address before it binds, so the
/// port is found by binding port 0 and releasing it.
fn free_addr() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|socket| socket.local_addr())
        .expect("bind an ephemeral UDP port")
}

fn config(
    cluster: &str,
    name: &str,
    gossip: SocketAddr,
    seeds: &[&Membership],
) -> MembershipConfig {
    // The transport address only needs to be recognisable: the gossip port, as TCP.
    let mut config = MembershipConfig::new(cluster, name, gossip, gossip);
    config.seeds = seeds
        .iter()
        .map(|seed| gossip_addr(seed).to_string())
        .collect();
    config.gossip_interval = GOSSIP_INTERVAL;
    config.dead_after = DEAD_AFTER;
    config
}

async fn start(cluster: &str, name: &str, seeds: &[&Membership]) -> Membership {
    Membership::start(
        config(cluster, name, free_addr(), seeds),
        SiloStatus::Active,
    )
    .await
    .expect("start membership")
}

fn gossip_addr(node: &Membership) -> SocketAddr {
    node.handle.chitchat_id().gossip_advertise_addr
}

fn names(view: &ClusterView) -> Vec<&str> {
    view.members.iter().map(|silo| silo.name.as_str()).collect()
}

/// Stops gossip without announcing anything, as a crash would, and waits until the socket is
/// released.
async fn crash(node: Membership) {
    let Membership { handle, agent, .. } = node;
    drop(agent);
    handle
        .shutdown()
        .await
        .expect("gossip server stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_seeded_from_the_first_converge() {
    let a = start("converge", "a", &[]).await;
    let b = start("converge", "b", &[&a]).await;
    let c = start("converge", "c", &[&a]).await;
    for node in [&a, &b, &c] {
        let view = node
            .wait_for(|view| view.members.len() == 3, TIMEOUT)
            .await
            .expect("every node sees all three");
        assert_eq!(names(&view), ["a", "b", "c"]);
        for (silo, member) in view.members.iter().zip([&a, &b, &c]) {
            assert_eq!(silo.address, gossip_addr(member));
            assert_eq!(silo.status, SiloStatus::Active);
            assert_eq!(silo.generation, member.handle.chitchat_id().generation_id);
        }
        assert_eq!(view.active().count(), 3);
        assert!(view.version >= 1, "{view}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_is_seen_by_the_others_until_the_node_stops() {
    let a = start("leaving", "a", &[]).await;
    let b = start("leaving", "b", &[&a]).await;
    a.wait_for(|view| view.members.len() == 2, TIMEOUT)
        .await
        .unwrap();

    b.set_status(SiloStatus::Leaving).await;
    let own = b
        .wait_for(
            |view| {
                view.get("b")
                    .is_some_and(|silo| silo.status == SiloStatus::Leaving)
            },
            Duration::from_secs(1),
        )
        .await
        .expect("a silo's own view shows its new status at once");
    assert_eq!(own.active().count(), 1);
    let seen = a
        .wait_for(
            |view| {
                view.get("b")
                    .is_some_and(|silo| silo.status == SiloStatus::Leaving)
            },
            TIMEOUT,
        )
        .await
        .expect("a sees b leaving");
    assert_eq!(names(&seen), ["a", "b"]);
    assert_eq!(
        seen.active()
            .map(|silo| silo.name.as_str())
            .collect::<Vec<_>>(),
        ["a"]
    );

    b.leave().await;
    let after = a
        .wait_for(|view| view.get("b").is_none(), TIMEOUT)
        .await
        .expect("b drops out once it stops");
    assert_eq!(names(&after), ["a"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_node_drops_out_within_dead_after() {
    let a = start("crash", "a", &[]).await;
    let b = start("crash", "b", &[&a]).await;
    let c = start("crash", "c", &[&a]).await;
    for node in [&a, &b, &c] {
        node.wait_for(|view| view.members.len() == 3, TIMEOUT)
            .await
            .unwrap();
    }
    // Let the failure detectors learn the heartbeat rhythm before the crash.
    tokio::time::sleep(DEAD_AFTER).await;
    let c_id = c.handle.chitchat_id().clone();
    let timeout = a
        .handle
        .with_chitchat(|chitchat| chitchat.failure_detection_timeout(&c_id))
        .await;
    eprintln!("a's failure detection timeout for c before the crash: {timeout:?}");

    let crashed_at = Instant::now();
    crash(c).await;
    for node in [&a, &b] {
        let view = node
            .wait_for(|view| view.get("c").is_none(), TIMEOUT)
            .await
            .expect("c drops out of the view");
        let elapsed = crashed_at.elapsed();
        eprintln!("c dropped out after {elapsed:?}: {view}");
        assert_eq!(names(&view), ["a", "b"]);
        // Not before it was silent for dead_after (less the agent's sampling tick), and not
        // much after.
        assert!(
            elapsed > DEAD_AFTER - 2 * GOSSIP_INTERVAL,
            "dropped after {elapsed:?}, before being silent for {DEAD_AFTER:?}"
        );
        assert!(
            elapsed < DEAD_AFTER + Duration::from_secs(3),
            "took {elapsed:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_replaces_its_old_incarnation() {
    let a = start("restart", "a", &[]).await;
    let b = start("restart", "b", &[&a]).await;
    let before = a
        .wait_for(|view| view.members.len() == 2, TIMEOUT)
        .await
        .unwrap();
    let old_generation = before.get("b").map(|silo| silo.generation).unwrap();

    // Same name and gossip address, a new transport address: a silo back after a crash.
    let gossip = gossip_addr(&b);
    crash(b).await;
    let mut restarted = config("restart", "b", gossip, &[&a]);
    restarted.transport_address = free_addr();
    let new_address = restarted.transport_address;
    let b = Membership::start(restarted, SiloStatus::Active)
        .await
        .unwrap();

    let view = a
        .wait_for(
            |view| {
                view.get("b")
                    .is_some_and(|silo| silo.generation > old_generation)
            },
            TIMEOUT,
        )
        .await
        .expect("a sees the new incarnation");
    assert_eq!(names(&view), ["a", "b"]);
    assert_eq!(view.get("b").map(|silo| silo.address), Some(new_address));
    let incarnations = a
        .handle
        .with_chitchat(|chitchat| {
            chitchat
                .live_nodes()
                .filter(|id| &*id.node_id == "b")
                .count()
        })
        .await;
    eprintln!(
        "incarnations of b chitchat considered live when the new one appeared: {incarnations}"
    );
    b.wait_for(|view| names(view) == ["a", "b"], TIMEOUT)
        .await
        .expect("the new incarnation sees a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configs_are_refused_with_the_reason() {
    let addr = free_addr();
    let ok = || config("config", "a", addr, &[]);
    let cases: Vec<(MembershipConfig, &str)> = vec![
        (
            MembershipConfig {
                cluster: String::new(),
                ..ok()
            },
            "bad config: cluster name is empty",
        ),
        (
            MembershipConfig {
                node_name: String::new(),
                ..ok()
            },
            "bad config: node_name is empty",
        ),
        (
            MembershipConfig {
                gossip_interval: Duration::ZERO,
                ..ok()
            },
            "bad config: gossip_interval must be non-zero",
        ),
        (
            MembershipConfig {
                dead_after: Duration::ZERO,
                ..ok()
            },
            "bad config: dead_after must be non-zero",
        ),
        (
            MembershipConfig {
                dead_after: GOSSIP_INTERVAL,
                ..ok()
            },
            "bad config: dead_after must be > gossip_interval (dead_after 100ms, gossip_interval 100ms)",
        ),
        (
            MembershipConfig {
                seeds: vec!["nope".into()],
                ..ok()
            },
            "invalid seed \"nope\": expected host:port",
        ),
        (
            MembershipConfig {
                seeds: vec![":7946".into()],
                ..ok()
            },
            "invalid seed \":7946\": host is empty",
        ),
        (
            MembershipConfig {
                seeds: vec!["silo-b:99999".into()],
                ..ok()
            },
            "invalid seed \"silo-b:99999\": port is not a number from 1 to 65535",
        ),
    ];
    for (config, expected) in cases {
        let err = Membership::start(config, SiloStatus::Active).await.err();
        assert_eq!(err.map(|err| err.to_string()).as_deref(), Some(expected));
    }

    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap();
    let err = Membership::start(config("config", "a", taken_addr, &[]), SiloStatus::Active)
        .await
        .err()
        .map(|err| err.to_string())
        .unwrap_or_default();
    assert!(
        err.starts_with(&format!("cannot bind UDP address {taken_addr}: ")),
        "{err}"
    );

    let alone = start("config", "a", &[]).await;
    let err = alone
        .wait_for(|view| view.members.len() == 2, Duration::from_millis(300))
        .await
        .err()
        .map(|err| err.to_string())
        .unwrap_or_default();
    assert_eq!(
        err,
        "cluster view did not reach the expected state within 300ms; last view: v0 [a(active)]"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_of_another_cluster_stay_out_of_the_view() {
    let a = start("alpha", "a", &[]).await;
    let stranger = start("beta", "stranger", &[&a]).await;
    let c = start("alpha", "c", &[&a, &stranger]).await;
    a.wait_for(|view| view.members.len() == 2, TIMEOUT)
        .await
        .unwrap();
    c.wait_for(|view| view.members.len() == 2, TIMEOUT)
        .await
        .unwrap();
    // Absence cannot be waited for: give gossip ten more rounds to make a mistake.
    tokio::time::sleep(GOSSIP_INTERVAL * 10).await;
    assert_eq!(names(&a.view()), ["a", "c"]);
    assert_eq!(names(&c.view()), ["a", "c"]);
    assert_eq!(names(&stranger.view()), ["stranger"]);
}

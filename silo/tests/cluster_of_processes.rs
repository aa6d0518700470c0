//! Three `silo` processes on 127.0.0.1, each with its own sled directory, and a client in this
//! process: grains spread over the silos, a silo killed with SIGKILL leaves its grains
//! unavailable (never empty) until it restarts with its data, and a silo stopped with SIGTERM
//! hands its grains' state to the others and exits 0.

mod support;

use support::wait_for;

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use futures::StreamExt as _;
use grain_runtime::{CallError, Client, ClientConfig};
use ipseity::Namespace;

const NAMESPACES: u64 = 10_000;

/// One silo process and the lines it logs.
struct SiloProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
    address: SocketAddr,
}

impl SiloProcess {
    /// Starts silo `name` of `cluster`, keeping state in `dir`, joining through `seeds`.
    fn start(cluster: &str, name: &str, dir: &Path, seeds: &[SocketAddr]) -> Self {
        let seeds: Vec<String> = seeds.iter().map(ToString::to_string).collect();
        let mut command = Command::new(env!("CARGO_BIN_EXE_silo"));
        command
            .args(["--name", name, "--cluster", cluster, "--storage", "sled"])
            .args(["--listen", "127.0.0.1:0", "--log", "info"])
            .args(["--gossip-interval", "100ms", "--dead-after", "1s"])
            .arg("--data-dir")
            .arg(dir)
            .env_remove("SILO_CONFIG")
            .stderr(Stdio::piped());
        if !seeds.is_empty() {
            command.arg("--seeds").arg(seeds.join(","));
        }
        let mut child = command.spawn().expect("spawning a silo");
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let running = wait_for(&lines, "silo running");
        let address = running
            .split_whitespace()
            .find_map(|field| field.strip_prefix("address="))
            .and_then(|text| text.parse().ok())
            .unwrap_or_else(|| panic!("no address in {running:?}"));
        Self {
            child,
            lines,
            address,
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success());
    }
}

impl Drop for SiloProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Cluster {
    name: String,
    dir: tempfile::TempDir,
    silos: Vec<Option<SiloProcess>>,
}

impl Cluster {
    fn start(count: usize) -> Self {
        let mut cluster = Self {
            name: format!("processes-{}", std::process::id()),
            dir: tempfile::tempdir().expect("temp dir"),
            silos: Vec::new(),
        };
        for index in 0..count {
            let silo = cluster.launch(index);
            cluster.silos.push(Some(silo));
        }
        cluster
    }

    fn data_dir(&self, index: usize) -> PathBuf {
        self.dir.path().join(format!("silo-{index}"))
    }

    fn launch(&self, index: usize) -> SiloProcess {
        let seeds: Vec<SocketAddr> = self.silos.iter().flatten().map(|s| s.address).collect();
        SiloProcess::start(
            &self.name,
            &format!("silo-{index}"),
            &self.data_dir(index),
            &seeds,
        )
    }

    fn seeds(&self) -> Vec<String> {
        self.silos
            .iter()
            .flatten()
            .map(|s| s.address.to_string())
            .collect()
    }

    async fn client(&self) -> Client {
        let config = ClientConfig::new(self.seeds())
            .cluster(&self.name)
            .refresh_interval(Duration::from_millis(100));
        Client::connect_with(config).await.expect("connecting")
    }
}

/// Waits until the client's view holds exactly `count` active silos.
async fn wait_for_view(client: &Client, count: usize) {
    for _ in 0..300 {
        let view = client.view();
        if view.members.len() == count && view.active().count() == count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the view did not settle on {count} silos: {}",
        client.view()
    );
}

/// Hands out one id from each of `keys`, 64 at a time, returning each id.
async fn next_ids(client: &Client, keys: impl Iterator<Item = u64>) -> Vec<(u64, u64)> {
    futures::stream::iter(keys)
        .map(|key| async move {
            let namespace = client.grain::<Namespace>(key);
            for _ in 0..200 {
                match namespace.next_id().await {
                    Ok(Ok(id)) => return (key, id),
                    Err(CallError::Unavailable { .. }) => {
                        tokio::time::sleep(Duration::from_millis(25)).await;
                    }
                    other => panic!("namespace {key}: {other:?}"),
                }
            }
            panic!("namespace {key} stayed unavailable")
        })
        .buffer_unordered(64)
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_silos_share_the_grains_and_a_killed_one_comes_back_with_its_state() {
    let mut cluster = Cluster::start(3);
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

    let on_2: Vec<u64> = (0..NAMESPACES)
        .filter(|&key| client.owner_of::<Namespace>(key).as_deref() == Some("silo-2"))
        .take(50)
        .collect();
    cluster.silos[2].as_ref().unwrap().signal("-KILL");
    cluster.silos[2] = None;
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
    let mut cluster = Cluster::start(3);
    let client = cluster.client().await;
    wait_for_view(&client, 3).await;
    let keys = 0..1_000u64;
    let first = next_ids(&client, keys.clone()).await;
    assert!(first.iter().all(|&(_, id)| id == 1));

    let mut leaving = cluster.silos[1].take().unwrap();
    leaving.signal("-TERM");
    wait_for(&leaving.lines, "silo stopped");
    let exit = leaving.child.wait().expect("waiting for the silo");
    assert!(exit.success(), "the silo exited with {exit}");
    wait_for_view(&client, 2).await;

    let again = next_ids(&client, keys).await;
    assert!(
        again.iter().all(|&(_, id)| id > 1),
        "no namespace starts over after a graceful leave"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_marks_a_killed_silo_lost_and_its_grains_start_over() {
    let mut cluster = Cluster::start(2);
    let client = cluster.client().await;
    wait_for_view(&client, 2).await;
    let on_1: Vec<u64> = (0..200u64)
        .filter(|&key| client.owner_of::<Namespace>(key).as_deref() == Some("silo-1"))
        .take(5)
        .collect();
    next_ids(&client, on_1.iter().copied()).await;
    cluster.silos[1].as_ref().unwrap().signal("-KILL");
    cluster.silos[1] = None;
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

/// Hands out ids from `namespaces` round-robin until `stop`, retrying a namespace while it is
/// unavailable; returns every id acknowledged, with its namespace.
async fn hand_out_ids(
    client: std::sync::Arc<Client>,
    caller: u64,
    namespaces: u64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<(u64, u64)> {
    let mut acknowledged = Vec::new();
    let mut turn = caller;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        turn += 16;
        let key = turn % namespaces;
        match client.grain::<Namespace>(key).next_id().await {
            Ok(Ok(id)) => acknowledged.push((key, id)),
            Ok(Err(_)) | Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    acknowledged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_stay_unique_while_silos_join_leave_and_crash_under_load() {
    use std::collections::{HashMap, HashSet};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    const SHARED: u64 = 300;
    let mut cluster = Cluster::start(3);
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
    let mut leaving = cluster.silos[1].take().unwrap();
    leaving.signal("-TERM");
    wait_for(&leaving.lines, "silo stopped");
    assert!(
        leaving.child.wait().unwrap().success(),
        "a graceful leave exits 0"
    );
    wait_for_view(&client, 3).await;
    pause().await;
    cluster.silos[2].as_ref().unwrap().signal("-KILL");
    cluster.silos[2] = None;
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

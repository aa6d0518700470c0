//! `silo` processes on 127.0.0.1 that form one cluster, and the client calls the tests share.

use std::ffi::OsString;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use futures::StreamExt as _;
use grain_runtime::{CallError, Client, ClientConfig};
use ipseity::Namespace;

use crate::support::wait_for;

/// Where the silos of a cluster keep grain state.
#[derive(Debug, Clone)]
pub(crate) enum Store {
    /// Each silo has its own directory for this embedded engine (`sled` or `redb`).
    Embedded(&'static str),
    /// Every silo shares one schema of a PostgreSQL database.
    Postgres {
        /// The server's connection URL.
        url: String,
        /// The schema the silos share.
        schema: String,
    },
}

impl Store {
    /// The `silo` flags that select this store, with `dir` as the data directory.
    fn args(&self, dir: &Path) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["--data-dir".into(), dir.into(), "--storage".into()];
        match self {
            Store::Embedded(engine) => args.push((*engine).into()),
            Store::Postgres { url, schema } => args.extend(
                [
                    "postgres",
                    "--postgres-url",
                    url,
                    "--postgres-schema",
                    schema,
                ]
                .map(Into::into),
            ),
        }
        args
    }
}

/// One silo process and the lines it logs.
pub(crate) struct SiloProcess {
    pub(crate) child: Child,
    pub(crate) lines: mpsc::Receiver<String>,
    pub(crate) address: SocketAddr,
}

impl SiloProcess {
    /// Starts silo `name` of `cluster` on `store`, with `dir` as its data directory, joining
    /// through `seeds`, and waits until it runs.
    fn start(cluster: &str, name: &str, store: &Store, dir: &Path, seeds: &[SocketAddr]) -> Self {
        let seeds: Vec<String> = seeds.iter().map(ToString::to_string).collect();
        let mut command = Command::new(env!("CARGO_BIN_EXE_silo"));
        command
            .args(["--name", name, "--cluster", cluster])
            .args(store.args(dir))
            .args(["--listen", "127.0.0.1:0", "--log", "info"])
            .args(["--gossip-interval", "100ms", "--dead-after", "1s"])
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

    /// Sends `signal` (such as `-KILL` or `-TERM`) to the process.
    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success());
    }

    /// Sends SIGTERM and checks that the silo logs its stop and exits 0.
    pub(crate) fn stop(mut self) {
        self.signal("-TERM");
        wait_for(&self.lines, "silo stopped");
        let exit = self.child.wait().expect("waiting for the silo");
        assert!(exit.success(), "the silo exited with {exit}");
    }
}

impl Drop for SiloProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Silo processes named `silo-0`, `silo-1`, ... of one cluster; `None` where one was stopped.
pub(crate) struct Cluster {
    pub(crate) name: String,
    dir: tempfile::TempDir,
    store: Store,
    pub(crate) silos: Vec<Option<SiloProcess>>,
}

impl Cluster {
    /// Starts `count` silos on `store`, each joining through the ones before it.
    pub(crate) fn start(count: usize, store: Store) -> Self {
        let mut cluster = Self {
            name: format!("processes-{}", std::process::id()),
            dir: tempfile::tempdir().expect("temp dir"),
            store,
            silos: Vec::new(),
        };
        for index in 0..count {
            let silo = cluster.launch(index);
            cluster.silos.push(Some(silo));
        }
        cluster
    }

    /// The data directory of silo `index`.
    pub(crate) fn data_dir(&self, index: usize) -> PathBuf {
        self.dir.path().join(format!("silo-{index}"))
    }

    /// Starts silo `index` (again), joining through the running ones.
    pub(crate) fn launch(&self, index: usize) -> SiloProcess {
        let seeds: Vec<SocketAddr> = self.silos.iter().flatten().map(|s| s.address).collect();
        SiloProcess::start(
            &self.name,
            &format!("silo-{index}"),
            &self.store,
            &self.data_dir(index),
            &seeds,
        )
    }

    /// Kills silo `index` with SIGKILL.
    pub(crate) fn kill(&mut self, index: usize) {
        let silo = self.silos[index].take().expect("the silo runs");
        silo.signal("-KILL");
    }

    /// The addresses of the running silos.
    pub(crate) fn seeds(&self) -> Vec<String> {
        self.silos
            .iter()
            .flatten()
            .map(|s| s.address.to_string())
            .collect()
    }

    /// A client of the cluster that refreshes its view every 100 ms.
    pub(crate) async fn client(&self) -> Client {
        let config = ClientConfig::new(self.seeds())
            .cluster(&self.name)
            .refresh_interval(Duration::from_millis(100));
        Client::connect_with(config).await.expect("connecting")
    }
}

/// Waits until the client's view holds exactly `count` active silos.
pub(crate) async fn wait_for_view(client: &Client, count: usize) {
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

/// The keys among `keys` that the client's view places on `silo`.
pub(crate) fn owned_by(client: &Client, silo: &str, keys: impl Iterator<Item = u64>) -> Vec<u64> {
    keys.filter(|&key| client.owner_of::<Namespace>(key).as_deref() == Some(silo))
        .collect()
}

/// Hands out one id from each of `keys`, 64 at a time, returning each id; a namespace that is
/// unavailable is retried for up to 5 s.
pub(crate) async fn next_ids(client: &Client, keys: impl Iterator<Item = u64>) -> Vec<(u64, u64)> {
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

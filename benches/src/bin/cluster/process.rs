//! The parent's handle on one silo child process: starts it, reads its `LISTEN` and `VIEW`
//! lines (timestamped as they arrive), and kills it.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::serve::Timing;

/// A cluster view as a silo child printed it: `(name, status)` of each member.
pub(crate) type Members = Vec<(String, String)>;

/// A running silo child.
pub(crate) struct SiloProcess {
    name: String,
    child: Child,
    /// Held open: the child exits when it closes.
    stdin: Option<ChildStdin>,
    address: SocketAddr,
    /// Lines of the child's stdout, with when the parent read each.
    lines: mpsc::UnboundedReceiver<(Instant, String)>,
    /// The last view the child printed.
    view: Members,
}

impl SiloProcess {
    /// Starts silo `name` of `cluster`, joining through `seed` if given, and waits for its
    /// listen address.
    pub(crate) async fn start(
        name: &str,
        seed: Option<SocketAddr>,
        cluster: &str,
        timing: Timing,
    ) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| format!("locating the executable: {e}"))?;
        let mut child = Command::new(exe)
            .arg("--serve-silo")
            .arg(name)
            .arg(seed.map_or_else(|| "none".to_string(), |s| s.to_string()))
            .arg(cluster)
            .arg(timing.gossip_interval.as_millis().to_string())
            .arg(timing.dead_after.as_millis().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting silo child {name}: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no child stdout")?;
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        let mut process = Self {
            name: name.to_string(),
            child,
            stdin,
            address: SocketAddr::from(([0, 0, 0, 0], 0)),
            lines,
            view: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, line) = process.next_line(deadline).await?;
            if let Some(address) = line.strip_prefix("LISTEN ") {
                process.address = address
                    .trim()
                    .parse()
                    .map_err(|e| format!("silo child {name} printed {line:?}: {e}"))?;
                return Ok(process);
            }
        }
    }

    /// The silo's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Where the silo listens for calls (TCP) and gossip (UDP).
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    /// Waits until the child prints a view that `done` accepts (or has printed one already), and
    /// returns when the parent read that line.
    pub(crate) async fn wait_view(
        &mut self,
        done: impl Fn(&Members) -> bool,
        timeout: Duration,
    ) -> Result<Instant, String> {
        if done(&self.view) {
            return Ok(Instant::now());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let (at, line) = self
                .next_line(deadline)
                .await
                .map_err(|e| format!("{e} (last view of {}: {:?})", self.name, self.view))?;
            if done(&self.view) && line.starts_with("VIEW ") {
                return Ok(at);
            }
        }
    }

    /// Kills the child with SIGKILL; returns the instant just before the signal was sent.
    pub(crate) fn kill(&mut self) -> Instant {
        let at = Instant::now();
        let _ = self.child.kill();
        at
    }

    /// The next line of the child's stdout, tracking its views.
    async fn next_line(&mut self, deadline: Instant) -> Result<(Instant, String), String> {
        let left = deadline.saturating_duration_since(Instant::now());
        let next = tokio::time::timeout(left, self.lines.recv()).await;
        let (at, line) = match next {
            Ok(Some(found)) => found,
            Ok(None) => return Err(format!("silo child {} exited", self.name)),
            Err(_) => return Err(format!("silo child {} timed out", self.name)),
        };
        if let Some(rest) = line.strip_prefix("VIEW ") {
            let members = rest.split_once(' ').map_or("", |(_, members)| members);
            self.view = members
                .split(',')
                .filter_map(|m| m.split_once('='))
                .map(|(name, status)| (name.to_string(), status.to_string()))
                .collect();
        }
        Ok((at, line))
    }
}

impl Drop for SiloProcess {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `view` holds exactly `names`, all active.
pub(crate) fn all_active(view: &Members, names: &[&str]) -> bool {
    view.len() == names.len()
        && names
            .iter()
            .all(|n| view.iter().any(|(m, s)| m == n && s == "active"))
}

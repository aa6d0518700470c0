//! The parent side: starts the silo children, drives the asks, kills a silo, rebalances an
//! in-process cluster, prints the table.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use grain_runtime::prelude::*;
use grain_runtime::{ClientConfig, VirtualActorRef};

use crate::asks::Spread::{GrainPerAsk, GrainPerCaller};
use crate::asks::{Run, drive, grains_needed};
use crate::echo::Echo;
use crate::process::{SiloProcess, all_active};
use crate::rebalance;
use crate::report::{self, Row, micros, rate, ratio};
use crate::serve::Timing;

/// How much work each measurement does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counts {
    /// Whether these are the quick counts.
    pub(crate) quick: bool,
    /// Rounds of the ask measurements; the table shows the median of each figure.
    rounds: usize,
    /// Untimed asks of the single caller.
    single_warmup: u64,
    /// Timed asks of the single caller.
    single_asks: u64,
    /// Concurrent callers, each with its own grain.
    callers: usize,
    /// Untimed asks of each concurrent caller.
    concurrent_warmup: u64,
    /// Timed asks of each concurrent caller.
    concurrent_asks: u64,
    /// Kills per failure-detection setting.
    kills: usize,
    /// Active grains the in-process cluster rebalances.
    rebalance_grains: u64,
}

impl Counts {
    /// The full counts.
    pub(crate) const FULL: Counts = Counts {
        quick: false,
        rounds: 3,
        single_warmup: 2_000,
        single_asks: 20_000,
        callers: 64,
        concurrent_warmup: 100,
        concurrent_asks: 2_000,
        kills: 3,
        rebalance_grains: 100_000,
    };

    /// Ten times fewer asks and grains to rebalance, one round, one kill per setting.
    pub(crate) const QUICK: Counts = Counts {
        quick: true,
        rounds: 1,
        single_warmup: 200,
        single_asks: 2_000,
        callers: 64,
        concurrent_warmup: 10,
        concurrent_asks: 200,
        kills: 1,
        rebalance_grains: 10_000,
    };
}

/// The ways an ask reaches an [`Echo`] grain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Path {
    /// A local, non-clustered silo in this process.
    Local,
    /// A client in this process, straight to the owning silo process over loopback TCP.
    Remote,
    /// A client whose view is stale asks grains whose owner silo-a already named in the reply
    /// to an earlier forwarded call, so it sends straight to silo-b.
    Learned,
    /// A client whose view is stale asks each grain once: it sends to silo-a, which forwards
    /// once to the owner silo-b.
    Forwarded,
}

impl Path {
    const ALL: [Path; 4] = [Path::Local, Path::Remote, Path::Learned, Path::Forwarded];

    fn name(self) -> &'static str {
        match self {
            Path::Local => "local",
            Path::Remote => "remote",
            Path::Learned => "learned",
            Path::Forwarded => "forwarded",
        }
    }
}

const SILO_A: &str = "silo-a";
const SILO_B: &str = "silo-b";
const SETTLE: Duration = Duration::from_secs(20);

/// Runs every measurement and prints the table.
pub(crate) async fn run(counts: Counts) -> Result<(), String> {
    let started = Instant::now();
    let asks = ask_measurements(counts).await?;
    let fast = Timing {
        gossip_interval: Duration::from_millis(100),
        dead_after: Duration::from_secs(1),
    };
    let mut detections = Vec::new();
    for timing in [fast, Timing::DEFAULT] {
        detections.push((timing, detection(timing, counts.kills).await?));
    }
    let rebalance = rebalance::measure(counts.rebalance_grains).await?;
    println!();
    println!(
        "grain-benches cluster: {} mode, 2 silo processes + this process on 127.0.0.1, 2 tokio \
         workers each, {} core(s); median of {} round(s); took {:.1?}",
        if counts.quick { "quick" } else { "full" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        counts.rounds,
        started.elapsed()
    );
    println!(
        "counts: 1 caller x {} asks after {} warm-up; {} callers x {} asks after {} warm-up each, \
         one grain per caller; {} kill(s) per gossip setting; {} active grains rebalanced by an \
         in-process cluster, 2 -> 3 -> 2 silos",
        counts.single_asks,
        counts.single_warmup,
        counts.callers,
        counts.concurrent_asks,
        counts.concurrent_warmup,
        counts.kills,
        counts.rebalance_grains
    );
    println!();
    let mut rows = ask_rows(&asks, counts.callers);
    rows.extend(detection_rows(&detections));
    rows.extend(rebalance::rows(&rebalance));
    print!("{}", report::table(&rows));
    println!();
    print!("{}", errors_and_spread(&asks, counts));
    println!();
    print!("{}", rebalance::details(&rebalance));
    println!();
    print!("{}", target(&asks, counts.callers));
    Ok(())
}

/// Every run of each path and caller count, in round order.
type AskRuns = BTreeMap<(Path, usize), Vec<Run>>;

/// Starts silo-a, connects a client that will keep silo-a's one-silo view, starts silo-b, and
/// measures the three paths in interleaved rounds.
async fn ask_measurements(counts: Counts) -> Result<AskRuns, String> {
    let cluster = unique_cluster("asks");
    eprintln!("== starting {SILO_A} and {SILO_B} (cluster {cluster})");
    let mut a = SiloProcess::start(SILO_A, None, &cluster, Timing::DEFAULT).await?;
    a.wait_view(|v| all_active(v, &[SILO_A]), SETTLE).await?;
    // Refreshed once an hour, this client routes every grain to silo-a for the whole run.
    let stale = connect(&cluster, a.address(), Duration::from_secs(3_600)).await?;
    if stale.view().active().count() != 1 {
        return Err(format!(
            "the stale client saw {} before silo-b started",
            stale.view()
        ));
    }
    let mut b = SiloProcess::start(SILO_B, Some(a.address()), &cluster, Timing::DEFAULT).await?;
    a.wait_view(|v| all_active(v, &[SILO_A, SILO_B]), SETTLE)
        .await?;
    b.wait_view(|v| all_active(v, &[SILO_A, SILO_B]), SETTLE)
        .await?;
    let client = connect(&cluster, a.address(), Duration::from_millis(100)).await?;
    wait_client(&client, |c| c.view().active().count() == 2).await?;

    let keys: Vec<u64> = (0u64..1_000_000)
        .filter(|&k| client.owner_of::<Echo>(k).as_deref() == Some(SILO_B))
        .take(counts.callers)
        .collect();
    if keys.len() < counts.callers {
        return Err(format!("found only {} keys owned by {SILO_B}", keys.len()));
    }
    let remote: Vec<VirtualActorRef<Echo>> = keys.iter().map(|&k| client.grain(k)).collect();
    let learned: Vec<VirtualActorRef<Echo>> = keys.iter().map(|&k| stale.grain(k)).collect();
    // Show that the stale client's calls go through silo-a and run on silo-b; these first calls
    // also teach it that silo-b owns the grains of the learned path.
    for (&key, (direct, via_a)) in keys.iter().zip(remote.iter().zip(&learned)) {
        let stale_owner = stale.owner_of::<Echo>(key);
        if stale_owner.as_deref() != Some(SILO_A) {
            return Err(format!(
                "the stale client routes {key} to {stale_owner:?}, not {SILO_A}"
            ));
        }
        for (path, grain) in [("direct", direct), ("forwarded", via_a)] {
            let host = grain
                .host()
                .await
                .map_err(|e| format!("{path} host(): {e}"))?;
            if host != SILO_B {
                return Err(format!(
                    "{path} call to {key} ran on {host:?}, not {SILO_B}"
                ));
            }
        }
    }
    eprintln!(
        "   {} grains owned by {SILO_B}; the stale client routes them to {SILO_A}, which forwards",
        keys.len()
    );
    let local_silo = Silo::builder()
        .register::<Echo>()
        .start()
        .await
        .map_err(|e| format!("starting the local silo: {e}"))?;
    let local: Vec<VirtualActorRef<Echo>> = (0..counts.callers as u64)
        .map(|k| local_silo.grain(k))
        .collect();

    let mut fresh = FreshGrains {
        owner: &client,
        caller: &stale,
        next_key: keys.last().map_or(0, |k| k + 1),
    };
    let mut runs = AskRuns::new();
    for round in 0..counts.rounds {
        for (callers, warmup, per_caller) in [
            (1, counts.single_warmup, counts.single_asks),
            (
                counts.callers,
                counts.concurrent_warmup,
                counts.concurrent_asks,
            ),
        ] {
            for i in 0..Path::ALL.len() {
                let path = Path::ALL[(i + round) % Path::ALL.len()];
                let (grains, spread) = match path {
                    Path::Local => (local.clone(), GrainPerCaller),
                    Path::Remote => (remote.clone(), GrainPerCaller),
                    Path::Learned => (learned.clone(), GrainPerCaller),
                    Path::Forwarded => {
                        let needed = grains_needed(GrainPerAsk, callers, warmup, per_caller);
                        (fresh.take(needed).await?, GrainPerAsk)
                    }
                };
                let run = drive(&grains, spread, callers, warmup, per_caller).await;
                eprintln!(
                    "   round {}/{}: {:>9}, {callers:>2} caller(s): {:>8} asks/s, mean {} us, \
                     p50 {} us, p90 {} us, p99 {} us, p99.9 {} us, max {} us, errors {}",
                    round + 1,
                    counts.rounds,
                    path.name(),
                    rate(run.rate),
                    micros(run.mean),
                    micros(run.p50),
                    micros(run.p90),
                    micros(run.p99),
                    micros(run.p999),
                    micros(run.max),
                    run.errors
                );
                if let Some(error) = &run.first_error {
                    eprintln!("     first error: {error}");
                }
                runs.entry((path, callers)).or_default().push(run);
            }
        }
    }
    local_silo.shutdown().await;
    drop((client, stale, a, b));
    Ok(runs)
}

/// Grains owned by silo-b that the stale client has never called, active before it calls them.
struct FreshGrains<'a> {
    /// A client whose view is current: it finds the keys silo-b owns and activates them.
    owner: &'a Client,
    /// The stale client, whose refs are returned.
    caller: &'a Client,
    /// The lowest key not handed out yet.
    next_key: u64,
}

impl FreshGrains<'_> {
    /// `n` more grains, activated on silo-b, as refs of the stale client.
    async fn take(&mut self, n: usize) -> Result<Vec<VirtualActorRef<Echo>>, String> {
        let mut keys = Vec::with_capacity(n);
        while keys.len() < n {
            let key = self.next_key;
            self.next_key += 1;
            if self.owner.owner_of::<Echo>(key).as_deref() == Some(SILO_B) {
                keys.push(key);
            }
        }
        let activators: Vec<_> = keys
            .chunks(n.div_ceil(64))
            .map(|chunk| {
                let grains: Vec<VirtualActorRef<Echo>> =
                    chunk.iter().map(|&k| self.owner.grain(k)).collect();
                tokio::spawn(async move {
                    for grain in grains {
                        grain
                            .ping(0)
                            .await
                            .map_err(|e| format!("activating: {e}"))?;
                    }
                    Ok::<(), String>(())
                })
            })
            .collect();
        for activator in activators {
            activator
                .await
                .map_err(|e| format!("an activating task failed: {e}"))??;
        }
        if let Some(key) = keys
            .iter()
            .find(|&&k| self.caller.owner_of::<Echo>(k).as_deref() != Some(SILO_A))
        {
            return Err(format!("the stale client does not route {key} to {SILO_A}"));
        }
        Ok(keys.iter().map(|&k| self.caller.grain(k)).collect())
    }
}

/// Kills silo-b `kills` times (a fresh two-silo cluster each time) and returns, per kill, how
/// long silo-a's own view and a client's view took to drop it.
async fn detection(timing: Timing, kills: usize) -> Result<Vec<(Duration, Duration)>, String> {
    let mut found = Vec::new();
    for kill in 0..kills {
        let cluster = unique_cluster("kill");
        let mut a = SiloProcess::start(SILO_A, None, &cluster, timing).await?;
        let mut b = SiloProcess::start(SILO_B, Some(a.address()), &cluster, timing).await?;
        a.wait_view(|v| all_active(v, &[SILO_A, SILO_B]), SETTLE)
            .await?;
        b.wait_view(|v| all_active(v, &[SILO_A, SILO_B]), SETTLE)
            .await?;
        // silo-a publishes views on its gossip ticks, and the view above arrived on one; a client
        // connected right now would refresh a few milliseconds after each of silo-a's ticks (its
        // period divides silo-a's), and would always trail silo-a by those few milliseconds.
        // Connecting at a different point of the refresh period in each kill spreads its lag
        // over the period, as for a client connected at any time.
        tokio::time::sleep(CLIENT_REFRESH.mul_f64((kill as f64 + 0.5) / kills as f64)).await;
        let client = connect(&cluster, a.address(), CLIENT_REFRESH).await?;
        wait_client(&client, |c| c.view().active().count() == 2).await?;
        // Let a few heartbeats arrive, so the failure detector has a history of silo-b.
        tokio::time::sleep(timing.gossip_interval * 5).await;
        let killed = b.kill();
        let gone = |v: &crate::process::Members| v.iter().all(|(name, _)| name != b.name());
        let timeout = timing.dead_after * 10;
        let (survivor, seen_by_client) = tokio::join!(
            a.wait_view(gone, timeout),
            wait_client(&client, |c| c.view().get(SILO_B).is_none())
        );
        let survivor = survivor?.saturating_duration_since(killed);
        let seen_by_client = seen_by_client?.saturating_duration_since(killed);
        eprintln!(
            "   kill {}/{kills}, gossip {:?} / dead_after {:?}: {SILO_A}'s view dropped {SILO_B} \
             after {} ms, the client's after {} ms",
            kill + 1,
            timing.gossip_interval,
            timing.dead_after,
            survivor.as_millis(),
            seen_by_client.as_millis()
        );
        found.push((survivor, seen_by_client));
    }
    Ok(found)
}

/// How often the detection runs' client refreshes its view from the silos.
const CLIENT_REFRESH: Duration = Duration::from_millis(50);

pub(crate) async fn connect(
    cluster: &str,
    seed: std::net::SocketAddr,
    refresh: Duration,
) -> Result<Client, String> {
    Client::connect_with(
        ClientConfig::new([seed.to_string()])
            .cluster(cluster)
            .refresh_interval(refresh),
    )
    .await
    .map_err(|e| format!("connecting a client to {seed}: {e}"))
}

/// Polls the client every millisecond until `done`; returns when it first held.
pub(crate) async fn wait_client(
    client: &Client,
    done: impl Fn(&Client) -> bool,
) -> Result<Instant, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if done(client) {
            return Ok(Instant::now());
        }
        if Instant::now() >= deadline {
            return Err(format!("the client's view stayed {}", client.view()));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn unique_cluster(what: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "bench-{what}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The median over the rounds of one figure of one path.
fn figure(runs: &AskRuns, path: Path, callers: usize, get: Stat) -> f64 {
    median(runs[&(path, callers)].iter().map(get).collect())
}

/// Reads one figure of a run.
type Stat = fn(&Run) -> f64;

fn ask_rows(runs: &AskRuns, concurrent: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    let stats: [(&str, Stat, bool); 4] = [
        ("throughput (asks/s)", |r| r.rate, true),
        ("latency mean (us)", |r| r.mean, false),
        ("latency p50 (us)", |r| r.p50, false),
        ("latency p99 (us)", |r| r.p99, false),
    ];
    for (path, base) in [
        (Path::Remote, Path::Local),
        (Path::Learned, Path::Remote),
        (Path::Forwarded, Path::Remote),
    ] {
        let (what, base_name) = match path {
            Path::Remote => ("remote ask", "local"),
            Path::Learned => ("learned-owner ask", "direct"),
            _ => ("forwarded ask", "direct"),
        };
        for callers in [1, concurrent] {
            for (stat, get, is_rate) in stats {
                let value = figure(runs, path, callers, get);
                let baseline = figure(runs, base, callers, get);
                let show = |v| if is_rate { rate(v) } else { micros(v) };
                let plural = if callers == 1 { "" } else { "s" };
                rows.push(Row {
                    label: format!("{what}, {callers} caller{plural}: {stat}"),
                    value: show(value),
                    baseline: format!("{} ({base_name})", show(baseline)),
                    ratio: ratio(value, baseline, base_name),
                });
            }
        }
    }
    rows
}

fn detection_rows(detections: &[(Timing, Vec<(Duration, Duration)>)]) -> Vec<Row> {
    let mut rows = Vec::new();
    for (timing, kills) in detections {
        let setting = format!(
            "gossip {}ms / dead_after {}s",
            timing.gossip_interval.as_millis(),
            timing.dead_after.as_secs_f64()
        );
        let dead_after = timing.dead_after.as_secs_f64() * 1e3;
        for (who, get) in [
            (
                "survivor's view",
                (|k| k.0) as fn(&(Duration, Duration)) -> Duration,
            ),
            ("client's view", |k| k.1),
        ] {
            let millis: Vec<f64> = kills.iter().map(|k| get(k).as_secs_f64() * 1e3).collect();
            let min = millis.iter().copied().fold(f64::INFINITY, f64::min);
            let max = millis.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mid = median(millis.clone());
            let value = if millis.len() > 1 {
                format!("{mid:.0} ({min:.0}..{max:.0})")
            } else {
                format!("{mid:.0}")
            };
            rows.push(Row {
                label: format!("SIGKILL -> {who} drops it, {setting} (ms)"),
                value,
                baseline: format!("{dead_after:.0} (dead_after)"),
                ratio: ratio(mid, dead_after, "dead_after"),
            });
        }
    }
    rows
}

fn errors_and_spread(runs: &AskRuns, counts: Counts) -> String {
    let mut out = String::from("failed asks (all rounds, warm-up included):");
    for path in Path::ALL {
        let errors: u64 = runs
            .iter()
            .filter(|((p, _), _)| *p == path)
            .flat_map(|(_, runs)| runs.iter().map(|r| r.errors))
            .sum();
        out.push_str(&format!(" {} {errors};", path.name()));
    }
    out.pop();
    out.push('\n');
    out.push_str("tail latency, worst round (us):");
    for ((path, callers), list) in runs {
        let p999 = list.iter().map(|r| r.p999).fold(0.0, f64::max);
        let max = list.iter().map(|r| r.max).fold(0.0, f64::max);
        out.push_str(&format!(
            "\n  {} x{callers}: p99.9 {}, max {}",
            path.name(),
            micros(p999),
            micros(max)
        ));
    }
    out.push('\n');
    if counts.rounds > 1 {
        out.push_str(&format!(
            "spread over {} rounds, throughput min .. max (asks/s):",
            counts.rounds
        ));
        for ((path, callers), list) in runs {
            let min = list.iter().map(|r| r.rate).fold(f64::INFINITY, f64::min);
            let max = list.iter().map(|r| r.rate).fold(0.0, f64::max);
            out.push_str(&format!(
                "\n  {} x{callers}: {} .. {}",
                path.name(),
                rate(min),
                rate(max)
            ));
        }
        out.push('\n');
    }
    out
}

/// The project's cross-silo target, judged on the concurrent remote run (informational).
fn target(runs: &AskRuns, callers: usize) -> String {
    let throughput = figure(runs, Path::Remote, callers, |r| r.rate);
    let p99 = figure(runs, Path::Remote, callers, |r| r.p99);
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    format!(
        "cluster target (informational), remote asks with {callers} callers:\n  {}  >= 200k remote asks/s per silo pair: {}\n  {}  p99 under 2 ms: {} ms\n",
        verdict(throughput >= 200_000.0),
        rate(throughput),
        verdict(p99 < 2e6),
        format_args!("{:.2}", p99 / 1e6)
    )
}

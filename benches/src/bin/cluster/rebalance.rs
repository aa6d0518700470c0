//! Rebalancing: how long an in-process [`TestCluster`] takes to move `grains` active `Echo`
//! grains when a third silo joins two, and again when one of the three leaves gracefully.
//!
//! The silos run in this process (the runtime's own work is measured, not the network's), with
//! the test cluster's gossip timing (50 ms / dead_after 1 s). The baseline of every time is the
//! first activation of the same grains.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use grain_runtime::testing::TestCluster;
use grain_runtime::{Client, Silo};

use crate::echo::Echo;
use crate::report::{Row, ratio};
use crate::run::{connect, wait_client};

/// How many calls are in flight at once while calling every grain.
pub(crate) const CALLERS: usize = 64;

/// How often the live activations are sampled while the old silos deactivate.
const SAMPLE: Duration = Duration::from_millis(5);

/// How long the old silos get to deactivate what they no longer own.
const DEACTIVATE_TIMEOUT: Duration = Duration::from_secs(10);

/// The client's view refresh period.
const CLIENT_REFRESH: Duration = Duration::from_millis(10);

/// Live activations against owned grains, per running silo.
#[derive(Debug, Clone)]
pub(crate) struct Census {
    /// `(silo name, live activations, grains it owns by the client's view)`, by silo index.
    silos: Vec<(String, usize, usize)>,
}

impl Census {
    fn matches(&self) -> bool {
        self.silos.iter().all(|(_, live, owned)| live == owned)
    }

    fn live(&self) -> String {
        self.silos
            .iter()
            .map(|(_, live, _)| live.to_string())
            .collect::<Vec<_>>()
            .join("/")
    }

    fn owned(&self) -> String {
        self.silos
            .iter()
            .map(|(_, _, owned)| owned.to_string())
            .collect::<Vec<_>>()
            .join("/")
    }

    fn names(&self) -> String {
        self.silos
            .iter()
            .map(|(name, _, _)| name.as_str())
            .collect::<Vec<_>>()
            .join("/")
    }

    fn describe(&self) -> String {
        self.silos
            .iter()
            .map(|(name, live, owned)| format!("{name} {live} live / {owned} owned"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The outcome of the whole rebalance measurement.
#[derive(Debug, Clone)]
pub(crate) struct Rebalance {
    grains: u64,
    /// Calling every grain once through silo 0 of a fresh two-silo cluster (all activate).
    first_activation: Duration,
    /// Calling them all again, nothing moved (no activation).
    warm_call: Duration,
    /// `add_silo()`: from the call until every silo's view shows 3 active silos.
    join_settle: Duration,
    /// From then until silos 0 and 1 together hold only what they still own; `None` if they did
    /// not within [`DEACTIVATE_TIMEOUT`].
    deactivated: Option<Duration>,
    /// Grains silos 0 and 1 own in the 3-silo view.
    old_owned: usize,
    /// Live activations on silos 0 and 1 at the end of the wait (reached or timed out).
    old_live: usize,
    /// Live activations on silos 0 and 1 just before the wait began.
    old_live_at_settle: usize,
    /// Live activations on the new silo before anything calls it (it should hold none).
    new_live_before_calls: usize,
    /// Calling every grain again through silo 0 after the join.
    recall_after_join: Duration,
    /// Live against owned per silo after that call.
    census_after_join: Census,
    /// `stop(1)`: silo 1 leaves gracefully and drains.
    stop: Duration,
    /// `settle()` after that, until the two remaining views show only each other.
    leave_settle: Duration,
    /// Calling every grain again through silo 0 after silo 1 left.
    recall_after_leave: Duration,
    /// Live against owned per silo after that call.
    census_after_leave: Census,
    /// Calls that failed or answered wrongly, over all passes.
    errors: u64,
    /// The first such failure.
    first_error: Option<String>,
}

/// Failed calls of the passes so far.
#[derive(Debug, Default)]
struct Failures {
    count: u64,
    first: Option<String>,
}

/// Calls `ping(k)` on every grain `0..grains` through `silo`, [`CALLERS`] at a time; returns the
/// wall time.
async fn call_all(silo: &Silo, grains: u64, failures: &mut Failures) -> Duration {
    let started = Instant::now();
    let mut answers = futures::stream::iter(0..grains)
        .map(|k| {
            let grain = silo.grain::<Echo>(k);
            async move { (k, grain.ping(k).await) }
        })
        .buffer_unordered(CALLERS);
    while let Some((k, answer)) = answers.next().await {
        let error = match answer {
            Ok(x) if x == k => continue,
            Ok(x) => format!("ping({k}) answered {x}"),
            Err(e) => format!("ping({k}): {e}"),
        };
        failures.count += 1;
        failures.first.get_or_insert(error);
    }
    started.elapsed()
}

/// How many of the grains `0..grains` each silo owns by the client's view; yields now and then
/// so that a sampler joined with it keeps sampling.
async fn ownership(client: &Client, grains: u64) -> BTreeMap<String, usize> {
    let mut owners = BTreeMap::new();
    for k in 0..grains {
        let owner = client
            .owner_of::<Echo>(k)
            .unwrap_or_else(|| "(none)".to_string());
        *owners.entry(owner).or_insert(0) += 1;
        if k % 1_000 == 999 {
            tokio::task::yield_now().await;
        }
    }
    owners
}

fn live(cluster: &TestCluster, index: usize) -> usize {
    cluster.silo(index).stats().live_activations
}

fn census(cluster: &TestCluster, owners: &BTreeMap<String, usize>) -> Census {
    Census {
        silos: cluster
            .running()
            .into_iter()
            .map(|i| {
                let name = TestCluster::silo_name(i);
                let owned = owners.get(&name).copied().unwrap_or(0);
                (name, live(cluster, i), owned)
            })
            .collect(),
    }
}

fn error(e: impl std::fmt::Display) -> String {
    format!("rebalance: {e}")
}

/// Runs the whole rebalance measurement with `grains` grains.
pub(crate) async fn measure(grains: u64) -> Result<Rebalance, String> {
    eprintln!("== rebalance: in-process TestCluster, 2 silos, {grains} Echo grains");
    let mut cluster = TestCluster::start(2, |_, builder| builder.register::<Echo>())
        .await
        .map_err(error)?;
    let mut failures = Failures::default();

    let first_activation = call_all(cluster.silo(0), grains, &mut failures).await;
    let before: Vec<usize> = (0..2).map(|i| live(&cluster, i)).collect();
    eprintln!(
        "   first activation of {grains} grains via silo-0: {} ms; live silo-0/1 {}/{}",
        first_activation.as_millis(),
        before[0],
        before[1]
    );
    if before.iter().sum::<usize>() != grains as usize {
        return Err(format!(
            "rebalance: after the first activation silos 0 and 1 hold {before:?}, not {grains} in all"
        ));
    }
    let warm_call = call_all(cluster.silo(0), grains, &mut failures).await;
    eprintln!(
        "   warm call of the same grains: {} ms",
        warm_call.as_millis()
    );

    let seed = cluster
        .silo(0)
        .address()
        .ok_or("rebalance: silo 0 has no address")?;
    let client = connect(cluster.cluster_name(), seed, CLIENT_REFRESH).await?;

    // 2 -> 3 silos.
    let joining = Instant::now();
    let new = cluster.add_silo().await.map_err(error)?;
    let settled = Instant::now();
    let join_settle = settled - joining;
    let old_live_at_settle = live(&cluster, 0) + live(&cluster, 1);
    let expected: Cell<Option<usize>> = Cell::new(None);
    let sample = async {
        let mut samples: Vec<(Instant, usize)> = Vec::new();
        loop {
            let now = Instant::now();
            let sum = live(&cluster, 0) + live(&cluster, 1);
            samples.push((now, sum));
            if let Some(target) = expected.get() {
                // Nothing calls the grains meanwhile, so the sum only falls.
                if let Some(&(at, _)) = samples.iter().find(|(_, s)| *s <= target) {
                    return (Some(at.saturating_duration_since(settled)), sum);
                }
            }
            if now.saturating_duration_since(settled) >= DEACTIVATE_TIMEOUT {
                return (None, sum);
            }
            tokio::time::sleep(SAMPLE).await;
        }
    };
    let count = async {
        wait_client(&client, |c| c.view().active().count() == 3).await?;
        let owners = ownership(&client, grains).await;
        let old: usize = (0..2)
            .map(|i| owners.get(&TestCluster::silo_name(i)).copied().unwrap_or(0))
            .sum();
        expected.set(Some(old));
        Ok::<_, String>(owners)
    };
    let ((deactivated, old_live), owners) = tokio::join!(sample, count);
    let owners = owners?;
    let old_owned = expected.get().unwrap_or(0);
    let new_live_before_calls = live(&cluster, new);
    eprintln!(
        "   add_silo: {} ms; silos 0+1 live {old_live_at_settle} when it returned, owned by them \
         {old_owned}; {}; silo-{new} live {new_live_before_calls}; ownership {owners:?}",
        join_settle.as_millis(),
        match deactivated {
            Some(took) => format!("down to {old_live} after {} ms more", took.as_millis()),
            None => format!(
                "still {old_live} after {} ms",
                DEACTIVATE_TIMEOUT.as_millis()
            ),
        }
    );
    let recall_after_join = call_all(cluster.silo(0), grains, &mut failures).await;
    let census_after_join = census(&cluster, &owners);
    eprintln!(
        "   re-call after the join: {} ms; {}",
        recall_after_join.as_millis(),
        census_after_join.describe()
    );

    // 3 -> 2 silos.
    let stopping = Instant::now();
    cluster.stop(1).await;
    let stopped = Instant::now();
    cluster.settle().await.map_err(error)?;
    let leave_settle = stopped.elapsed();
    let stop = stopped - stopping;
    wait_client(&client, |c| {
        let view = c.view();
        view.active().count() == 2 && view.get(&TestCluster::silo_name(1)).is_none()
    })
    .await?;
    let owners = ownership(&client, grains).await;
    let recall_after_leave = call_all(cluster.silo(0), grains, &mut failures).await;
    let census_after_leave = census(&cluster, &owners);
    eprintln!(
        "   stop(1): {} ms, settle: {} ms; re-call after: {} ms; {}; failed calls {}",
        stop.as_millis(),
        leave_settle.as_millis(),
        recall_after_leave.as_millis(),
        census_after_leave.describe(),
        failures.count
    );
    if let Some(first) = &failures.first {
        eprintln!("     first failed call: {first}");
    }
    drop(client);
    cluster.shutdown().await;
    Ok(Rebalance {
        grains,
        first_activation,
        warm_call,
        join_settle,
        deactivated,
        old_owned,
        old_live,
        old_live_at_settle,
        new_live_before_calls,
        recall_after_join,
        census_after_join,
        stop,
        leave_settle,
        recall_after_leave,
        census_after_leave,
        errors: failures.count,
        first_error: failures.first,
    })
}

/// `100k`, `10k`, or the plain count.
fn short(grains: u64) -> String {
    if grains.is_multiple_of(1_000) {
        format!("{}k", grains / 1_000)
    } else {
        grains.to_string()
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The table rows: every time against the first activation of the same grains.
pub(crate) fn rows(r: &Rebalance) -> Vec<Row> {
    let n = short(r.grains);
    let base = millis(r.first_activation);
    let baseline = format!("{base:.0} (first activation)");
    let timed = |label: String, took: Duration| Row {
        label,
        value: format!("{:.0}", millis(took)),
        baseline: baseline.clone(),
        ratio: ratio(millis(took), base, "first activation"),
    };
    let census = |label: String, c: &Census| Row {
        label: format!("{label} ({})", c.names()),
        value: c.live(),
        baseline: format!("{} (owned)", c.owned()),
        ratio: if c.matches() { "equal" } else { "DIFFERENT" }.to_string(),
    };
    let kept = format!(
        "rebalance 2->3 silos: then until silos 0+1 deactivated all they no longer own, {} of \
         {n} kept (ms)",
        r.old_owned
    );
    let deactivated = match r.deactivated {
        Some(took) => timed(kept, took),
        None => Row {
            label: kept,
            value: format!("> {:.0}, {} live", millis(DEACTIVATE_TIMEOUT), r.old_live),
            baseline: baseline.clone(),
            ratio: "not reached".to_string(),
        },
    };
    vec![
        timed(
            format!("rebalance, 2 silos: call {n} active grains again, none moved (ms)"),
            r.warm_call,
        ),
        timed(
            "rebalance 2->3 silos: add_silo until every view shows 3 active (ms)".to_string(),
            r.join_settle,
        ),
        deactivated,
        timed(
            format!(
                "rebalance 2->3 silos: re-call of {n} via silo 0, moved ones re-activate on silo-2 (ms)"
            ),
            r.recall_after_join,
        ),
        census(
            "rebalance 2->3 silos: live activations after that re-call".to_string(),
            &r.census_after_join,
        ),
        timed(
            "rebalance 3->2 silos: stop(1) + settle until both views show 2 active (ms)"
                .to_string(),
            r.stop + r.leave_settle,
        ),
        timed(
            format!(
                "rebalance 3->2 silos: re-call of {n} via silo 0, silo-1's re-activate on 0 and 2 (ms)"
            ),
            r.recall_after_leave,
        ),
        census(
            "rebalance 3->2 silos: live activations after that re-call".to_string(),
            &r.census_after_leave,
        ),
    ]
}

/// The lines under the table: the figures the rows do not show.
pub(crate) fn details(r: &Rebalance) -> String {
    let mut out = format!(
        "rebalance ({} grains, {CALLERS} calls in flight, in-process TestCluster, gossip 50 ms):\n",
        r.grains
    );
    out.push_str(&format!(
        "  first activation {:.0} ms ({:.1}k activations/s)\n",
        millis(r.first_activation),
        r.grains as f64 / r.first_activation.as_secs_f64() / 1e3
    ));
    out.push_str(&format!(
        "  2->3: silos 0+1 held {} live when add_silo returned, {} at the end of the wait, own {}; \
         silo-2 held {} before the re-call\n",
        r.old_live_at_settle, r.old_live, r.old_owned, r.new_live_before_calls
    ));
    out.push_str(&format!(
        "  3->2: stop(1) {:.0} ms, then settle {:.0} ms\n",
        millis(r.stop),
        millis(r.leave_settle)
    ));
    out.push_str(&format!("  failed calls (all passes): {}\n", r.errors));
    if let Some(first) = &r.first_error {
        out.push_str(&format!("  first failed call: {first}\n"));
    }
    out
}

//! The comparison table and the grain-runtime targets.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use crate::child::key;
use crate::config::{Counts, FRAMEWORKS};

/// Every figure, by framework and then by result key.
pub(crate) type Results = HashMap<String, HashMap<String, f64>>;

/// Every repetition's figure, by framework and result key.
pub(crate) type Samples = BTreeMap<String, BTreeMap<String, Vec<f64>>>;

const BASELINE: &str = "tokio";
const GRAIN: &str = "grain-runtime";
const PEERS: [&str; 3] = ["kameo", "ractor", "actix"];

#[derive(Clone, Copy)]
enum Unit {
    /// Per second; higher is better.
    Rate,
    /// Nanoseconds, shown in microseconds; lower is better.
    Nanos,
    /// Nanoseconds per item, shown as items per second; higher is better.
    PerSecondFromNanos,
    /// Bytes; lower is better.
    Bytes,
}

struct Row {
    label: String,
    key: String,
    unit: Unit,
}

fn rows(counts: &Counts) -> Vec<Row> {
    let row = |label: String, key: &str, unit| Row {
        label,
        key: key.to_string(),
        unit,
    };
    let mut rows = vec![
        row(
            format!("tell throughput, {} (msg/s)", short(counts.tells)),
            key::TELL,
            Unit::Rate,
        ),
        row("ask latency mean (us)".into(), key::ASK_MEAN, Unit::Nanos),
        row("ask latency p50 (us)".into(), key::ASK_P50, Unit::Nanos),
        row("ask latency p99 (us)".into(), key::ASK_P99, Unit::Nanos),
        row(
            format!(
                "concurrent asks, {} actors (asks/s)",
                short(counts.concurrent_actors)
            ),
            key::CONCURRENT,
            Unit::Rate,
        ),
        row(
            format!("cold start, {} (us/actor)", short(counts.cold_actors)),
            key::COLD,
            Unit::Nanos,
        ),
        row(
            format!("cold start, {} (actors/s)", short(counts.cold_actors)),
            key::COLD,
            Unit::PerSecondFromNanos,
        ),
    ];
    for actors in counts.memory_actors {
        rows.push(row(
            format!("idle memory, {} (B/actor)", short(actors)),
            &key::memory(actors),
            Unit::Bytes,
        ));
    }
    rows
}

fn short(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 && n.is_multiple_of(1_000) {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

fn shown(value: f64, unit: Unit) -> f64 {
    match unit {
        Unit::Rate | Unit::Bytes => value,
        Unit::Nanos => value / 1e3,
        Unit::PerSecondFromNanos => 1e9 / value,
    }
}

fn format_value(value: f64, unit: Unit) -> String {
    let value = shown(value, unit);
    match unit {
        Unit::Rate | Unit::PerSecondFromNanos if value >= 1e6 => format!("{:.2}M", value / 1e6),
        Unit::Rate | Unit::PerSecondFromNanos => format!("{:.1}k", value / 1e3),
        Unit::Nanos => format!("{value:.2}"),
        Unit::Bytes => format!("{value:.0}"),
    }
}

fn figure(results: &Results, framework: &str, key: &str) -> Option<f64> {
    results.get(framework)?.get(key).copied()
}

/// `framework`'s figure over the baseline's, in the row's displayed unit.
fn ratio(results: &Results, framework: &str, key: &str, unit: Unit) -> Option<f64> {
    let value = shown(figure(results, framework, key)?, unit);
    let base = shown(figure(results, BASELINE, key)?, unit);
    Some(value / base)
}

/// The table: one row per figure, one column per framework, each cell `value (ratio to tokio)`.
pub(crate) fn table(results: &Results, counts: &Counts, frameworks: &[String]) -> String {
    let rows = rows(counts);
    let label_width = rows.iter().map(|r| r.label.len()).max().unwrap_or(0);
    let cell = |row: &Row, framework: &str| match figure(results, framework, &row.key) {
        Some(value) => {
            let ratio = ratio(results, framework, &row.key, row.unit)
                .map_or_else(|| "-".to_string(), |r| format!("{r:.2}x"));
            format!("{} ({ratio})", format_value(value, row.unit))
        }
        None => "n/a".to_string(),
    };
    let mut widths: Vec<usize> = frameworks.iter().map(String::len).collect();
    for row in &rows {
        for (i, framework) in frameworks.iter().enumerate() {
            widths[i] = widths[i].max(cell(row, framework).len());
        }
    }
    let mut out = String::new();
    let _ = write!(out, "| {:label_width$} |", "figure");
    for (framework, width) in frameworks.iter().zip(&widths) {
        let _ = write!(out, " {framework:>width$} |");
    }
    out.push('\n');
    let _ = write!(out, "|{}|", "-".repeat(label_width + 2));
    for width in &widths {
        let _ = write!(out, "{}:|", "-".repeat(width + 1));
    }
    out.push('\n');
    for row in &rows {
        let _ = write!(out, "| {:label_width$} |", row.label);
        for (framework, width) in frameworks.iter().zip(&widths) {
            let _ = write!(out, " {:>width$} |", cell(row, framework));
        }
        out.push('\n');
    }
    out.push_str(
        "\nratio = figure / tokio baseline: for msg/s, asks/s and actors/s higher is better; \
         for us and B lower is better.\n",
    );
    out
}

/// The lowest and highest figure of each timed row over the rounds, to judge how steady a run was.
pub(crate) fn spread(samples: &Samples, counts: &Counts, frameworks: &[String]) -> String {
    let mut out = format!("spread over {} round(s), min .. max:\n", counts.reps);
    for row in rows(counts) {
        if matches!(row.unit, Unit::Bytes | Unit::PerSecondFromNanos) {
            continue;
        }
        let cells: Vec<String> = frameworks
            .iter()
            .filter_map(|framework| {
                let values = samples.get(framework)?.get(&row.key)?;
                let min = values.iter().copied().fold(f64::INFINITY, f64::min);
                let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                Some(format!(
                    "{framework} {} .. {}",
                    format_value(min, row.unit),
                    format_value(max, row.unit)
                ))
            })
            .collect();
        if !cells.is_empty() {
            let _ = writeln!(out, "  {}: {}", row.label, cells.join(" | "));
        }
    }
    out
}

/// The grain-runtime targets, one `PASS`/`MISS`/`n/a` line each (informational).
pub(crate) fn targets(results: &Results, counts: &Counts) -> String {
    let mut out = String::from("grain-runtime targets (informational):\n");
    let mut line = |verdict: Option<bool>, text: String| {
        let verdict = match verdict {
            Some(true) => "PASS",
            Some(false) => "MISS",
            None => "n/a ",
        };
        let _ = writeln!(out, "  {verdict}  {text}");
    };
    let r = |framework: &str, key: &str, unit| ratio(results, framework, key, unit);

    let ask = r(GRAIN, key::ASK_MEAN, Unit::Nanos);
    let grain_mean = figure(results, GRAIN, key::ASK_MEAN);
    let peers: Vec<(&str, Option<f64>)> = PEERS
        .iter()
        .map(|p| (*p, figure(results, p, key::ASK_MEAN)))
        .collect();
    let beats_peers = grain_mean.map(|g| {
        peers
            .iter()
            .all(|(_, peer)| peer.is_none_or(|peer| g < peer))
    });
    let peer_text: Vec<String> = peers
        .iter()
        .map(|(p, v)| match v {
            Some(v) => format!("{p} {:.2} us", v / 1e3),
            None => format!("{p} n/a"),
        })
        .collect();
    line(
        ask.zip(beats_peers).map(|(a, b)| a <= 1.5 && b),
        format!(
            "ask latency mean <= 1.5x tokio and below every peer: {} ({}; {})",
            grain_mean.map_or("n/a".into(), |g| format!("{:.2} us", g / 1e3)),
            ask.map_or("n/a".into(), |a| format!("{a:.3}x")),
            peer_text.join(", ")
        ),
    );

    let tell = r(GRAIN, key::TELL, Unit::Rate);
    line(
        tell.map(|t| t >= 0.5),
        format!("tell throughput >= 0.5x tokio: {}", fmt_ratio(tell)),
    );

    let concurrent = r(GRAIN, key::CONCURRENT, Unit::Rate);
    line(
        concurrent.map(|c| c >= 0.6),
        format!("concurrent asks >= 0.6x tokio: {}", fmt_ratio(concurrent)),
    );

    let cold = r(GRAIN, key::COLD, Unit::Nanos);
    let cold_rate = figure(results, GRAIN, key::COLD).map(|ns| 1e9 / ns);
    line(
        cold.zip(cold_rate)
            .map(|(c, rate)| c <= 1.5 && rate >= 200_000.0),
        format!(
            "cold activation <= 1.5x a tokio spawn and >= 200k/s: {} per actor, {}/s",
            fmt_ratio(cold),
            cold_rate.map_or("n/a".into(), |rate| format!("{:.0}k", rate / 1e3))
        ),
    );

    for actors in counts.memory_actors {
        let bytes = figure(results, GRAIN, &key::memory(actors));
        line(
            bytes.map(|b| b <= 1024.0),
            format!(
                "<= 1 KiB per idle activation at {}: {}",
                short(actors),
                bytes.map_or("n/a".into(), |b| format!("{b:.0} B"))
            ),
        );
    }
    out
}

/// Three decimals, so that a ratio just under a threshold does not print as the threshold.
fn fmt_ratio(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "n/a".to_string(), |r| format!("{r:.3}x"))
}

/// Every known framework name, for `--frameworks` validation.
pub(crate) fn known(framework: &str) -> bool {
    FRAMEWORKS.contains(&framework)
}

//! The measurements: each opens a fresh store in a temporary directory, drives real silos, and
//! returns one figure.

use std::error::Error;
use std::future::IntoFuture as _;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use grain_runtime::{Silo, Storage};

use super::Scale;
use super::grains::{Ledger, SnapshottedLedger};
use super::store::{Backend, Place};

type Failure = Box<dyn Error + Send + Sync>;

/// At most this many calls are in flight while a store is being filled.
const FILL_CONCURRENCY: usize = 1_000;

async fn silo(storage: Storage) -> Result<Silo, Failure> {
    Ok(Silo::builder()
        .storage(storage)
        .register::<Ledger>()
        .register::<SnapshottedLedger>()
        .ask_timeout(Duration::from_secs(120))
        .idle_timeout(Duration::from_secs(3_600))
        .start()
        .await?)
}

/// Durable events per second with `grains` grains each appending one event per call, one call
/// in flight per grain.
async fn appends(place: &Place, grains: usize, run_for: Duration) -> Result<f64, Failure> {
    let silo = silo(place.open().await?).await?;
    let refs: Vec<_> = (0..grains as u64)
        .map(|key| silo.grain::<Ledger>(key))
        .collect();
    futures::stream::iter(refs.iter().map(|r| r.count().into_future()))
        .buffer_unordered(FILL_CONCURRENCY)
        .for_each(|_| async {})
        .await;
    let appended = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + run_for;
    let tasks: Vec<_> = refs
        .into_iter()
        .map(|ledger| {
            let appended = Arc::clone(&appended);
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    ledger.add(1).await??;
                    appended.fetch_add(1, Ordering::Relaxed);
                }
                Ok::<(), Failure>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed();
    silo.shutdown().await;
    Ok(appended.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64())
}

/// Which history the recovered grains have.
#[derive(Clone, Copy)]
enum History {
    /// A snapshot at 200 and 100 events after it.
    SnapshotPlus100,
    /// 1,000 events and no snapshot.
    Events1000,
}

/// Recoveries per second: fills a store with `grains` grains of `history`, restarts the silo on
/// it, then calls every grain at once and times until all have answered.
async fn recoveries(place: &Place, grains: usize, history: History) -> Result<f64, Failure> {
    {
        let silo = silo(place.open().await?).await?;
        let fills = (0..grains as u64).map(|key| {
            let silo = &silo;
            async move {
                match history {
                    History::SnapshotPlus100 => {
                        let ledger = silo.grain::<SnapshottedLedger>(key);
                        ledger.add(200).await??;
                        ledger.add(100).await??;
                    }
                    History::Events1000 => {
                        silo.grain::<Ledger>(key).add(1_000).await??;
                    }
                }
                Ok::<(), Failure>(())
            }
        });
        let mut fills = futures::stream::iter(fills).buffer_unordered(FILL_CONCURRENCY);
        while let Some(filled) = fills.next().await {
            filled?;
        }
        drop(fills);
        silo.shutdown().await;
    }
    let silo = silo(place.open().await?).await?;
    let (expected, started) = (
        match history {
            History::SnapshotPlus100 => 300,
            History::Events1000 => 1_000,
        },
        Instant::now(),
    );
    let calls = (0..grains as u64).map(|key| {
        let silo = &silo;
        async move {
            let count = match history {
                History::SnapshotPlus100 => silo.grain::<SnapshottedLedger>(key).count().await?,
                History::Events1000 => silo.grain::<Ledger>(key).count().await?,
            };
            if count != expected {
                return Err(
                    format!("grain {key} recovered {count} events, expected {expected}").into(),
                );
            }
            Ok::<(), Failure>(())
        }
    });
    let mut calls = futures::stream::iter(calls).buffer_unordered(grains);
    while let Some(recovered) = calls.next().await {
        recovered?;
    }
    let elapsed = started.elapsed();
    drop(calls);
    silo.shutdown().await;
    Ok(grains as f64 / elapsed.as_secs_f64())
}

/// Bytes on disk per event after writing `events` events over 1,000 grains, 100 per append.
async fn bytes_per_event(place: &Place, events: usize) -> Result<f64, Failure> {
    let grains = 1_000u64;
    let per_grain = (events as u64 / grains).max(100);
    {
        let silo = silo(place.open().await?).await?;
        let fills = (0..grains).map(|key| {
            let ledger = silo.grain::<Ledger>(key);
            async move {
                for _ in 0..per_grain / 100 {
                    ledger.add(100).await??;
                }
                Ok::<(), Failure>(())
            }
        });
        let mut fills = futures::stream::iter(fills).buffer_unordered(FILL_CONCURRENCY);
        while let Some(filled) = fills.next().await {
            filled?;
        }
        drop(fills);
        silo.shutdown().await;
    }
    Ok(place.bytes().await? as f64 / (grains * per_grain) as f64)
}

/// Latencies of sequential asks to one grain, each persisting one event: mean, p50 and p99 in
/// microseconds.
async fn persisting_ask_latency(place: &Place, run_for: Duration) -> Result<[f64; 3], Failure> {
    let silo = silo(place.open().await?).await?;
    let ledger = silo.grain::<Ledger>(0u64);
    ledger.count().await?;
    let mut samples = Vec::new();
    let started = Instant::now();
    while started.elapsed() < run_for {
        let sent = Instant::now();
        ledger.add(1).await??;
        samples.push(sent.elapsed());
    }
    silo.shutdown().await;
    samples.sort_unstable();
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    let mean = samples.iter().copied().map(micros).sum::<f64>() / samples.len() as f64;
    let at = |q: f64| micros(samples[((samples.len() - 1) as f64 * q) as usize]);
    Ok([mean, at(0.50), at(0.99)])
}

/// Runs `measure` in a fresh place for `backend` and deletes the place afterwards, whether or
/// not the measurement succeeded.
async fn in_fresh_place<T>(
    backend: Backend,
    postgres_url: Option<&str>,
    measure: impl AsyncFnOnce(&Place) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let place = Place::new(backend, postgres_url)?;
    let outcome = measure(&place).await;
    place.remove().await?;
    outcome
}

/// The disk's own rate of small durable writes: 64 bytes written and `fdatasync`ed in a loop.
fn fsyncs_per_second(run_for: Duration) -> Result<f64, Failure> {
    let dir = tempfile::tempdir()?;
    let mut file = std::fs::File::create(dir.path().join("fsync-probe"))?;
    let started = Instant::now();
    let mut syncs = 0u64;
    while started.elapsed() < run_for {
        file.write_all(&[7u8; 64])?;
        file.sync_data()?;
        syncs += 1;
    }
    Ok(syncs as f64 / started.elapsed().as_secs_f64())
}

/// One line of the table: a measurement with one figure per backend.
struct Row {
    what: String,
    unit: &'static str,
    figures: Vec<f64>,
}

/// The table being filled, one backend's column at a time.
#[derive(Default)]
struct Table {
    rows: Vec<Row>,
    next: usize,
}

impl Table {
    /// Starts the next backend's column.
    fn next_column(&mut self) {
        self.next = 0;
    }

    /// Adds the current column's figure for the next row.
    fn push(&mut self, what: String, unit: &'static str, figure: f64) {
        if self.rows.len() <= self.next {
            self.rows.push(Row {
                what,
                unit,
                figures: Vec::new(),
            });
        }
        self.rows[self.next].figures.push(figure);
        self.next += 1;
    }
}

pub(crate) async fn run(
    scale: Scale,
    backends: &[Backend],
    postgres_url: Option<&str>,
) -> Result<(), Failure> {
    let fsyncs = tokio::task::spawn_blocking(move || fsyncs_per_second(scale.append_for)).await??;
    println!(
        "baseline: the disk does {fsyncs:.0} fsyncs/s (64-byte write + fdatasync, one thread)"
    );
    let mut table = Table::default();
    for &backend in backends {
        eprintln!("measuring {} ...", backend.name());
        table.next_column();
        for grains in [1usize, 100, 10_000] {
            let rate = in_fresh_place(backend, postgres_url, async |place| {
                appends(place, grains, scale.append_for).await
            })
            .await?;
            table.push(
                format!("durable appends, {grains} grains"),
                "events/s",
                rate,
            );
        }
        let [mean, p50, p99] = in_fresh_place(backend, postgres_url, async |place| {
            persisting_ask_latency(place, scale.append_for).await
        })
        .await?;
        table.push("ask persisting one event, mean".into(), "us", mean);
        table.push("ask persisting one event, p50".into(), "us", p50);
        table.push("ask persisting one event, p99".into(), "us", p99);
        let rate = in_fresh_place(backend, postgres_url, async |place| {
            recoveries(place, scale.snapshot_grains, History::SnapshotPlus100).await
        })
        .await?;
        table.push(
            format!(
                "recovery, snapshot + 100 events ({} grains)",
                scale.snapshot_grains
            ),
            "grains/s",
            rate,
        );
        let rate = in_fresh_place(backend, postgres_url, async |place| {
            recoveries(place, scale.replay_grains, History::Events1000).await
        })
        .await?;
        table.push(
            format!(
                "recovery, 1,000 events, no snapshot ({} grains)",
                scale.replay_grains
            ),
            "grains/s",
            rate,
        );
        let bytes = in_fresh_place(backend, postgres_url, async |place| {
            bytes_per_event(place, scale.disk_events).await
        })
        .await?;
        table.push(
            format!("bytes stored per event ({} events)", scale.disk_events),
            "bytes",
            bytes,
        );
    }
    print_table(&table.rows, backends, fsyncs);
    Ok(())
}

fn print_table(rows: &[Row], backends: &[Backend], fsyncs: f64) {
    let mut header = format!("{:<52}", "measurement");
    for backend in backends {
        header.push_str(&format!("{:>14}", backend.name()));
    }
    header.push_str("  unit");
    println!("{header}");
    for row in rows {
        let mut line = format!("{:<52}", row.what);
        for figure in &row.figures {
            line.push_str(&format!("{figure:>14.0}"));
        }
        line.push_str(&format!("  {}", row.unit));
        println!("{line}");
    }
    for row in rows.iter().take(3) {
        let ratios: Vec<String> = row
            .figures
            .iter()
            .zip(backends)
            .map(|(figure, backend)| format!("{} {:.1}x", backend.name(), figure / fsyncs))
            .collect();
        println!(
            "{} vs the disk's fsync rate: {}",
            row.what,
            ratios.join(", ")
        );
    }
    println!(
        "targets: >= 100,000 durable events/s with 10,000 grains; >= 20,000 recoveries/s with a snapshot + 100 events"
    );
}

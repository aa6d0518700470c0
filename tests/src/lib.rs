//! Support code shared by the integration tests in `tests/tests/`.
//!
//! Each test file names one behaviour of the runtime and starts its own silo with [`silo`]. Tests
//! never sleep for a fixed time to let something happen: they wait for the observable effect with
//! [`eventually`], hold a grain inside a turn with a [`Gate`], and record what grains did with a
//! [`Recorder`] or a [`ConcurrencyProbe`] handed to them through `SiloBuilder::register_with`.
//!
//! The storage tests share three more modules: [`storage_conformance`], the properties every
//! journal and snapshot store must have, [`journal_writer`], the workload of the crash test, and
//! [`durable`], which runs the durable-state scenarios on each backend.

pub mod durable;
pub mod journal_writer;
pub mod postgres;
pub mod storage_conformance;
pub mod visits;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use grain_runtime::testing::TestCluster;
use grain_runtime::{CallError, Grain, GrainKey, Silo, SiloBuilder};
use tokio::sync::watch;

/// How long a test waits for something that should happen promptly before it fails.
pub const WAIT: Duration = Duration::from_secs(5);

/// How often [`eventually`] re-checks its condition.
const POLL: Duration = Duration::from_millis(2);

/// The answer of `call`, made again `pause` apart while it fails as unavailable (the cluster
/// is settling), at most `tries` times. Panics, naming `what`, on any other error or if it
/// stays unavailable.
pub async fn once_available<T, F, Fut>(what: &str, tries: usize, pause: Duration, mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CallError>>,
{
    for _ in 0..tries {
        match call().await {
            Ok(value) => return value,
            Err(CallError::Unavailable { .. }) => tokio::time::sleep(pause).await,
            Err(other) => panic!("{what} failed: {other}"),
        }
    }
    panic!("{what} still unavailable after {tries} tries")
}

/// The running silos of `cluster` on which grain `key` of kind `G` is active.
pub fn active_on<G: Grain>(cluster: &TestCluster, key: impl Into<GrainKey> + Clone) -> Vec<usize> {
    cluster
        .running()
        .into_iter()
        .filter(|&i| {
            let silo: &Silo = cluster.silo(i);
            silo.activation_stats(&silo.grain::<G>(key.clone()))
                .is_some()
        })
        .collect()
}

/// A silo builder with settings suited to tests: asks and shutdown give up after ten seconds
/// instead of thirty, so a broken test fails instead of hanging the suite.
pub fn silo() -> SiloBuilder {
    Silo::builder()
        .ask_timeout(Duration::from_secs(10))
        .shutdown_timeout(Duration::from_secs(10))
}

/// Waits until `condition` holds, checking it every few milliseconds for up to [`WAIT`].
///
/// # Panics
///
/// If the condition still does not hold after [`WAIT`]; the message names `what`.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    eventually_async_within(WAIT, what, || std::future::ready(condition())).await;
}

/// Waits until the future made by `condition` resolves to `true`, for conditions that must call
/// a grain to be checked.
///
/// # Panics
///
/// If the condition still does not hold after [`WAIT`]; the message names `what`.
pub async fn eventually_async<F, Fut>(what: &str, condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_async_within(WAIT, what, condition).await;
}

async fn eventually_async_within<F, Fut>(timeout: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A gate that turns wait at until the test opens it: the way to hold a grain inside a turn.
///
/// Cloning shares the gate. Once opened it stays open.
#[derive(Debug, Clone)]
pub struct Gate {
    open: Arc<watch::Sender<bool>>,
    arrived: Arc<AtomicUsize>,
}

impl Gate {
    /// A closed gate.
    pub fn closed() -> Self {
        Self {
            open: Arc::new(watch::Sender::new(false)),
            arrived: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Counts the caller as arrived, then waits until the gate is open.
    pub async fn pass(&self) {
        self.arrived.fetch_add(1, Ordering::SeqCst);
        let mut open = self.open.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = open.wait_for(|open| *open).await;
    }

    /// Opens the gate: every waiting and future [`pass`](Self::pass) goes through.
    pub fn open(&self) {
        self.open.send_replace(true);
    }

    /// How many times [`pass`](Self::pass) has been called.
    pub fn arrived(&self) -> usize {
        self.arrived.load(Ordering::SeqCst)
    }

    /// Waits until [`pass`](Self::pass) has been called at least `n` times.
    ///
    /// # Panics
    ///
    /// If that does not happen within [`WAIT`].
    pub async fn wait_for_arrivals(&self, n: usize) {
        eventually(&format!("{n} arrivals at the gate"), || self.arrived() >= n).await;
    }
}

/// An ordered record of what grains did, shared between the grains and the test.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    events: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an event.
    pub fn record(&self, event: impl Into<String>) {
        self.lock().push(event.into());
    }

    /// Every event so far, in the order recorded.
    pub fn events(&self) -> Vec<String> {
        self.lock().clone()
    }

    /// How many recorded events equal `event`.
    pub fn count(&self, event: &str) -> usize {
        self.lock().iter().filter(|e| *e == event).count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Counts how many sections run at the same time, and the most that ever did.
#[derive(Debug, Default)]
pub struct ConcurrencyProbe {
    active: AtomicUsize,
    max: AtomicUsize,
    entered: AtomicUsize,
}

impl ConcurrencyProbe {
    /// A probe that has seen nothing yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Marks the start of a section; it ends when the guard drops.
    pub fn enter(self: &Arc<Self>) -> ProbeGuard {
        let active = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(active, Ordering::SeqCst);
        self.entered.fetch_add(1, Ordering::SeqCst);
        ProbeGuard {
            probe: Arc::clone(self),
        }
    }

    /// The most sections that ever ran at once.
    pub fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }

    /// Sections running now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// Sections started so far.
    pub fn entered(&self) -> usize {
        self.entered.load(Ordering::SeqCst)
    }
}

/// One running section of a [`ConcurrencyProbe`].
#[derive(Debug)]
pub struct ProbeGuard {
    probe: Arc<ConcurrencyProbe>,
}

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        self.probe.active.fetch_sub(1, Ordering::SeqCst);
    }
}

//! [`Silo`]: the in-process runtime that hosts activations, built with [`SiloBuilder`].

mod builder;

pub use builder::SiloBuilder;

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::runtime::Handle;
use tokio::sync::{Notify, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::activation::{ActivationStats, Catalog, Envelope, Home, Undelivered};
use crate::call::{CallMeta, Fault};
use crate::cluster::{ClusterNode, Router};
use crate::grain::Grain;
use crate::id::{GrainId, GrainKey, GrainKind};
use crate::membership::{ClusterView, Incarnation};
use crate::persistence::Storage;
use crate::reference::{RefCore, RefHome, VirtualActorRef, decoding_for};
use crate::stats::{KindStats, SiloStats};
use crate::wire_call::RemoteReply;

const RUNNING: u8 = 0;
const STOPPING: u8 = 1;

/// The silos of this process by the id of their [`Home`], so that a turn can name its silo with
/// a number: a counted pointer in every turn was bumped by every thread on every call.
static SILOS: Mutex<Vec<(u64, Weak<SiloShared>)>> = Mutex::new(Vec::new());

/// Lists a started silo in [`SILOS`], dropping the entries of silos that are gone.
fn register(shared: &Arc<SiloShared>) {
    let mut silos = SILOS.lock().unwrap_or_else(PoisonError::into_inner);
    silos.retain(|(_, silo)| silo.strong_count() > 0);
    silos.push((shared.state.home().id(), Arc::downgrade(shared)));
}

/// The silo whose home has id `home`; dangling if it is gone.
pub(crate) fn silo_at(home: u64) -> Weak<SiloShared> {
    SILOS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .find(|(id, _)| *id == home)
        .map_or_else(Weak::new, |(_, silo)| silo.clone())
}

/// Lifecycle state shared by a silo and its catalogs.
pub(crate) struct SiloState {
    runtime: Handle,
    home: Home,
    /// Set when the silo is a cluster member: routes calls to the grains' owners.
    router: OnceLock<Arc<Router>>,
    phase: AtomicU8,
    retired: Notify,
}

impl SiloState {
    pub(crate) fn runtime(&self) -> &Handle {
        &self.runtime
    }

    /// Tells whether a thread is one of the runtime's workers.
    pub(crate) fn home(&self) -> &Home {
        &self.home
    }

    /// The silo's router, if it is a cluster member.
    pub(crate) fn router(&self) -> Option<&Arc<Router>> {
        self.router.get()
    }

    /// Whether new activations may be created.
    pub(crate) fn accepting(&self) -> bool {
        self.phase.load(Ordering::Acquire) == RUNNING
    }

    pub(crate) fn activation_retired(&self) {
        if !self.accepting() {
            self.retired.notify_waiters();
        }
    }
}

/// The grain-kind-independent face of a [`Catalog`], for sweeping, stats and shutdown.
pub(crate) trait KindCatalog: Send + Sync {
    fn sweep(&self, now: Instant, idle_timeout: Option<Duration>);
    fn idle_timeout(&self) -> Duration;
    fn live(&self) -> usize;
    fn stats(&self) -> KindStats;
    fn release_storage(&self);
    /// The storage the kind keeps state in, until the silo has shut down.
    fn storage(&self) -> Option<Storage>;
    /// Deactivates the grain's activation, if any, and waits until it has retired.
    fn deactivate<'a>(&'a self, key: &'a GrainKey) -> BoxFuture<'a, ()>;
    /// Deactivates, once idle, every activation whose grain `leave` selects.
    fn evict(&self, leave: &dyn Fn(&GrainId) -> bool);
    /// Decodes a call that arrived from another silo and queues it; a call that cannot be
    /// decoded or queued is answered with the fault.
    fn deliver_wire(
        self: Arc<Self>,
        key: GrainKey,
        method: &str,
        payload: &[u8],
        meta: CallMeta,
        reply: Option<RemoteReply>,
    );
}

impl<G: Grain> KindCatalog for Catalog<G> {
    fn sweep(&self, now: Instant, idle_timeout: Option<Duration>) {
        Catalog::sweep(
            self,
            now,
            idle_timeout.unwrap_or(self.settings().idle_timeout),
        );
    }

    fn idle_timeout(&self) -> Duration {
        self.settings().idle_timeout
    }

    fn live(&self) -> usize {
        Catalog::live(self)
    }

    fn stats(&self) -> KindStats {
        KindStats::read(self.kind().clone(), self.live(), self.counters())
    }

    fn release_storage(&self) {
        Catalog::release_storage(self);
    }

    fn storage(&self) -> Option<Storage> {
        Catalog::storage(self)
    }

    fn deactivate<'a>(&'a self, key: &'a GrainKey) -> BoxFuture<'a, ()> {
        Box::pin(Catalog::deactivate(self, key))
    }

    fn evict(&self, leave: &dyn Fn(&GrainId) -> bool) {
        Catalog::evict(self, leave);
    }

    fn deliver_wire(
        self: Arc<Self>,
        key: GrainKey,
        method: &str,
        payload: &[u8],
        meta: CallMeta,
        reply: Option<RemoteReply>,
    ) {
        let home = RefHome::Silo(self.silo().clone());
        let call = match decoding_for(home, || G::__from_wire(method, payload, reply)) {
            Ok(call) => call,
            Err((reason, reply)) => {
                if let Some(reply) = reply {
                    reply(Err(Fault::Rejected(reason)));
                }
                return;
            }
        };
        if let Err((undelivered, envelope)) =
            self.deliver(&key, Envelope { call, meta }, false, &mut |_, _| {})
        {
            envelope.fail(match undelivered {
                Undelivered::MailboxFull(capacity) => Fault::MailboxFull(capacity),
                Undelivered::ShuttingDown => Fault::ShuttingDown,
            });
        }
    }
}

/// What the silo and every catalog share.
pub(crate) struct SiloShared {
    state: Arc<SiloState>,
    by_type: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    by_kind: HashMap<GrainKind, Arc<dyn KindCatalog>>,
    catalogs: Vec<Arc<dyn KindCatalog>>,
    shutdown_timeout: Duration,
}

impl SiloShared {
    fn catalog<G: Grain>(&self) -> Option<Arc<Catalog<G>>> {
        let catalog = self.by_type.get(&TypeId::of::<G>())?;
        Arc::clone(catalog).downcast::<Catalog<G>>().ok()
    }

    /// The catalog of grain kind `kind`, for calls that arrive by name.
    pub(crate) fn kind_catalog(&self, kind: &GrainKind) -> Option<Arc<dyn KindCatalog>> {
        self.by_kind.get(kind).cloned()
    }

    /// The storage of the silo's durable grain kinds, until it has shut down.
    pub(crate) fn storage(&self) -> Option<Storage> {
        self.catalogs.iter().find_map(|catalog| catalog.storage())
    }

    /// Every grain kind's catalog.
    pub(crate) fn catalogs(&self) -> &[Arc<dyn KindCatalog>] {
        &self.catalogs
    }

    /// A ref to grain `key` of type `G`, routed by this silo.
    fn grain<G: Grain>(&self, key: GrainKey) -> VirtualActorRef<G> {
        VirtualActorRef::from_core(RefCore::new(
            key,
            self.catalog::<G>(),
            self.state.router().cloned(),
        ))
    }
}

/// A ref to grain `key` of type `G` on `silo`; calls through it fail if `G` is not registered there.
pub(crate) fn resolve<G: Grain>(silo: &Weak<SiloShared>, key: GrainKey) -> VirtualActorRef<G> {
    match silo.upgrade() {
        Some(silo) => silo.grain(key),
        None => VirtualActorRef::from_core(RefCore::new(key, None, None)),
    }
}

/// How a [`Silo::shutdown`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Activations that were still alive when the shutdown timeout passed (zero on a clean stop).
    pub abandoned: usize,
    /// How long the shutdown took.
    pub took: Duration,
}

/// A silo: hosts grain activations in this process, activating each grain on its first call.
///
/// # Examples
///
/// ```
/// use grain_runtime::prelude::*;
///
/// #[grain]
/// #[derive(Default)]
/// pub struct Counter { value: u64 }
///
/// #[grain]
/// impl Counter {
///     pub async fn add(&mut self, n: u64) -> u64 { self.value += n; self.value }
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let silo = Silo::builder().register::<Counter>().start().await?;
/// assert_eq!(silo.grain::<Counter>("alice").add(5).await?, 5);
/// silo.shutdown().await;
/// # Ok(()) }
/// ```
pub struct Silo {
    shared: Arc<SiloShared>,
    sweeper: AbortHandle,
    cluster: Option<ClusterNode>,
}

impl Silo {
    /// Starts configuring a silo.
    pub fn builder() -> SiloBuilder {
        SiloBuilder::new()
    }

    /// A ref to grain `key` of type `G`. Nothing is activated until the first call.
    pub fn grain<G: Grain>(&self, key: impl Into<GrainKey>) -> VirtualActorRef<G> {
        self.shared.grain(key.into())
    }

    /// The silo's counters, in total and per grain kind.
    pub fn stats(&self) -> SiloStats {
        let forwarded = self.router().map_or(0, |router| router.forwarded());
        SiloStats::sum(
            self.shared.catalogs.iter().map(|c| c.stats()).collect(),
            forwarded,
        )
    }

    /// Figures of the grain's activation, or `None` if it is not active on this silo.
    pub fn activation_stats<G: Grain>(
        &self,
        grain: &VirtualActorRef<G>,
    ) -> Option<ActivationStats> {
        self.shared
            .catalog::<G>()?
            .activation_stats(&grain.core().id().key)
    }

    /// The address other silos and clients reach this silo at, if it is a cluster member.
    pub fn address(&self) -> Option<SocketAddr> {
        self.cluster.as_ref().map(ClusterNode::address)
    }

    /// This silo's current view of its cluster, if it is a member of one.
    pub fn cluster_view(&self) -> Option<Arc<ClusterView>> {
        self.cluster.as_ref().map(ClusterNode::view)
    }

    /// A receiver notified of each new cluster view, if the silo is a member of a cluster.
    pub fn cluster_views(&self) -> Option<watch::Receiver<Arc<ClusterView>>> {
        self.cluster.as_ref().map(ClusterNode::views)
    }

    /// The other silos' incarnations that vanished without handing off the state of their
    /// grains: calls to grains whose state no live silo holds fail as unavailable while any is
    /// listed. Empty outside a cluster.
    pub fn down_silos(&self) -> Vec<Incarnation> {
        self.cluster
            .as_ref()
            .map(ClusterNode::down)
            .unwrap_or_default()
    }

    /// Declares that silo `name`, which is down, will not come back with its data: the state
    /// of the grains it held is given up, and they activate on their owners from what the live
    /// silos hold, or empty. This loses acknowledged writes, so it is an operator's decision,
    /// and it is logged. Returns the incarnations given up (none if `name` is not down).
    pub fn mark_lost(&self, name: &str) -> Vec<Incarnation> {
        match &self.cluster {
            Some(cluster) => cluster.mark_lost(name),
            None => Vec::new(),
        }
    }

    /// The silo's router, if it is a cluster member.
    pub(crate) fn router(&self) -> Option<&Arc<Router>> {
        self.cluster.as_ref().map(ClusterNode::router)
    }

    /// Whether the silo still accepts new activations.
    pub fn is_running(&self) -> bool {
        self.shared.state.accepting()
    }

    /// Stops the silo gracefully: no new activations are accepted, calls already queued are
    /// handled, then every grain is deactivated (`on_deactivate` runs) and its memory released.
    ///
    /// Calls made during the drain to grains that are still active are handled; calls that would
    /// need a new activation fail with [`CallError::ShuttingDown`](crate::CallError::ShuttingDown).
    /// Waits at most the builder's shutdown timeout; calling it twice is harmless. Afterwards the
    /// silo no longer holds its [`Storage`]: once the application drops its own
    /// handle, the store is closed and its directory can be opened again.
    pub async fn shutdown(&self) -> ShutdownReport {
        let started = Instant::now();
        if let Some(cluster) = &self.cluster
            && self.is_running()
        {
            cluster.start_leaving().await;
        }
        let state = &self.shared.state;
        state.phase.store(STOPPING, Ordering::Release);
        self.sweeper.abort();
        let deadline = started + self.shared.shutdown_timeout;
        let report = loop {
            let mut retired = pin!(state.retired.notified());
            retired.as_mut().enable();
            let live: usize = self.shared.catalogs.iter().map(|c| c.live()).sum();
            if live == 0 {
                break ShutdownReport {
                    abandoned: 0,
                    took: started.elapsed(),
                };
            }
            let now = Instant::now();
            if now >= deadline {
                tracing::warn!(
                    live,
                    "shutdown timeout passed with activations still running"
                );
                break ShutdownReport {
                    abandoned: live,
                    took: started.elapsed(),
                };
            }
            for catalog in &self.shared.catalogs {
                catalog.sweep(now, Some(Duration::ZERO));
            }
            tokio::select! {
                () = retired => {}
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
                () = tokio::time::sleep_until(deadline) => {}
            }
        };
        if let Some(cluster) = &self.cluster {
            cluster.hand_off(self.shared.storage()).await;
            cluster.leave().await;
        }
        for catalog in &self.shared.catalogs {
            catalog.release_storage();
        }
        report
    }
}

impl Drop for Silo {
    /// A silo dropped without [`shutdown`](Silo::shutdown) stops accepting activations; its
    /// activations deactivate once their mailboxes drain.
    fn drop(&mut self) {
        self.shared.state.phase.store(STOPPING, Ordering::Release);
        self.sweeper.abort();
        let now = Instant::now();
        for catalog in &self.shared.catalogs {
            catalog.sweep(now, Some(Duration::ZERO));
        }
    }
}

impl std::fmt::Debug for Silo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds: Vec<GrainKind> = self
            .shared
            .catalogs
            .iter()
            .map(|c| c.stats().kind)
            .collect();
        f.debug_struct("Silo")
            .field("kinds", &kinds)
            .field("running", &self.is_running())
            .finish()
    }
}

/// Periodically passivates idle activations, until the silo is gone or stopping.
async fn sweep_idle(silo: Weak<SiloShared>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(silo) = silo.upgrade() else { return };
        if !silo.state.accepting() {
            return;
        }
        let now = Instant::now();
        for catalog in &silo.catalogs {
            catalog.sweep(now, None);
        }
    }
}

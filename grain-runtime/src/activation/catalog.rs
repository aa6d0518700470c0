//! The catalog: one grain kind's table of live activations on this silo.
//!
//! The catalog activates a grain at most once at a time: the first message creates the
//! activation under the table's entry lock, and an activation is replaced by its successor under
//! the same lock, with the messages it still held moved across in order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use tokio::runtime::Handle;
use tokio::time::Instant;

use super::{Activation, ActivationStats, ActivationStatus, Home, Leftovers, Lending, Rejected};
use crate::call::{CallMeta, Fault};
use crate::cluster::{Destination, Router};
use crate::grain::Grain;
use crate::id::{GrainId, GrainKey, GrainKind};
use crate::mailbox::{Envelope, Mailbox};
use crate::persistence::Storage;
use crate::reference::send_remote;
use crate::silo::{SiloShared, SiloState};
use crate::stats::StripedCounter;

/// The effective settings of one grain kind: its attribute options over the silo defaults.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KindSettings {
    pub(crate) ask_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) mailbox_capacity: usize,
}

/// Counters of one grain kind on this silo.
#[derive(Debug, Default)]
pub(crate) struct KindCounters {
    pub(crate) activations: AtomicU64,
    pub(crate) passivations: AtomicU64,
    pub(crate) messages_handled: StripedCounter,
    pub(crate) panics: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) mailbox_full: AtomicU64,
}

/// Why a message could not be delivered.
pub(crate) enum Undelivered {
    MailboxFull(usize),
    ShuttingDown,
}

type Factory<G> = Box<dyn Fn(&GrainId) -> G + Send + Sync>;

/// The activations of one grain kind.
pub(crate) struct Catalog<G: Grain> {
    kind: GrainKind,
    /// Hashed with foldhash: the table is looked up on every call, and SipHash cost a tenth of
    /// a tell. Its seed is random per table.
    table: DashMap<GrainKey, Arc<Activation<G>>, foldhash::fast::RandomState>,
    factory: Factory<G>,
    settings: KindSettings,
    /// Released when the silo has shut down, so that the store closes once the application drops
    /// its own handle, even while refs to this catalog live on.
    storage: RwLock<Option<Storage>>,
    counters: KindCounters,
    state: Arc<SiloState>,
    silo: Weak<SiloShared>,
}

impl<G: Grain> Catalog<G> {
    pub(crate) fn new(
        factory: Factory<G>,
        settings: KindSettings,
        storage: Option<Storage>,
        state: Arc<SiloState>,
        silo: Weak<SiloShared>,
    ) -> Self {
        Self {
            kind: GrainKind::from_static(G::KIND),
            table: DashMap::default(),
            factory,
            settings,
            storage: RwLock::new(storage),
            counters: KindCounters::default(),
            state,
            silo,
        }
    }

    pub(crate) fn settings(&self) -> &KindSettings {
        &self.settings
    }

    /// The silo's storage: set for durable grain kinds until the silo has shut down.
    pub(crate) fn storage(&self) -> Option<Storage> {
        self.storage
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Drops this catalog's handle on the storage.
    pub(crate) fn release_storage(&self) {
        self.storage
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    pub(crate) fn counters(&self) -> &KindCounters {
        &self.counters
    }

    pub(crate) fn runtime(&self) -> &Handle {
        self.state.runtime()
    }

    pub(crate) fn home(&self) -> &Home {
        self.state.home()
    }

    /// The silo's router, if the silo is a cluster member.
    pub(crate) fn router(&self) -> Option<&Arc<Router>> {
        self.state.router()
    }

    pub(crate) fn silo(&self) -> &Weak<SiloShared> {
        &self.silo
    }

    pub(crate) fn create(&self, id: &GrainId) -> G {
        (self.factory)(id)
    }

    /// Queues a call for grain `key`, activating it if it has no live activation. A call that
    /// cannot be queued is handed back with the reason. With `lend` (for an ask), the call or
    /// the turn loop it starts may be handed back to run (see [`Activation::enqueue`]); `attach`
    /// binds the reply slot of a call that is queued and stamps its deadline.
    // Inlined into an ask's poll (see `AskFuture::send`).
    #[inline(always)]
    pub(crate) fn deliver(
        self: &Arc<Self>,
        key: &GrainKey,
        envelope: Envelope<G>,
        lend: bool,
        attach: &mut dyn FnMut(&mut G::Call, &mut CallMeta),
    ) -> Result<Option<Lending<'_, G>>, (Undelivered, Envelope<G>)> {
        let mut envelope = envelope;
        loop {
            // Queued under the table's shard lock rather than through a clone of the `Arc`: the
            // count's cache line would bounce between the sender and the turn loop on each call.
            let queued = if let Some(activation) = self.table.get(key) {
                activation.enqueue(envelope, lend, attach)
            } else if self.state.accepting() {
                self.activation(key).enqueue(envelope, lend, attach)
            } else {
                return Err((Undelivered::ShuttingDown, envelope));
            };
            match queued {
                Ok(lent) => {
                    return Ok(lent.map(|work| Lending {
                        work,
                        catalog: self,
                    }));
                }
                Err(Rejected::Full(returned)) => {
                    self.counters.mailbox_full.fetch_add(1, Ordering::Relaxed);
                    let capacity = self.settings.mailbox_capacity;
                    return Err((Undelivered::MailboxFull(capacity), returned));
                }
                Err(Rejected::Retired(returned)) => envelope = returned,
            }
        }
    }

    /// The activation of grain `key`, created if it has none.
    fn activation(
        self: &Arc<Self>,
        key: &GrainKey,
    ) -> dashmap::mapref::one::RefMut<'_, GrainKey, Arc<Activation<G>>> {
        self.table.entry(key.clone()).or_insert_with(|| {
            self.counters.activations.fetch_add(1, Ordering::Relaxed);
            Arc::new(Activation::new(
                Arc::clone(self),
                GrainId::new(self.kind.clone(), key.clone()),
                Mailbox::new(),
            ))
        })
    }

    /// Removes `activation` from the table. Messages it still held go, in order, to the silo
    /// that owns the grain now if that is another one; else to a successor that replaces it
    /// under the same entry lock; or they fail if there can be none.
    pub(super) fn retire(self: &Arc<Self>, activation: &Arc<Activation<G>>, leftovers: Leftovers) {
        let key = &activation.id().key;
        let next = match self.table.entry(key.clone()) {
            Entry::Occupied(mut entry) if Arc::ptr_eq(entry.get(), activation) => {
                let mailbox = activation.close();
                if mailbox.is_empty() {
                    entry.remove();
                    Next::Nothing
                } else if let Some(router) = self.owned_elsewhere(activation.id()) {
                    entry.remove();
                    Next::Forward(mailbox, router)
                } else if let (Leftovers::Reactivate, true) = (&leftovers, self.state.accepting()) {
                    self.counters.activations.fetch_add(1, Ordering::Relaxed);
                    let successor = Arc::new(Activation::new(
                        Arc::clone(self),
                        activation.id().clone(),
                        mailbox,
                    ));
                    successor.lock().status = ActivationStatus::Running;
                    entry.insert(Arc::clone(&successor));
                    Next::Successor(successor)
                } else {
                    entry.remove();
                    Next::Fail(mailbox)
                }
            }
            _ => Next::Fail(activation.close()),
        };
        match next {
            Next::Nothing => {}
            Next::Successor(successor) => successor.start_turn_loop(),
            Next::Forward(mailbox, router) => self.forward(&router, activation.id(), mailbox),
            Next::Fail(mailbox) => match leftovers {
                Leftovers::Fail(fault) => mailbox.fail_all(|| fault.clone()),
                Leftovers::Reactivate => mailbox.fail_all(|| Fault::ShuttingDown),
            },
        }
        self.state.activation_retired();
    }

    /// Sends the messages of a retired activation, in order, to the silo that owns the grain by
    /// the directory at the time of each; one that cannot be sent fails with the reason.
    fn forward(self: &Arc<Self>, router: &Arc<Router>, grain: &GrainId, mailbox: Mailbox<G>) {
        for envelope in mailbox.into_envelopes() {
            if envelope.expired() {
                envelope.fail(Fault::Expired);
                continue;
            }
            match router.destination(grain) {
                Destination::There { owner, lane } => {
                    let (call, meta) = (envelope.call, envelope.meta);
                    if let Err(unrouted) =
                        send_remote::<G>(router, grain, &owner, lane, call, &meta)
                        && let Some(reply) = unrouted.reply
                    {
                        reply(Err(unrouted.fault));
                    }
                }
                Destination::Here => {
                    if let Err((undelivered, envelope)) =
                        self.deliver(&grain.key, envelope, false, &mut |_, _| {})
                    {
                        envelope.fail(match undelivered {
                            Undelivered::MailboxFull(capacity) => Fault::MailboxFull(capacity),
                            Undelivered::ShuttingDown => Fault::ShuttingDown,
                        });
                    }
                }
                Destination::Unplaced => envelope.fail(Fault::Unavailable(router.unplaced())),
            }
        }
    }

    /// The router of this silo, if another silo owns `grain` by its directory.
    fn owned_elsewhere(&self, grain: &GrainId) -> Option<Arc<Router>> {
        let router = self.router()?;
        match router.destination(grain) {
            Destination::There { .. } => Some(Arc::clone(router)),
            Destination::Here | Destination::Unplaced => None,
        }
    }

    /// Passivates every activation idle for at least `idle_timeout`.
    pub(crate) fn sweep(&self, now: Instant, idle_timeout: Duration) {
        let activations: Vec<_> = self.table.iter().map(|entry| Arc::clone(&entry)).collect();
        for activation in activations {
            activation.passivate_if_idle(now, idle_timeout);
        }
    }

    /// Deactivates the grain's activation, if it has one, and waits until it has retired.
    /// Messages it still holds go to a successor, which runs once this returns.
    pub(crate) async fn deactivate(&self, key: &GrainKey) {
        while let Some(activation) = self.table.get(key).map(|entry| Arc::clone(&entry)) {
            activation.set_deactivate_on_idle();
            activation.passivate_if_idle(Instant::now(), Duration::ZERO);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Deactivates every activation whose grain `leave` selects, once it is idle.
    pub(crate) fn evict(&self, leave: &dyn Fn(&GrainId) -> bool) {
        let leaving: Vec<_> = self
            .table
            .iter()
            .filter(|entry| leave(entry.id()))
            .map(|entry| Arc::clone(&entry))
            .collect();
        let now = Instant::now();
        for activation in leaving {
            activation.set_deactivate_on_idle();
            activation.passivate_if_idle(now, Duration::ZERO);
        }
    }

    pub(crate) fn accepting(&self) -> bool {
        self.state.accepting()
    }

    pub(crate) fn live(&self) -> usize {
        self.table.len()
    }

    pub(crate) fn activation_stats(&self, key: &GrainKey) -> Option<ActivationStats> {
        let activation = self.table.get(key).map(|entry| Arc::clone(&entry))?;
        Some(activation.stats())
    }

    pub(crate) fn kind(&self) -> &GrainKind {
        &self.kind
    }
}

/// Where the messages of a retiring activation go.
enum Next<G: Grain> {
    Nothing,
    Successor(Arc<Activation<G>>),
    Forward(Mailbox<G>, Arc<Router>),
    Fail(Mailbox<G>),
}

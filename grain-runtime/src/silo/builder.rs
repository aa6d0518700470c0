//! [`SiloBuilder`]: registers grain types and sets the silo's defaults.

use std::any::{Any, TypeId};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU8;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::Notify;

use super::{KindCatalog, RUNNING, Silo, SiloShared, SiloState, sweep_idle};
use crate::activation::{Catalog, Home, KindSettings};
use crate::cluster::{ClusterConfig, ClusterNode};
use crate::error::SiloError;
use crate::grain::{Grain, GrainOptions};
use crate::id::{GrainId, GrainKind};
use crate::persistence::{PersistenceModel, Storage};

/// The silo-wide defaults that grain types may override in their attribute.
#[derive(Debug, Clone, Copy)]
struct Defaults {
    ask_timeout: Duration,
    idle_timeout: Duration,
    mailbox_capacity: usize,
}

type Built = (Arc<dyn Any + Send + Sync>, Arc<dyn KindCatalog>);
type Build =
    Box<dyn FnOnce(&Defaults, Option<Storage>, Arc<SiloState>, Weak<SiloShared>) -> Built + Send>;

struct Registration {
    kind: GrainKind,
    type_id: TypeId,
    options: GrainOptions,
    durable: bool,
    build: Build,
}

/// Configures and starts a [`Silo`].
///
/// # Examples
///
/// ```
/// # use grain_runtime::prelude::*;
/// # use std::time::Duration;
/// # #[grain] #[derive(Default)] struct Counter;
/// # #[grain] impl Counter { pub async fn ping(&self) {} }
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let silo = Silo::builder()
///     .register::<Counter>()
///     .ask_timeout(Duration::from_secs(5))
///     .idle_timeout(Duration::from_secs(300))
///     .start()
///     .await?;
/// # Ok(()) }
/// ```
pub struct SiloBuilder {
    defaults: Defaults,
    sweep_interval: Option<Duration>,
    shutdown_timeout: Duration,
    storage: Option<Storage>,
    cluster: Option<ClusterConfig>,
    registrations: Vec<Registration>,
}

impl SiloBuilder {
    pub(super) fn new() -> Self {
        Self {
            defaults: Defaults {
                ask_timeout: Duration::from_secs(30),
                idle_timeout: Duration::from_secs(120),
                mailbox_capacity: 65_536,
            },
            sweep_interval: None,
            shutdown_timeout: Duration::from_secs(30),
            storage: None,
            cluster: None,
            registrations: Vec::new(),
        }
    }

    /// Hosts grain type `G`, whose activations start from `G::default()`.
    pub fn register<G: Grain + Default>(self) -> Self {
        self.register_with::<G>(|_| G::default())
    }

    /// Hosts grain type `G`, whose activations start from `factory(id)`.
    pub fn register_with<G: Grain>(
        mut self,
        factory: impl Fn(&GrainId) -> G + Send + Sync + 'static,
    ) -> Self {
        self.registrations.push(Registration {
            kind: GrainKind::from_static(G::KIND),
            type_id: TypeId::of::<G>(),
            options: G::OPTIONS,
            durable: <G::Persistence as PersistenceModel<G>>::DURABLE,
            build: Box::new(move |defaults, storage, state, silo| {
                let settings = KindSettings {
                    ask_timeout: defaults.ask_timeout,
                    idle_timeout: G::OPTIONS.idle_timeout.unwrap_or(defaults.idle_timeout),
                    mailbox_capacity: G::OPTIONS
                        .mailbox_capacity
                        .unwrap_or(defaults.mailbox_capacity),
                };
                let catalog = Arc::new(Catalog::<G>::new(
                    Box::new(factory),
                    settings,
                    storage,
                    state,
                    silo,
                ));
                (catalog.clone(), catalog)
            }),
        });
        self
    }

    /// Where journaled and persistent grains keep their state, such as
    /// [`Storage::sled`]. Required when such a grain type is registered.
    pub fn storage(mut self, storage: Storage) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Makes the silo a member of a cluster: it listens for calls from other silos and clients,
    /// and each grain runs on the one silo that owns it. Every silo of a cluster registers the
    /// same grain kinds.
    pub fn cluster(mut self, config: ClusterConfig) -> Self {
        self.cluster = Some(config);
        self
    }

    /// The deadline of an ask that sets none itself (default 30 s).
    pub fn ask_timeout(mut self, timeout: Duration) -> Self {
        self.defaults.ask_timeout = timeout;
        self
    }

    /// How long an activation may stay idle before it is passivated, for grain types that set no
    /// `idle_timeout` of their own (default 2 minutes).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.defaults.idle_timeout = timeout;
        self
    }

    /// The mailbox capacity of grain types that set none of their own (default 65,536).
    pub fn mailbox_capacity(mut self, capacity: usize) -> Self {
        self.defaults.mailbox_capacity = capacity;
        self
    }

    /// How often idle activations are looked for (default: a quarter of the shortest idle
    /// timeout, between 10 ms and 30 s).
    pub fn passivation_sweep_interval(mut self, interval: Duration) -> Self {
        self.sweep_interval = Some(interval);
        self
    }

    /// How long [`Silo::shutdown`] waits for activations to drain (default 30 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    fn validate(&self) -> Result<(), SiloError> {
        let invalid = |setting, reason: &str| {
            Err(SiloError::InvalidConfig {
                setting,
                reason: reason.to_string(),
            })
        };
        if self.defaults.ask_timeout.is_zero() {
            return invalid("ask_timeout", "must be greater than zero");
        }
        if self.defaults.idle_timeout.is_zero() {
            return invalid("idle_timeout", "must be greater than zero");
        }
        if self.defaults.mailbox_capacity == 0 {
            return invalid("mailbox_capacity", "must be at least 1");
        }
        if self.sweep_interval.is_some_and(|i| i.is_zero()) {
            return invalid("passivation_sweep_interval", "must be greater than zero");
        }
        if let Some(cluster) = &self.cluster {
            cluster.validate()?;
        }
        let mut seen = HashMap::new();
        for registration in &self.registrations {
            if let Some(previous) = seen.insert(registration.kind.clone(), registration.type_id) {
                if previous == registration.type_id {
                    continue;
                }
                return Err(SiloError::DuplicateKind {
                    kind: registration.kind.clone(),
                });
            }
            if registration.durable && self.storage.is_none() {
                return Err(SiloError::NoStorage {
                    kind: registration.kind.clone(),
                });
            }
            if registration.options.mailbox_capacity == Some(0) {
                return invalid(
                    "mailbox_capacity",
                    "a grain type's capacity must be at least 1",
                );
            }
        }
        Ok(())
    }

    /// Starts the silo on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`SiloError::InvalidConfig`] for a zero timeout or capacity, [`SiloError::DuplicateKind`]
    /// when two grain types share a kind name, [`SiloError::NoStorage`] when a journaled or
    /// persistent grain type is registered without [`storage`](Self::storage),
    /// [`SiloError::NoRuntime`] outside a tokio runtime.
    pub async fn start(self) -> Result<Silo, SiloError> {
        self.validate()?;
        let runtime = Handle::try_current().map_err(|_| SiloError::NoRuntime)?;
        let state = Arc::new(SiloState {
            runtime: runtime.clone(),
            home: Home::new(),
            router: OnceLock::new(),
            phase: AtomicU8::new(RUNNING),
            retired: Notify::new(),
        });
        let defaults = self.defaults;
        let mut registrations = self.registrations;
        let mut registered = HashSet::new();
        registrations.retain(|r| registered.insert(r.type_id));
        let shared = Arc::new_cyclic(|silo: &Weak<SiloShared>| {
            let mut by_type = HashMap::new();
            let mut by_kind = HashMap::new();
            let mut catalogs = Vec::new();
            for registration in registrations {
                let (typed, catalog) = (registration.build)(
                    &defaults,
                    self.storage.clone(),
                    state.clone(),
                    silo.clone(),
                );
                by_type.insert(registration.type_id, typed);
                by_kind.insert(registration.kind, Arc::clone(&catalog));
                catalogs.push(catalog);
            }
            SiloShared {
                state: state.clone(),
                by_type,
                by_kind,
                catalogs,
                shutdown_timeout: self.shutdown_timeout,
            }
        });
        super::register(&shared);
        let shortest_idle = shared
            .catalogs
            .iter()
            .map(|c| c.idle_timeout())
            .min()
            .unwrap_or(defaults.idle_timeout);
        let sweep_interval = self.sweep_interval.unwrap_or_else(|| {
            (shortest_idle / 4).clamp(Duration::from_millis(10), Duration::from_secs(30))
        });
        let sweeper = runtime
            .spawn(sweep_idle(Arc::downgrade(&shared), sweep_interval))
            .abort_handle();
        let cluster = match &self.cluster {
            Some(config) => {
                let node = ClusterNode::start(
                    config,
                    defaults.ask_timeout,
                    Arc::downgrade(&shared),
                    self.storage.clone(),
                )
                .await
                .inspect_err(|_| sweeper.abort())?;
                let _ = state.router.set(Arc::clone(node.router()));
                Some(node)
            }
            None => None,
        };
        tracing::info!(kinds = shared.catalogs.len(), "silo started");
        Ok(Silo {
            shared,
            sweeper,
            cluster,
        })
    }
}

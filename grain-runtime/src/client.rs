//! [`Client`]: calls a cluster's grains from a process that hosts none.
//!
//! A client is not a cluster member: it takes no part in gossip and owns no grains. It asks the
//! silos it knows for their cluster view, routes each call straight to the grain's owner by
//! that view, and refreshes the view periodically from any silo in it, so that it keeps working
//! when the silo it first reached goes away.

use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use tokio::task::AbortHandle;

use crate::cluster::{MARK_LOST, Router, VIEW, cluster_request, directory_of};
use crate::error::SiloError;
use crate::grain::Grain;
use crate::id::{GrainId, GrainKey, GrainKind};
use crate::membership::{ClusterView, Incarnation, SiloStatus};
use crate::reference::{RefCore, VirtualActorRef};
use crate::transport::TransportSettings;
use crate::transport::frame::DEFAULT_MAX_FRAME;

/// How a [`Client`] reaches a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The cluster's name, as its silos were configured (default `grain`).
    pub cluster: String,
    /// Silo addresses (`host:port`) to ask for the cluster view first.
    pub seeds: Vec<String>,
    /// The default deadline of asks (default 30 s).
    pub ask_timeout: Duration,
    /// How often the view is refreshed (default 500 ms).
    pub refresh_interval: Duration,
    /// The largest frame sent or accepted, in bytes (default 8 MiB).
    pub max_frame: usize,
}

impl ClientConfig {
    /// The defaults, with `seeds` to start from.
    pub fn new<S: Into<String>>(seeds: impl IntoIterator<Item = S>) -> Self {
        Self {
            cluster: "grain".to_string(),
            seeds: seeds.into_iter().map(Into::into).collect(),
            ask_timeout: Duration::from_secs(30),
            refresh_interval: Duration::from_millis(500),
            max_frame: DEFAULT_MAX_FRAME,
        }
    }

    /// Sets the cluster's name.
    pub fn cluster(mut self, name: impl Into<String>) -> Self {
        self.cluster = name.into();
        self
    }

    /// Sets the default deadline of asks.
    pub fn ask_timeout(mut self, timeout: Duration) -> Self {
        self.ask_timeout = timeout;
        self
    }

    /// Sets how often the view is refreshed.
    pub fn refresh_interval(mut self, every: Duration) -> Self {
        self.refresh_interval = every;
        self
    }
}

/// A connection to a cluster from outside it.
///
/// # Examples
///
/// ```no_run
/// # use grain_runtime::prelude::*;
/// # #[grain] #[derive(Default)] pub struct Counter { value: u64 }
/// # #[grain] impl Counter { pub async fn add(&mut self, n: u64) -> u64 { self.value += n; self.value } }
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = Client::connect(["10.0.0.1:11111", "10.0.0.2:11111"]).await?;
/// let total = client.grain::<Counter>("alice").add(5).await?;
/// # Ok(()) }
/// ```
pub struct Client {
    router: Arc<Router>,
    view: Arc<RwLock<Arc<ClusterView>>>,
    refresher: AbortHandle,
}

impl Client {
    /// Connects with the default [`ClientConfig`] to the cluster that `seeds` belong to.
    ///
    /// # Errors
    ///
    /// As [`connect_with`](Self::connect_with).
    pub async fn connect<S: Into<String>>(
        seeds: impl IntoIterator<Item = S>,
    ) -> Result<Self, SiloError> {
        Self::connect_with(ClientConfig::new(seeds)).await
    }

    /// Connects to the cluster: asks the seeds, in order, for the cluster view until one answers.
    ///
    /// # Errors
    ///
    /// [`SiloError::InvalidConfig`] without seeds, [`SiloError::Membership`] naming each seed
    /// and why it did not answer.
    pub async fn connect_with(config: ClientConfig) -> Result<Self, SiloError> {
        if config.seeds.is_empty() {
            return Err(SiloError::InvalidConfig {
                setting: "seeds",
                reason: "a client needs at least one silo address".to_string(),
            });
        }
        let name = format!("client-{}", uuid::Uuid::new_v4().simple());
        let mut settings = TransportSettings::new(&config.cluster, &name);
        settings.max_frame = config.max_frame;
        let router = Router::new(settings, config.ask_timeout, Weak::new());
        let view = fetch_view(&router, &config.seeds)
            .await
            .map_err(SiloError::Membership)?;
        router.set_directory(directory_of(&view));
        let view = Arc::new(RwLock::new(Arc::new(view)));
        let refresher = tokio::spawn(refresh(
            Arc::downgrade(&router),
            Arc::clone(&view),
            config.seeds,
            config.refresh_interval,
        ))
        .abort_handle();
        Ok(Self {
            router,
            view,
            refresher,
        })
    }

    /// A ref to grain `key` of type `G`; calls through it go to the grain's owning silo.
    pub fn grain<G: Grain>(&self, key: impl Into<GrainKey>) -> VirtualActorRef<G> {
        VirtualActorRef::from_core(RefCore::new(
            key.into(),
            None,
            Some(Arc::clone(&self.router)),
        ))
    }

    /// The cluster view the client routes by.
    pub fn view(&self) -> Arc<ClusterView> {
        Arc::clone(&self.view.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Declares, through an active silo, that silo `name` (which is down) will not come back
    /// with its data; see [`Silo::mark_lost`](crate::Silo::mark_lost). Returns the
    /// incarnations given up: none if `name` is not down.
    ///
    /// # Errors
    ///
    /// [`SiloError::Membership`] if no active silo answered.
    pub async fn mark_lost(&self, name: &str) -> Result<Vec<Incarnation>, SiloError> {
        let view = self.view();
        let mut failures = Vec::new();
        for silo in view.active() {
            match self
                .router
                .control(silo.address, &cluster_request(), MARK_LOST, name)
                .await
            {
                Ok(marked) => return Ok(marked),
                Err(reason) => failures.push(format!("{}: {reason}", silo.name)),
            }
        }
        Err(SiloError::Membership(format!(
            "no active silo took the request: {}",
            failures.join("; ")
        )))
    }

    /// The name of the silo that owns grain `key` of type `G` by the client's view.
    pub fn owner_of<G: Grain>(&self, key: impl Into<GrainKey>) -> Option<String> {
        let id = GrainId::new(GrainKind::from_static(G::KIND), key.into());
        let directory = self.router.directory();
        directory.place(&id).1.map(|member| member.name.clone())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.refresher.abort();
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("name", &self.router.name())
            .field("view", &self.view().to_string())
            .finish()
    }
}

/// Asks the silos at `addresses`, in order, for their view; the error names why each failed.
async fn fetch_view(router: &Router, addresses: &[String]) -> Result<ClusterView, String> {
    let mut failures = Vec::new();
    for address in addresses {
        let resolved = match tokio::net::lookup_host(address.as_str()).await {
            Ok(mut found) => found.next(),
            Err(e) => {
                failures.push(format!("{address}: {e}"));
                continue;
            }
        };
        let Some(resolved) = resolved else {
            failures.push(format!("{address}: no address"));
            continue;
        };
        match router
            .control(resolved, &cluster_request(), VIEW, &())
            .await
        {
            Ok(view) => return Ok(view),
            Err(reason) => failures.push(format!("{address}: {reason}")),
        }
    }
    Err(format!(
        "no silo answered with the cluster view: {}",
        failures.join("; ")
    ))
}

/// Refreshes the view from the silos in it, falling back to the seeds.
async fn refresh(
    router: Weak<Router>,
    view: Arc<RwLock<Arc<ClusterView>>>,
    seeds: Vec<String>,
    every: Duration,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(router) = router.upgrade() else {
            return;
        };
        let current = Arc::clone(&view.read().unwrap_or_else(PoisonError::into_inner));
        let mut addresses: Vec<String> = current
            .members
            .iter()
            .filter(|m| m.status == SiloStatus::Active)
            .map(|m| m.address.to_string())
            .collect();
        addresses.extend(seeds.iter().cloned());
        match fetch_view(&router, &addresses).await {
            Ok(fresh) => {
                router.follow_view(&current, &fresh);
                *view.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(fresh);
            }
            Err(reason) => tracing::warn!(client = router.name(), "{reason}"),
        }
    }
}

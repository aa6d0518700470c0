//! Clustering: a silo that listens for calls from other silos and routes its own calls to the
//! grains' owners, by a [`Directory`] built from the cluster view.

mod config;
mod directory;
mod router;

pub use config::ClusterConfig;
pub(crate) use directory::{Directory, Member};
pub(crate) use router::{Destination, Router};

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use crate::error::SiloError;
use crate::membership::{ClusterView, Membership, MembershipConfig, SiloStatus};
use crate::silo::SiloShared;
use crate::transport::listener::{Inbound, listen};

/// The cluster side of one silo: its listener, its membership and its router.
pub(crate) struct ClusterNode {
    router: Arc<Router>,
    address: SocketAddr,
    views: watch::Receiver<Arc<ClusterView>>,
    /// Taken when the silo leaves the cluster.
    membership: Mutex<Option<Membership>>,
    gossip_interval: Duration,
    /// Stops the listener and closes the connections it accepted.
    stop: CancellationToken,
    follower: AbortHandle,
}

impl ClusterNode {
    /// Binds the silo's listen address, starts accepting calls for `silo`, and joins the
    /// cluster's membership on the same port (UDP).
    pub(crate) async fn start(
        config: &ClusterConfig,
        ask_timeout: Duration,
        silo: Weak<SiloShared>,
    ) -> Result<Self, SiloError> {
        let bind_error = |e: std::io::Error| SiloError::Bind {
            address: config.listen,
            reason: e.to_string(),
        };
        let listener = TcpListener::bind(config.listen).await.map_err(bind_error)?;
        let bound = listener.local_addr().map_err(bind_error)?;
        let address = config.advertised(bound)?;
        let mut gossip = MembershipConfig::new(&config.cluster, &config.node_name, bound, address);
        gossip.gossip_advertise = address;
        gossip.seeds = config.seeds.clone();
        gossip.gossip_interval = config.gossip_interval;
        gossip.dead_after = config.dead_after;
        let membership = Membership::start(gossip, SiloStatus::Active)
            .await
            .map_err(|e| SiloError::Membership(e.to_string()))?;
        let settings = config.transport_settings();
        let router = Arc::new(Router::new(settings.clone(), ask_timeout, silo));
        let mut views = membership.subscribe();
        let first = Arc::clone(&views.borrow_and_update());
        router.set_directory(directory_of(&first));
        let follower = tokio::spawn(follow_views(views.clone(), Arc::downgrade(&router), first))
            .abort_handle();
        let inbound: Arc<dyn Inbound> = router.clone();
        let stop = CancellationToken::new();
        tokio::spawn(listen(listener, Arc::new(settings), inbound, stop.clone()));
        tracing::info!(silo = %config.node_name, %address, "silo listening");
        Ok(Self {
            router,
            address,
            views,
            membership: Mutex::new(Some(membership)),
            gossip_interval: config.gossip_interval,
            stop,
            follower,
        })
    }

    pub(crate) fn router(&self) -> &Arc<Router> {
        &self.router
    }

    /// The address other silos and clients reach this silo at.
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    /// This silo's current view of the cluster.
    pub(crate) fn view(&self) -> Arc<ClusterView> {
        Arc::clone(&self.views.borrow())
    }

    /// A receiver notified of every new view.
    pub(crate) fn views(&self) -> watch::Receiver<Arc<ClusterView>> {
        self.views.clone()
    }

    /// Announces that this silo is leaving: it stops owning grains in its own directory at once,
    /// and in the others' within a few gossip rounds, which this waits for.
    pub(crate) async fn start_leaving(&self) {
        let membership = self.lock().take();
        if let Some(membership) = &membership {
            membership.set_status(SiloStatus::Leaving).await;
            tokio::time::sleep(self.gossip_interval * 3).await;
        }
        *self.lock() = membership;
    }

    /// Leaves the membership and stops taking calls from other silos and clients.
    pub(crate) async fn leave(&self) {
        let membership = self.lock().take();
        if let Some(membership) = membership {
            membership.leave().await;
        }
        self.stop.cancel();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Membership>> {
        self.membership
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for ClusterNode {
    fn drop(&mut self) {
        self.follower.abort();
        self.stop.cancel();
    }
}

/// Rebuilds the router's directory from each new view: the active silos own the grains. Links
/// to silos that left the view are closed; a silo that is leaving still answers the calls it has.
async fn follow_views(
    mut views: watch::Receiver<Arc<ClusterView>>,
    router: Weak<Router>,
    mut previous: Arc<ClusterView>,
) {
    while views.changed().await.is_ok() {
        let view = Arc::clone(&views.borrow_and_update());
        let Some(router) = router.upgrade() else {
            return;
        };
        tracing::info!(silo = router.name(), %view, "cluster view changed");
        router.set_directory(directory_of(&view));
        for gone in previous
            .members
            .iter()
            .filter(|old| view.members.iter().all(|new| new.address != old.address))
        {
            router.forget(&gone.address);
        }
        previous = view;
    }
}

/// The directory over the active silos of `view`.
fn directory_of(view: &ClusterView) -> Directory {
    let members = view
        .active()
        .map(|silo| Member {
            name: silo.name.clone(),
            address: silo.address,
        })
        .collect();
    Directory::new(view.version, members)
}

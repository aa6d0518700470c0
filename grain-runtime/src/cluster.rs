//! Clustering: a silo that listens for calls from other silos and routes its own calls to the
//! grains' owners, by a [`Directory`] built from the cluster view.

mod config;
mod control;
mod directory;
mod handoff;
mod owners;
mod router;

pub use config::ClusterConfig;
use control::INCARNATIONS;
pub(crate) use control::{MARK_LOST, VIEW, cluster_request};
pub(crate) use directory::{Directory, Member};
pub(crate) use router::{Destination, FIRST_RETRY, MAX_RETRY_DELAY, RETRY_FOR, Router};

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Mutex, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::SiloError;
use crate::id::GrainId;
use crate::membership::{ClusterView, Incarnation, Membership, MembershipConfig, SiloStatus};
use crate::persistence::Storage;
use crate::persistence::custody::Custody;
use crate::silo::SiloShared;
use crate::transport::listener::{Inbound, listen};

/// The cluster side of one silo: its listener, its membership and its router.
pub(crate) struct ClusterNode {
    router: Arc<Router>,
    address: SocketAddr,
    views: watch::Receiver<Arc<ClusterView>>,
    /// Taken when the silo leaves the cluster.
    membership: Arc<Mutex<Option<Membership>>>,
    gossip_interval: Duration,
    dead_after: Duration,
    /// Stops the listener and closes the connections it accepted.
    stop: CancellationToken,
    follower: AbortHandle,
    publisher: AbortHandle,
}

impl ClusterNode {
    /// Binds the silo's listen address, starts accepting calls for `silo`, and joins the
    /// cluster's membership on the same port (UDP): as joining until it has heard from another
    /// silo (or, given seeds, waited `dead_after` for one), then as active.
    pub(crate) async fn start(
        config: &ClusterConfig,
        ask_timeout: Duration,
        silo: Weak<SiloShared>,
        storage: Option<Storage>,
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
        let settings = config.transport_settings();
        let router = Router::new(settings.clone(), ask_timeout, silo);
        let inbound: Arc<dyn Inbound> = router.clone();
        let stop = CancellationToken::new();
        tokio::spawn(listen(listener, Arc::new(settings), inbound, stop.clone()));
        // Until the silo is active, a failure to start also stops the listener.
        let listening = stop.clone().drop_guard();
        let membership = Membership::start(gossip, SiloStatus::Joining)
            .await
            .map_err(|e| SiloError::Membership(e.to_string()))?;
        if !config.seeds.is_empty() {
            let heard = membership
                .wait_for(|view| view.members.len() > 1, config.dead_after)
                .await;
            if heard.is_err() {
                tracing::warn!(silo = %config.node_name, "no other silo answered; starting a cluster alone");
            }
        }
        if let Some(custody) = storage.as_ref().and_then(|s| s.custody()) {
            let view = membership.view();
            let reported = incarnations_reported(&router, &view, &config.node_name).await;
            let claimed = claim_data_dir(&view, &reported, &config.node_name, custody.as_ref());
            if let Err(refused) = claimed.await {
                membership.set_status(SiloStatus::HandedOff).await;
                membership.leave().await;
                return Err(refused);
            }
        }
        membership.set_status(SiloStatus::Active).await;
        let name = config.node_name.as_str();
        let active = |view: &ClusterView| {
            view.get(name)
                .is_some_and(|me| me.status == SiloStatus::Active)
        };
        membership
            .wait_for(active, config.dead_after)
            .await
            .map_err(|e| SiloError::Membership(e.to_string()))?;
        let mut views = membership.subscribe();
        let first = Arc::clone(&views.borrow_and_update());
        router.handoff().follow(Arc::clone(&first));
        router.set_directory(directory_of(&first));
        let membership = Arc::new(Mutex::new(Some(membership)));
        let follower =
            tokio::spawn(follow_views(views.clone(), Arc::downgrade(&router))).abort_handle();
        let publisher = tokio::spawn(publish(
            router.handoff().published(),
            Arc::downgrade(&membership),
        ))
        .abort_handle();
        tracing::info!(silo = %config.node_name, %address, "silo active");
        let stop = listening.disarm();
        Ok(Self {
            router,
            address,
            views,
            membership,
            gossip_interval: config.gossip_interval,
            dead_after: config.dead_after,
            stop,
            follower,
            publisher,
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
        if let Some(membership) = &*self.membership.lock().await {
            membership.set_status(SiloStatus::Leaving).await;
        }
        tokio::time::sleep(self.gossip_interval * 3).await;
    }

    /// Hands the state of the grains this silo holds to their new owners, once it has no
    /// activations left, and says so in gossip. A silo that could not hand everything off
    /// leaves without saying it, so that the others treat its grains as held by a down silo.
    pub(crate) async fn hand_off(&self, storage: Option<Storage>) {
        let custody = storage
            .as_ref()
            .and_then(|storage| storage.custody().cloned());
        let failed = match custody {
            Some(custody) => self.router.handoff().push_all(&self.router, &custody).await,
            None => 0,
        };
        if failed > 0 {
            tracing::error!(
                failed,
                "leaving with grain state that could not be handed off"
            );
            return;
        }
        if let Some(membership) = &*self.membership.lock().await {
            membership.set_status(SiloStatus::HandedOff).await;
        }
        self.wait_until_seen_handed_off().await;
    }

    /// Waits (at most `dead_after`) until every other live member's view shows this silo as
    /// handed off, asking each for its view: a member that missed it would take this silo for
    /// crashed once it is gone, and make the whole cluster wait for it.
    async fn wait_until_seen_handed_off(&self) {
        let me = self.router.name().to_owned();
        let deadline = Instant::now() + self.dead_after;
        let view = self.view();
        let mut waiting: Vec<_> = view.members.iter().filter(|m| m.name != me).collect();
        let request = cluster_request();
        while !waiting.is_empty() && Instant::now() < deadline {
            let asks = waiting.iter().map(|member| {
                self.router
                    .control::<ClusterView>(member.address, &request, VIEW, &())
            });
            let views = futures::future::join_all(asks).await;
            waiting = waiting
                .into_iter()
                .zip(views)
                .filter(|(_, seen)| {
                    !seen.as_ref().is_ok_and(|seen| {
                        seen.get(&me)
                            .is_some_and(|silo| silo.status == SiloStatus::HandedOff)
                    })
                })
                .map(|(member, _)| member)
                .collect();
            if !waiting.is_empty() {
                tokio::time::sleep(self.gossip_interval).await;
            }
        }
        if !waiting.is_empty() {
            let names: Vec<&str> = waiting.iter().map(|m| m.name.as_str()).collect();
            tracing::warn!(
                ?names,
                "these silos had not seen this one hand off when it left"
            );
        }
    }

    /// Leaves the membership and stops taking calls from other silos and clients.
    pub(crate) async fn leave(&self) {
        let membership = self.membership.lock().await.take();
        if let Some(membership) = membership {
            membership.leave().await;
        }
        self.stop.cancel();
    }

    /// Gives up the state held by the down incarnations of silo `name`; see
    /// [`Silo::mark_lost`](crate::Silo::mark_lost).
    pub(crate) fn mark_lost(&self, name: &str) -> Vec<Incarnation> {
        self.router.handoff().mark_lost(name)
    }

    /// The incarnations that are down and may hold grain state.
    pub(crate) fn down(&self) -> Vec<Incarnation> {
        self.router.handoff().held()
    }
}

/// Asks every other member of `view` which incarnations of silo `name` may hold grain state.
/// Gossip alone would not say in time: a silo restarted right after a crash finds its previous
/// incarnation still active in the others' views, not yet down. A member that does not answer
/// is left out, with a warning.
async fn incarnations_reported(
    router: &Router,
    view: &ClusterView,
    name: &str,
) -> Vec<Incarnation> {
    let request = cluster_request();
    let asks = view.members.iter().filter(|m| m.name != name).map(|member| async {
        let answer = router
            .control::<Vec<Incarnation>>(member.address, &request, INCARNATIONS, name)
            .await;
        answer.unwrap_or_else(|reason| {
            tracing::warn!(silo = %member.name, %reason, "no answer about this silo's earlier incarnations");
            Vec::new()
        })
    });
    futures::future::join_all(asks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Checks that the data directory holds the state the cluster expects of silo `name`, then
/// records this incarnation in it. A directory from an incarnation an operator marked lost
/// holds state the cluster gave up; a down incarnation of this silo, or one that the members
/// `reported` as still holding state, holds state that only its own directory has. Either way,
/// starting would serve stale state or lose the held state.
async fn claim_data_dir(
    view: &ClusterView,
    reported: &[Incarnation],
    name: &str,
    custody: &dyn Custody,
) -> Result<(), SiloError> {
    let store = |e: crate::persistence::StoreError| SiloError::Membership(e.to_string());
    let previous = custody.incarnation().await.map_err(store)?;
    let previous = previous.map(|(name, generation)| Incarnation { name, generation });
    let mine = |incarnation: &&Incarnation| incarnation.name == name;
    let lost: Vec<&Incarnation> = view.members.iter().flat_map(|m| &m.lost).collect();
    if let Some(previous) = previous.as_ref().filter(|p| lost.contains(p)) {
        return Err(SiloError::Membership(format!(
            "this data directory belongs to {previous}, which an operator marked lost: the cluster gave up its state, so start silo {name} with an empty data directory"
        )));
    }
    let me = view.get(name).map(|me| me.generation).unwrap_or_default();
    let down = view
        .members
        .iter()
        .flat_map(|m| &m.down)
        .chain(reported)
        .filter(mine)
        .find(|down| {
            down.generation != me && !lost.contains(down) && previous.as_ref() != Some(*down)
        });
    if let Some(down) = down {
        let found = previous.map_or("no silo's state".to_string(), |p| {
            format!("the state of {p}")
        });
        return Err(SiloError::Membership(format!(
            "{down} is down holding grain state, and this data directory holds {found}: start silo {name} with the data directory of {down}, or mark it lost first"
        )));
    }
    custody.set_incarnation(name, me).await.map_err(store)
}

/// Publishes, each time it changes, which incarnations this silo considers down and which were
/// marked lost through it.
async fn publish(
    mut knowledge: watch::Receiver<handoff::Knowledge>,
    membership: Weak<Mutex<Option<Membership>>>,
) {
    while knowledge.changed().await.is_ok() {
        let (down, lost): (Vec<Incarnation>, Vec<Incarnation>) = {
            let known = knowledge.borrow_and_update();
            (
                known.down.iter().cloned().collect(),
                known.lost.iter().cloned().collect(),
            )
        };
        let Some(membership) = membership.upgrade() else {
            return;
        };
        if let Some(membership) = &*membership.lock().await {
            membership.set_custody(&down, &lost).await;
        }
    }
}

impl Drop for ClusterNode {
    fn drop(&mut self) {
        self.follower.abort();
        self.publisher.abort();
        self.stop.cancel();
    }
}

/// Rebuilds the router's directory from each new view: the active silos own the grains. The
/// handoff learns which silos are down first, so that no grain is placed on a new owner before
/// that owner knows its state may be held by a down silo.
/// Activations this silo no longer owns are deactivated once idle; links to silos that left the
/// view are closed; silos that vanished without handing off are published as down.
async fn follow_views(mut views: watch::Receiver<Arc<ClusterView>>, router: Weak<Router>) {
    while views.changed().await.is_ok() {
        let view = Arc::clone(&views.borrow_and_update());
        let Some(router) = router.upgrade() else {
            return;
        };
        tracing::info!(silo = router.name(), %view, "cluster view changed");
        let previous = router.handoff().follow(Arc::clone(&view));
        router.follow_view(&previous, &view);
        if let Some(silo) = router.silo() {
            let moved = |grain: &GrainId| !matches!(router.destination(grain), Destination::Here);
            for catalog in silo.catalogs() {
                catalog.evict(&moved);
            }
        }
    }
}

/// The directory over the active silos of `view`.
pub(crate) fn directory_of(view: &ClusterView) -> Directory {
    let members = view
        .active()
        .map(|silo| Member {
            name: silo.name.clone(),
            address: silo.address,
        })
        .collect();
    Directory::new(view.version, members)
}

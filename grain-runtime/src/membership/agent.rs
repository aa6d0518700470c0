//! [`MembershipAgent`]: the background loop that turns chitchat's state into [`ClusterView`]s.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chitchat::{Chitchat, ChitchatId, Heartbeat};
use tokio::sync::{Mutex, Notify, watch};
use tokio::time::{Instant, MissedTickBehavior};

use super::view::find;
use super::{ClusterView, SiloInfo, SiloStatus};

/// Rebuilds the view once per gossip round (chitchat updates liveness at the end of each round)
/// and whenever this silo changes its own status, and publishes it when it differs.
pub(super) struct MembershipAgent {
    chitchat: Arc<Mutex<Chitchat>>,
    view_tx: watch::Sender<Arc<ClusterView>>,
    refresh: Arc<Notify>,
    gossip_interval: Duration,
    dead_after: Duration,
    /// Per chitchat node: the last heartbeat seen and when it changed.
    heard: HashMap<ChitchatId, (Heartbeat, Instant)>,
}

impl MembershipAgent {
    pub(super) fn new(
        chitchat: Arc<Mutex<Chitchat>>,
        view_tx: watch::Sender<Arc<ClusterView>>,
        refresh: Arc<Notify>,
        gossip_interval: Duration,
        dead_after: Duration,
    ) -> Self {
        Self {
            chitchat,
            view_tx,
            refresh,
            gossip_interval,
            dead_after,
            heard: HashMap::new(),
        }
    }

    /// Runs until the task is aborted.
    pub(super) async fn run(mut self) {
        let mut tick = tokio::time::interval(self.gossip_interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = self.refresh.notified() => {}
            }
            let chitchat = Arc::clone(&self.chitchat);
            let members = self.live_members(&*chitchat.lock().await, Instant::now());
            self.publish(members);
        }
    }

    /// The members chitchat considers live, heard from within `dead_after`, that have published
    /// their keys; one per name, the newest generation.
    fn live_members(&mut self, chitchat: &Chitchat, now: Instant) -> Vec<SiloInfo> {
        let states = chitchat.node_states();
        self.heard.retain(|id, _| states.contains_key(id));
        for (id, state) in states {
            let heartbeat = state.heartbeat();
            let heard = self.heard.entry(id.clone()).or_insert((heartbeat, now));
            if heard.0 != heartbeat {
                *heard = (heartbeat, now);
            }
        }
        // The failure detector is tuned a little looser than `dead_after` (see `chitchat_config`);
        // this check removes a silent silo at `dead_after` whatever its heartbeat rate. Silence
        // is measured from the tick that noticed the last heartbeat, so removal comes at most
        // two gossip intervals after `dead_after`.
        let self_id = chitchat.self_chitchat_id();
        let heard_recently = |id: &ChitchatId| {
            id == self_id
                || self
                    .heard
                    .get(id)
                    .is_some_and(|&(_, at)| now.duration_since(at) < self.dead_after)
        };
        let mut newest: BTreeMap<&str, SiloInfo> = BTreeMap::new();
        for id in chitchat.live_nodes().filter(|id| heard_recently(id)) {
            let Some(silo) = states
                .get(id)
                .and_then(|state| SiloInfo::from_gossip(id, state))
            else {
                continue;
            };
            match newest.get(&*id.node_id) {
                Some(known) if known.generation >= silo.generation => {}
                _ => {
                    newest.insert(&*id.node_id, silo);
                }
            }
        }
        newest.into_values().collect()
    }

    /// Publishes `members` as the next view if they differ from the current one, logging what
    /// changed.
    fn publish(&self, members: Vec<SiloInfo>) {
        self.view_tx.send_if_modified(|view| {
            if view.members == members {
                return false;
            }
            log_changes(&view.members, &members);
            *view = Arc::new(ClusterView {
                version: view.version + 1,
                members,
            });
            true
        });
    }
}

/// Logs each join, restart, status change, departure and death between two member lists.
fn log_changes(before: &[SiloInfo], after: &[SiloInfo]) {
    for silo in after {
        match find(before, &silo.name) {
            None => {
                tracing::info!(silo = %silo.name, generation = silo.generation, address = %silo.address, status = %silo.status, "silo joined the cluster view")
            }
            Some(old) if old.generation != silo.generation => {
                tracing::info!(silo = %silo.name, old_generation = old.generation, generation = silo.generation, address = %silo.address, "silo restarted")
            }
            Some(old) if old.status != silo.status => {
                tracing::info!(silo = %silo.name, from = %old.status, to = %silo.status, "silo changed status")
            }
            Some(_) => {}
        }
    }
    for silo in before {
        if find(after, &silo.name).is_none() {
            if silo.status == SiloStatus::Leaving {
                tracing::info!(silo = %silo.name, generation = silo.generation, "silo left the cluster view");
            } else {
                tracing::warn!(silo = %silo.name, generation = silo.generation, "silo is dead: silent or failure detector tripped");
            }
        }
    }
}

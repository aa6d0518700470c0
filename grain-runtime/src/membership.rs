//! Cluster membership: which silos are up, where to reach them, and whether they take grains.
//!
//! Each silo runs a [`Membership`], which gossips with the others over UDP using
//! [chitchat](https://docs.rs/chitchat) (scuttlebutt reconciliation with a phi-accrual failure
//! detector). A silo publishes two keys about itself, its transport address and its
//! [`SiloStatus`], and reads everyone else's into a [`ClusterView`]: a versioned snapshot of the
//! live members, sorted by name, which the placement ring is rebuilt from.
//!
//! A silo is identified in gossip by its name *and* its generation (its start time), so a silo
//! that restarts under the same name is a new incarnation: the view shows only the newest one,
//! and the old one's state ages out of gossip on its own. A silo that crashes, or is cut off,
//! drops out of every other view once it has been silent for
//! [`dead_after`](MembershipConfig::dead_after). A silo shutting down says so first with
//! [`Membership::leave`], so the others see it as [`SiloStatus::Leaving`] before it goes.
//!
//! # Examples
//!
//! ```no_run
//! use std::time::Duration;
//! use grain_runtime::membership::{Membership, MembershipConfig, SiloStatus};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let first = MembershipConfig::new(
//!     "shop", "silo-a", "10.0.0.1:7946".parse()?, "10.0.0.1:7100".parse()?,
//! );
//! let a = Membership::start(first, SiloStatus::Active).await?;
//!
//! let mut second = MembershipConfig::new(
//!     "shop", "silo-b", "10.0.0.2:7946".parse()?, "10.0.0.2:7100".parse()?,
//! );
//! second.seeds = vec!["10.0.0.1:7946".to_owned()];
//! let b = Membership::start(second, SiloStatus::Joining).await?;
//! b.set_status(SiloStatus::Active).await;
//!
//! let view = a
//!     .wait_for(|view| view.active().count() == 2, Duration::from_secs(10))
//!     .await?;
//! assert_eq!(view.get("silo-b").map(|silo| silo.address), Some("10.0.0.2:7100".parse()?));
//!
//! b.leave().await; // a sees silo-b as Leaving, then not at all
//! # Ok(()) }
//! ```

mod agent;
mod config;
mod error;
mod view;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chitchat::transport::UdpTransport;
use chitchat::{ChitchatHandle, spawn_chitchat};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use agent::MembershipAgent;
pub use config::{DEFAULT_DEAD_AFTER, DEFAULT_GOSSIP_INTERVAL, MembershipConfig};
pub use error::MembershipError;
pub use view::{ClusterView, Incarnation, SiloInfo, SiloStatus};
use view::{DOWN_KEY, LOST_KEY, STATUS_KEY, TRANSPORT_KEY, incarnations_text};

/// Gossip rounds [`Membership::leave`] waits for its `Leaving` status to spread before it stops.
/// Gossip reaches every silo in a few rounds (each round contacts up to three peers).
const LEAVE_GOSSIP_ROUNDS: u32 = 5;

/// This silo's membership in the cluster: it gossips its own state and keeps the
/// [`ClusterView`] up to date.
///
/// Dropping it without [`leave`](Self::leave) stops gossip at once, like a crash: the others
/// drop this silo from their views after [`dead_after`](MembershipConfig::dead_after).
pub struct Membership {
    handle: ChitchatHandle,
    agent: AbortOnDrop,
    view_rx: watch::Receiver<Arc<ClusterView>>,
    refresh: Arc<Notify>,
    gossip_interval: Duration,
    /// The status this silo last published.
    status: std::sync::Mutex<SiloStatus>,
}

impl Membership {
    /// Joins the cluster: binds the gossip socket, publishes this silo's transport address and
    /// `status`, and starts contacting the seeds. Returns at once; the view holds only this silo
    /// until gossip brings in the others (see [`wait_for`](Self::wait_for)).
    ///
    /// # Errors
    ///
    /// [`MembershipError::BadConfig`] or [`MembershipError::InvalidSeed`] if `config` does not
    /// validate, [`MembershipError::Bind`] if the gossip address cannot be bound.
    pub async fn start(
        config: MembershipConfig,
        status: SiloStatus,
    ) -> Result<Membership, MembershipError> {
        config.validate()?;
        let generation = now_millis();
        let initial_keys = vec![
            (
                TRANSPORT_KEY.to_owned(),
                config.transport_address.to_string(),
            ),
            (STATUS_KEY.to_owned(), status.as_str().to_owned()),
        ];
        let handle = spawn_chitchat(
            config.chitchat_config(generation),
            initial_keys,
            &UdpTransport,
        )
        .await
        .map_err(|err| match err.downcast::<std::io::Error>() {
            Ok(source) => MembershipError::Bind {
                addr: config.gossip_listen,
                source,
            },
            Err(err) => MembershipError::Start {
                addr: config.gossip_listen,
                reason: format!("{err:#}"),
            },
        })?;
        let me = SiloInfo {
            name: config.node_name.clone(),
            generation,
            address: config.transport_address,
            status,
            down: Vec::new(),
            lost: Vec::new(),
        };
        tracing::info!(cluster = %config.cluster, silo = %me.name, generation, gossip = %config.gossip_advertise, address = %me.address, %status, "joining the cluster");
        let (view_tx, view_rx) = watch::channel(Arc::new(ClusterView {
            version: 0,
            members: vec![me],
        }));
        let refresh = Arc::new(Notify::new());
        let agent = MembershipAgent::new(
            handle.chitchat(),
            view_tx,
            Arc::clone(&refresh),
            config.gossip_interval,
            config.dead_after,
        );
        Ok(Membership {
            handle,
            agent: AbortOnDrop(tokio::spawn(agent.run())),
            view_rx,
            refresh,
            gossip_interval: config.gossip_interval,
            status: std::sync::Mutex::new(status),
        })
    }

    /// The current view. It starts at version 0 with only this silo.
    pub fn view(&self) -> Arc<ClusterView> {
        Arc::clone(&self.view_rx.borrow())
    }

    /// A receiver that is notified each time the view changes (each new version).
    pub fn subscribe(&self) -> watch::Receiver<Arc<ClusterView>> {
        self.view_rx.clone()
    }

    /// Publishes `status` for this silo. Its own view shows it at once; the others see it within
    /// a few gossip rounds.
    pub async fn set_status(&self, status: SiloStatus) {
        *self
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = status;
        self.handle
            .with_chitchat(|chitchat| chitchat.self_node_state().set(STATUS_KEY, status.as_str()))
            .await;
        tracing::info!(silo = %self.handle.chitchat_id().node_id, %status, "status set");
        self.refresh.notify_one();
    }

    /// Publishes the incarnations this silo considers down while holding grain state, and those
    /// an operator declared lost through it.
    pub async fn set_custody(&self, down: &[Incarnation], lost: &[Incarnation]) {
        let (down, lost) = (incarnations_text(down), incarnations_text(lost));
        self.handle
            .with_chitchat(|chitchat| {
                let state = chitchat.self_node_state();
                state.set(DOWN_KEY, down.clone());
                state.set(LOST_KEY, lost.clone());
            })
            .await;
        self.refresh.notify_one();
    }

    /// Leaves the cluster: advertises [`SiloStatus::Leaving`] (unless it already said
    /// [`SiloStatus::HandedOff`]), gossips for a few rounds so the
    /// others see it, then stops. The others drop this silo from their views once its silence
    /// reaches [`dead_after`](MembershipConfig::dead_after).
    pub async fn leave(self) {
        let handed_off = *self
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            == SiloStatus::HandedOff;
        if !handed_off {
            self.set_status(SiloStatus::Leaving).await;
        }
        tokio::time::sleep(self.gossip_interval * LEAVE_GOSSIP_ROUNDS).await;
        let Membership { handle, agent, .. } = self;
        drop(agent);
        let silo = handle.chitchat_id().node_id.clone();
        match handle.shutdown().await {
            Ok(()) => tracing::info!(%silo, "left the cluster"),
            Err(err) => {
                tracing::warn!(%silo, error = %format!("{err:#}"), "gossip server failed while leaving")
            }
        }
    }

    /// Waits until the view satisfies `pred`, and returns that view. Checks the current view
    /// first, so it returns at once if it already does.
    ///
    /// # Errors
    ///
    /// [`MembershipError::Timeout`], naming the last view, if no view satisfied `pred` within
    /// `timeout`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future only stops the wait.
    pub async fn wait_for(
        &self,
        pred: impl Fn(&ClusterView) -> bool,
        timeout: Duration,
    ) -> Result<Arc<ClusterView>, MembershipError> {
        let mut rx = self.view_rx.clone();
        match tokio::time::timeout(timeout, rx.wait_for(|view| pred(view))).await {
            Ok(Ok(view)) => Ok(Arc::clone(&view)),
            Ok(Err(_)) => Err(MembershipError::Stopped),
            Err(_) => Err(MembershipError::Timeout {
                waited: timeout,
                last: self.view_rx.borrow().to_string(),
            }),
        }
    }
}

/// The agent task, stopped when the [`Membership`] goes away.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Milliseconds since the Unix epoch: the generation of an incarnation started now.
fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

#[cfg(test)]
mod tests;

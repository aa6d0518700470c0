//! [`MembershipConfig`]: who this silo is, where it gossips, and how fast it gives up on peers.

use std::net::SocketAddr;
use std::time::Duration;

use chitchat::{ChitchatConfig, ChitchatId, FailureDetectorConfig, ProtocolVersion};

use super::MembershipError;

/// How often a silo gossips unless configured otherwise.
pub const DEFAULT_GOSSIP_INTERVAL: Duration = Duration::from_millis(150);

/// How long a silo may stay silent before the others drop it, unless configured otherwise.
pub const DEFAULT_DEAD_AFTER: Duration = Duration::from_secs(3);

/// Heartbeats seen per gossip round (about two), plus a margin: see `chitchat_config`.
const HEARTBEATS_PER_ROUND_MARGIN: f64 = 3.0;

/// Everything [`Membership::start`](super::Membership::start) needs to join a cluster.
#[derive(Debug, Clone)]
pub struct MembershipConfig {
    /// The cluster name. Gossip from a node of another cluster is refused, so two clusters
    /// sharing a network never merge.
    pub cluster: String,
    /// This silo's name: unique in the cluster and stable across restarts, because placement
    /// hashes it.
    pub node_name: String,
    /// The UDP address the gossip server binds.
    pub gossip_listen: SocketAddr,
    /// The UDP address other silos reach this one at (differs from `gossip_listen` behind NAT
    /// or when listening on `0.0.0.0`).
    pub gossip_advertise: SocketAddr,
    /// This silo's transport (TCP) address, published in gossip so others can call its grains.
    pub transport_address: SocketAddr,
    /// `host:port` gossip addresses of other silos to contact first. Host names are resolved
    /// again every minute, so a DNS name of a service works as a seed.
    pub seeds: Vec<String>,
    /// How often this silo starts a gossip round.
    pub gossip_interval: Duration,
    /// A silo not heard of for this long is out of the view.
    pub dead_after: Duration,
}

impl MembershipConfig {
    /// A config with no seeds, gossip advertised at `gossip_listen`, and the default
    /// [`gossip_interval`](Self::gossip_interval) and [`dead_after`](Self::dead_after).
    pub fn new(
        cluster: impl Into<String>,
        node_name: impl Into<String>,
        gossip_listen: SocketAddr,
        transport_address: SocketAddr,
    ) -> Self {
        Self {
            cluster: cluster.into(),
            node_name: node_name.into(),
            gossip_listen,
            gossip_advertise: gossip_listen,
            transport_address,
            seeds: Vec::new(),
            gossip_interval: DEFAULT_GOSSIP_INTERVAL,
            dead_after: DEFAULT_DEAD_AFTER,
        }
    }

    /// Checks every field, so that a bad value fails at start with its name instead of showing
    /// up later as a cluster that never converges.
    pub(super) fn validate(&self) -> Result<(), MembershipError> {
        let bad = |message: &str| Err(MembershipError::BadConfig(message.to_owned()));
        if self.cluster.is_empty() {
            return bad("cluster name is empty");
        }
        if self.node_name.is_empty() {
            return bad("node_name is empty");
        }
        if self.gossip_interval.is_zero() {
            return bad("gossip_interval must be non-zero");
        }
        if self.dead_after.is_zero() {
            return bad("dead_after must be non-zero");
        }
        if self.dead_after <= self.gossip_interval {
            return Err(MembershipError::BadConfig(format!(
                "dead_after must be > gossip_interval (dead_after {:?}, gossip_interval {:?})",
                self.dead_after, self.gossip_interval
            )));
        }
        self.seeds.iter().try_for_each(|seed| check_seed(seed))
    }

    /// The chitchat configuration for this silo's incarnation started at `generation`.
    pub(super) fn chitchat_config(&self, generation: u64) -> ChitchatConfig {
        let dead_after = self.dead_after;
        // chitchat's "phi" is the silence since a node's last heartbeat divided by the mean
        // interval between its heartbeats (smoothed towards `initial_interval`); the node is dead
        // once phi exceeds `phi_threshold`. Every exchange bumps a node's heartbeat and every
        // digest relays the latest ones, so a peer's heartbeat advances about twice per gossip
        // round (measured: a 45-60 ms mean at 100 ms rounds, with 2 to 6 silos). A threshold of
        // 3 * dead_after / gossip_interval puts the detector's verdict a little after
        // `dead_after`, so it never drops a silo sooner than configured; the agent's own
        // silence check removes a silent silo at `dead_after`. Intervals longer than
        // `dead_after` are a node coming back, not its rhythm, and are left out of the mean.
        let phi_threshold = HEARTBEATS_PER_ROUND_MARGIN * dead_after.as_secs_f64()
            / self.gossip_interval.as_secs_f64();
        // A dead incarnation's state is kept (and, for the first half, still gossiped) for ten
        // times `dead_after`, so every peer has marked it dead before anyone forgets it; a
        // restarted silo has a new generation and never waits for this.
        let forget_after = dead_after.saturating_mul(10);
        ChitchatConfig {
            chitchat_id: ChitchatId::new(
                self.node_name.as_str(),
                generation,
                self.gossip_advertise,
            ),
            cluster_id: self.cluster.clone(),
            gossip_interval: self.gossip_interval,
            listen_addr: self.gossip_listen,
            seed_nodes: self.seeds.clone(),
            failure_detector_config: FailureDetectorConfig {
                phi_threshold,
                max_interval: dead_after,
                initial_interval: self.gossip_interval,
                dead_node_grace_period: forget_after,
                ..FailureDetectorConfig::default()
            },
            // Tombstones of deleted keys; membership never deletes a key, so this only bounds
            // how long one would linger.
            marked_for_deletion_grace_period: forget_after,
            catchup_callback: None,
            // The view applies its own filter (published keys, newest generation).
            extra_liveness_predicate: None,
            // V0 is the format every chitchat version decodes; V1 only compresses the digest.
            protocol_version: ProtocolVersion::V0,
        }
    }
}

/// Checks that `seed` is `host:port` with a non-empty host and a valid port number.
fn check_seed(seed: &str) -> Result<(), MembershipError> {
    if seed.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    let invalid = |reason| {
        Err(MembershipError::InvalidSeed {
            seed: seed.to_owned(),
            reason,
        })
    };
    let Some((host, port)) = seed.rsplit_once(':') else {
        return invalid("expected host:port");
    };
    if host.is_empty() {
        return invalid("host is empty");
    }
    if !matches!(port.parse::<u16>(), Ok(port) if port != 0) {
        return invalid("port is not a number from 1 to 65535");
    }
    Ok(())
}

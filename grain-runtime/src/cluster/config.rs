//! [`ClusterConfig`]: how a silo joins a cluster.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::error::SiloError;
use crate::membership::{DEFAULT_DEAD_AFTER, DEFAULT_GOSSIP_INTERVAL};
use crate::transport::TransportSettings;
use crate::transport::frame::DEFAULT_MAX_FRAME;

/// How a silo takes part in a cluster: its name, where it listens, and whom it asks to join.
///
/// A silo listens on one port for both protocols: TCP for calls, UDP for membership gossip.
///
/// # Examples
///
/// ```
/// # use grain_runtime::ClusterConfig;
/// let config = ClusterConfig::new("silo-a")
///     .cluster("shop")
///     .listen("127.0.0.1:11111".parse().unwrap())
///     .join(["127.0.0.1:11112", "127.0.0.1:11113"]);
/// assert_eq!(config.seeds.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterConfig {
    /// The cluster's name: silos and clients of other clusters are refused (default `grain`).
    pub cluster: String,
    /// This silo's name, unique in the cluster and stable across restarts: placement is derived
    /// from it, so a silo that restarts under its name owns the same grains again.
    pub node_name: String,
    /// Where the silo listens (default `127.0.0.1:0`, a free port).
    pub listen: SocketAddr,
    /// The address other silos reach this one at, if not the listen address (for a silo
    /// listening on `0.0.0.0`, or behind NAT).
    pub advertise: Option<SocketAddr>,
    /// Addresses (`host:port`) of silos to join through; empty for the first silo.
    pub seeds: Vec<String>,
    /// How often membership gossip runs (default 150 ms).
    pub gossip_interval: Duration,
    /// How long a silo may stay silent before the others declare it dead (default 3 s).
    pub dead_after: Duration,
    /// The largest frame sent or accepted, in bytes (default 8 MiB).
    pub max_frame: usize,
    /// Connections kept to each peer silo (default 2).
    pub links_per_peer: usize,
}

impl ClusterConfig {
    /// The defaults for the silo named `node_name`.
    pub fn new(node_name: impl Into<String>) -> Self {
        Self {
            cluster: "grain".to_string(),
            node_name: node_name.into(),
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            advertise: None,
            seeds: Vec::new(),
            gossip_interval: DEFAULT_GOSSIP_INTERVAL,
            dead_after: DEFAULT_DEAD_AFTER,
            max_frame: DEFAULT_MAX_FRAME,
            links_per_peer: 2,
        }
    }

    /// Sets the cluster's name.
    pub fn cluster(mut self, name: impl Into<String>) -> Self {
        self.cluster = name.into();
        self
    }

    /// Sets the listen address.
    pub fn listen(mut self, address: SocketAddr) -> Self {
        self.listen = address;
        self
    }

    /// Sets the advertised address.
    pub fn advertise(mut self, address: SocketAddr) -> Self {
        self.advertise = Some(address);
        self
    }

    /// Sets the seed silos to join through.
    pub fn join<S: Into<String>>(mut self, seeds: impl IntoIterator<Item = S>) -> Self {
        self.seeds = seeds.into_iter().map(Into::into).collect();
        self
    }

    /// Sets how long a silent silo has before it is declared dead.
    pub fn dead_after(mut self, after: Duration) -> Self {
        self.dead_after = after;
        self
    }

    /// Sets how often gossip runs.
    pub fn gossip_interval(mut self, every: Duration) -> Self {
        self.gossip_interval = every;
        self
    }

    /// Sets the frame size limit.
    pub fn max_frame(mut self, bytes: usize) -> Self {
        self.max_frame = bytes;
        self
    }

    /// Checks the settings that do not need the network.
    pub(crate) fn validate(&self) -> Result<(), SiloError> {
        let invalid = |setting, reason: &str| {
            Err(SiloError::InvalidConfig {
                setting,
                reason: reason.to_string(),
            })
        };
        if self.node_name.trim().is_empty() {
            return invalid("node_name", "must not be empty");
        }
        if self.cluster.trim().is_empty() {
            return invalid("cluster", "must not be empty");
        }
        if self.gossip_interval.is_zero() {
            return invalid("gossip_interval", "must be greater than zero");
        }
        if self.dead_after <= self.gossip_interval {
            return invalid("dead_after", "must be longer than gossip_interval");
        }
        if self.max_frame < 1024 {
            return invalid("max_frame", "must be at least 1024 bytes");
        }
        if self.links_per_peer == 0 {
            return invalid("links_per_peer", "must be at least 1");
        }
        Ok(())
    }

    /// The transport settings of a silo with this configuration.
    pub(crate) fn transport_settings(&self) -> TransportSettings {
        let mut settings = TransportSettings::new(&self.cluster, &self.node_name);
        settings.max_frame = self.max_frame;
        settings.links_per_peer = self.links_per_peer;
        settings
    }

    /// The address to advertise, given the address actually bound.
    pub(crate) fn advertised(&self, bound: SocketAddr) -> Result<SocketAddr, SiloError> {
        match self.advertise {
            Some(address) => Ok(address),
            None if bound.ip().is_unspecified() => Err(SiloError::InvalidConfig {
                setting: "advertise",
                reason: format!(
                    "the silo listens on {bound}, which other silos cannot connect to; set the advertised address"
                ),
            }),
            None => Ok(bound),
        }
    }
}

//! [`ClusterView`]: the members this silo believes in, and how each is read from gossip.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use chitchat::{ChitchatId, NodeState};
use serde::{Deserialize, Serialize};

/// The gossip key holding a silo's transport address.
pub(super) const TRANSPORT_KEY: &str = "silo.transport";
/// The gossip key holding a silo's [`SiloStatus`].
pub(super) const STATUS_KEY: &str = "silo.status";
/// The gossip key listing the incarnations a silo considers down while holding grain state.
pub(super) const DOWN_KEY: &str = "silo.down";
/// The gossip key listing the incarnations an operator marked lost through this silo.
pub(super) const LOST_KEY: &str = "silo.lost";

/// The lifecycle stage a silo advertises about itself in gossip.
///
/// Placement only assigns new grains to [`Active`](Self::Active) silos; the others are still
/// members, reachable for calls to grains they already host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SiloStatus {
    /// Started, but not yet ready to host grains (recovering state, warming caches).
    Joining,
    /// Ready to host grains.
    Active,
    /// Shutting down: finishing its work and handing grains off; about to stop.
    Leaving,
    /// Has handed the state of its grains to their new owners and stops now: when it is gone
    /// from the view, nothing is left behind with it.
    HandedOff,
}

impl SiloStatus {
    /// The form published in gossip.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Joining => "joining",
            Self::Active => "active",
            Self::Leaving => "leaving",
            Self::HandedOff => "handed-off",
        }
    }
}

impl fmt::Display for SiloStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SiloStatus {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "joining" => Ok(Self::Joining),
            "active" => Ok(Self::Active),
            "leaving" => Ok(Self::Leaving),
            "handed-off" => Ok(Self::HandedOff),
            _ => Err(()),
        }
    }
}

/// One member of the cluster as seen in a [`ClusterView`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiloInfo {
    /// The silo's name: unique in the cluster, stable across restarts.
    pub name: String,
    /// When this incarnation started, in milliseconds since the Unix epoch. A restarted silo has
    /// a newer generation, which is how the view tells it from its previous life.
    pub generation: u64,
    /// The silo's advertised transport (TCP) address.
    pub address: SocketAddr,
    /// What the silo last said about itself.
    pub status: SiloStatus,
    /// Incarnations of other silos this one saw vanish without handing off their grains' state.
    #[serde(default)]
    pub down: Vec<Incarnation>,
    /// Incarnations an operator declared lost through this silo: their state is given up.
    #[serde(default)]
    pub lost: Vec<Incarnation>,
}

impl SiloInfo {
    /// This member's incarnation.
    pub fn incarnation(&self) -> Incarnation {
        Incarnation {
            name: self.name.clone(),
            generation: self.generation,
        }
    }
}

/// One life of a silo: its name and the generation it started with. Written `name@generation`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Incarnation {
    /// The silo's name.
    pub name: String,
    /// The generation of that life (see [`SiloInfo::generation`]).
    pub generation: u64,
}

impl fmt::Display for Incarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.generation)
    }
}

impl FromStr for Incarnation {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let (name, generation) = s.rsplit_once('@').ok_or(())?;
        Ok(Self {
            name: name.to_owned(),
            generation: generation.parse().map_err(|_| ())?,
        })
    }
}

/// The gossip form of a list of incarnations: `a@1,b@2`.
pub(super) fn incarnations_text(list: &[Incarnation]) -> String {
    let texts: Vec<String> = list.iter().map(Incarnation::to_string).collect();
    texts.join(",")
}

/// Reads a gossiped list of incarnations, skipping entries this build cannot read.
fn parse_incarnations(text: Option<&str>) -> Vec<Incarnation> {
    let mut list: Vec<Incarnation> = text
        .unwrap_or_default()
        .split(',')
        .filter_map(|entry| entry.parse().ok())
        .collect();
    list.sort();
    list
}

impl SiloInfo {
    /// Reads the silo behind a chitchat node, or `None` while it has not published both keys
    /// (or published values this build cannot read).
    pub(super) fn from_gossip(id: &ChitchatId, state: &NodeState) -> Option<Self> {
        Some(Self {
            name: id.node_id.to_string(),
            generation: id.generation_id,
            address: state.get(TRANSPORT_KEY)?.parse().ok()?,
            status: state.get(STATUS_KEY)?.parse().ok()?,
            down: parse_incarnations(state.get(DOWN_KEY)),
            lost: parse_incarnations(state.get(LOST_KEY)),
        })
    }
}

/// The membership list this silo currently believes in: an immutable, versioned snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterView {
    /// Increases by one every time this silo's view of live members or their status changes,
    /// so a consumer (the placement ring) can tell whether it must rebuild. Versions are local
    /// to each silo: two silos with the same members may have different versions.
    pub version: u64,
    /// Live members, this silo included, sorted by name, one entry per name.
    pub members: Vec<SiloInfo>,
}

impl ClusterView {
    /// The members that may take new grains.
    pub fn active(&self) -> impl Iterator<Item = &SiloInfo> {
        self.members
            .iter()
            .filter(|silo| silo.status == SiloStatus::Active)
    }

    /// The member named `name`, if it is live.
    pub fn get(&self, name: &str) -> Option<&SiloInfo> {
        find(&self.members, name)
    }
}

/// The silo named `name` in `members`, which are sorted by name.
pub(super) fn find<'a>(members: &'a [SiloInfo], name: &str) -> Option<&'a SiloInfo> {
    members
        .binary_search_by(|silo| silo.name.as_str().cmp(name))
        .ok()
        .and_then(|at| members.get(at))
}

impl fmt::Display for ClusterView {
    /// `v3 [a(active), b(leaving)]`: short enough for a log line or an error message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{} [", self.version)?;
        for (i, silo) in self.members.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{}({})", silo.name, silo.status)?;
        }
        f.write_str("]")
    }
}

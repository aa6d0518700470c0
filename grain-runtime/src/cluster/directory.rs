//! [`Directory`]: who owns each grain under one cluster view.

use std::net::SocketAddr;

use crate::id::GrainId;
use crate::placement::{Ring, grain_point};

/// A silo that can own grains, as placement sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) address: SocketAddr,
}

/// The owner of every grain under one version of the cluster view: a ring over its active silos.
#[derive(Debug)]
pub(crate) struct Directory {
    version: u64,
    ring: Ring<Member>,
}

impl Directory {
    /// The directory over `members` at view `version`; members are placed in name order, the
    /// same on every silo.
    pub(crate) fn new(version: u64, mut members: Vec<Member>) -> Self {
        members.sort_by(|a, b| a.name.cmp(&b.name));
        members.dedup_by(|a, b| a.name == b.name);
        Self {
            version,
            ring: Ring::new(members.into_iter().map(|m| (m.name.clone(), m))),
        }
    }

    /// A directory with no silo: every grain is unplaced.
    pub(crate) fn empty() -> Self {
        Self::new(0, Vec::new())
    }

    /// The view version this directory was built from.
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    /// Whether `other` places grains on the same silos as this directory, whatever its version.
    pub(crate) fn same_owners(&self, other: &Directory) -> bool {
        self.ring.members() == other.ring.members()
    }

    /// The ring position of `grain` and the silo owning it, `None` while no silo is active.
    pub(crate) fn place(&self, grain: &GrainId) -> (u64, Option<&Member>) {
        let point = grain_point(grain);
        (point, self.ring.owner_of_point(point))
    }
}

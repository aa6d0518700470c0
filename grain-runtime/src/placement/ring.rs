//! [`Ring`]: the consistent-hash ring with virtual nodes that maps a grain id to its owner.
//!
//! Every silo and every client builds the same ring from the same members, so they agree on the
//! owner of each grain without asking anyone. Two things make that hold across processes and
//! builds: points and grain ids are hashed from explicit bytes ([`grain_point`], [`silo_points`])
//! with xxh3, whose output is fixed by its specification, and a silo's points depend only on its
//! name, so a silo that restarts under the same name owns the same ranges again (its embedded
//! store holds their journals).

use xxhash_rust::xxh3::xxh3_64;

use crate::id::{GrainId, GrainKey};

/// Virtual nodes per silo: enough that three silos each own a third of the grains within a few
/// percent.
pub const VIRTUAL_NODES: u16 = 256;

/// A consistent-hash ring over members of type `M`, each placed at [`VIRTUAL_NODES`] points.
#[derive(Debug, Clone)]
pub struct Ring<M> {
    /// `(point, index into members)`, sorted by point.
    points: Vec<(u64, usize)>,
    members: Vec<M>,
}

impl<M> Ring<M> {
    /// A ring over `members`, each given with its name.
    pub fn new<N: AsRef<str>>(members: impl IntoIterator<Item = (N, M)>) -> Self {
        let mut points = Vec::new();
        let mut kept = Vec::new();
        for (index, (name, member)) in members.into_iter().enumerate() {
            points.extend(silo_points(name.as_ref()).map(|point| (point, index)));
            kept.push(member);
        }
        // Ties between two silos' points go to the lower index, the same on every silo as long
        // as members come in the same order (callers sort them by name).
        points.sort_unstable();
        Self {
            points,
            members: kept,
        }
    }

    /// The member owning `grain`: the first point at or after the grain's hash, wrapping around.
    /// `None` only for an empty ring.
    pub fn owner(&self, grain: &GrainId) -> Option<&M> {
        self.owner_of_point(grain_point(grain))
    }

    /// The member owning ring position `hash`, as computed by [`grain_point`].
    pub fn owner_of_point(&self, hash: u64) -> Option<&M> {
        let at = self.points.partition_point(|&(point, _)| point < hash);
        let (_, index) = self.points.get(at).or_else(|| self.points.first())?;
        self.members.get(*index)
    }

    /// The members, in the order given.
    pub fn members(&self) -> &[M] {
        &self.members
    }
}

/// The ring position of a grain: xxh3 over its kind, a separator, a key tag and the key's bytes.
pub fn grain_point(grain: &GrainId) -> u64 {
    let kind = grain.kind.as_str().as_bytes();
    let mut bytes = Vec::with_capacity(kind.len() + 18);
    bytes.extend_from_slice(kind);
    bytes.push(0);
    match &grain.key {
        GrainKey::Str(s) => {
            bytes.push(b's');
            bytes.extend_from_slice(s.as_bytes());
        }
        GrainKey::Int(n) => {
            bytes.push(b'i');
            bytes.extend_from_slice(&n.to_be_bytes());
        }
        GrainKey::Uuid(u) => {
            bytes.push(b'u');
            bytes.extend_from_slice(u.as_bytes());
        }
    }
    xxh3_64(&bytes)
}

/// The ring positions of the silo named `name`: xxh3 over the name, a separator and the virtual
/// node's index.
fn silo_points(name: &str) -> impl Iterator<Item = u64> + '_ {
    (0..VIRTUAL_NODES).map(move |index| {
        let mut bytes = Vec::with_capacity(name.len() + 3);
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(&index.to_be_bytes());
        xxh3_64(&bytes)
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::id::GrainKind;

    fn counter(key: u64) -> GrainId {
        GrainId::new(GrainKind::from_static("Counter"), key)
    }

    /// The hash is part of the cluster protocol: a change here would make silos of two builds
    /// disagree on owners. The values were checked against Python's `xxhash` package.
    #[test]
    fn grain_points_are_fixed() {
        assert_eq!(grain_point(&counter(42)), 0x55ba_8e75_baa4_36ad);
        assert_eq!(
            grain_point(&GrainId::new(GrainKind::from_static("Account"), "alice")),
            0xf9d2_8793_bf2e_d458
        );
    }

    #[test]
    fn three_silos_each_own_about_a_third() {
        let ring = Ring::new(["silo-a", "silo-b", "silo-c"].map(|n| (n, n)));
        let mut owned: HashMap<&str, usize> = HashMap::new();
        for key in 0..30_000 {
            *owned.entry(ring.owner(&counter(key)).unwrap()).or_default() += 1;
        }
        for (silo, n) in owned {
            assert!((8_500..11_500).contains(&n), "{silo} owns {n} of 30000");
        }
    }

    #[test]
    fn a_new_silo_takes_grains_only_from_the_others() {
        let three = Ring::new(["a", "b", "c"].map(|n| (n, n)));
        let four = Ring::new(["a", "b", "c", "d"].map(|n| (n, n)));
        let mut moved = 0;
        for key in 0..10_000 {
            let (before, after) = (three.owner(&counter(key)), four.owner(&counter(key)));
            if before != after {
                assert_eq!(after, Some(&"d"), "grain {key} moved between old silos");
                moved += 1;
            }
        }
        assert!((1_800..3_200).contains(&moved), "{moved} of 10000 moved");
    }

    #[test]
    fn an_empty_ring_has_no_owner() {
        let ring: Ring<&str> = Ring::new(Vec::<(&str, &str)>::new());
        assert!(ring.owner(&counter(1)).is_none());
    }
}

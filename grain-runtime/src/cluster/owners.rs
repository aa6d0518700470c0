//! [`Owners`]: the owners a caller learned from forwarded calls, so that a grain's next calls go
//! straight to its owner rather than through the silo the caller's own view names.
//!
//! A caller whose view lags behind the cluster's sends a call to a silo that no longer owns the
//! grain; that silo forwards it, and its reply names the owner. An entry is only a first hop: the
//! silo it names still routes by its own view, forwarding the call again if it no longer owns the
//! grain (its reply then names the newer owner). An entry is dropped when a call sent by it is
//! refused or finds its silo unavailable, and every entry when the caller's view changes owners.

use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;

use super::directory::Member;
use crate::id::GrainId;

/// Entries kept at most: a caller whose view lags while it calls more grains than this sends
/// the rest through their forwarding silos, as it would without the cache.
pub(crate) const CAPACITY: usize = 65_536;

/// Learned owners by grain.
#[derive(Debug, Default)]
pub(crate) struct Owners {
    entries: DashMap<GrainId, Member>,
    /// About `entries.len()`, read without locking a shard: calls skip the map while it is 0.
    len: AtomicUsize,
}

impl Owners {
    /// The owner learned for `grain`, if any.
    pub(crate) fn get(&self, grain: &GrainId) -> Option<Member> {
        if self.len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        self.entries.get(grain).map(|owner| owner.clone())
    }

    /// Remembers that `owner` owns `grain`, unless the cache is full.
    pub(crate) fn learn(&self, grain: GrainId, owner: Member) {
        if self.len.load(Ordering::Relaxed) >= CAPACITY && !self.entries.contains_key(&grain) {
            return;
        }
        if self.entries.insert(grain, owner).is_none() {
            self.len.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Drops what was learned about `grain`.
    pub(crate) fn forget(&self, grain: &GrainId) {
        if self.len.load(Ordering::Relaxed) > 0 && self.entries.remove(grain).is_some() {
            self.shrunk();
        }
    }

    /// Drops every entry.
    pub(crate) fn clear(&self) {
        if self.len.swap(0, Ordering::Relaxed) > 0 {
            self.entries.clear();
        }
    }

    /// The number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Counts one entry fewer; a [`clear`](Self::clear) racing the removal may already have.
    fn shrunk(&self) {
        let _ = self
            .len
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::GrainKind;

    fn grain(key: u64) -> GrainId {
        GrainId::new(GrainKind::from_static("Counter"), key)
    }

    fn silo(name: &str) -> Member {
        Member {
            name: name.to_string(),
            address: "127.0.0.1:9".parse().unwrap(),
        }
    }

    #[test]
    fn learned_owners_are_found_until_forgotten_or_cleared() {
        let owners = Owners::default();
        assert_eq!(owners.get(&grain(1)), None);
        owners.learn(grain(1), silo("a"));
        owners.learn(grain(2), silo("b"));
        owners.learn(grain(1), silo("c"));
        assert_eq!(owners.len(), 2);
        assert_eq!(owners.get(&grain(1)), Some(silo("c")));
        owners.forget(&grain(1));
        assert_eq!(owners.get(&grain(1)), None);
        assert_eq!(owners.get(&grain(2)), Some(silo("b")));
        owners.clear();
        assert_eq!(owners.len(), 0);
        assert_eq!(owners.get(&grain(2)), None);
        owners.forget(&grain(2));
        assert_eq!(owners.len(), 0);
    }

    #[test]
    fn a_full_cache_still_updates_the_owners_it_holds() {
        let owners = Owners::default();
        for key in 0..CAPACITY as u64 {
            owners.learn(grain(key), silo("a"));
        }
        owners.learn(grain(u64::MAX), silo("a"));
        assert_eq!(owners.get(&grain(u64::MAX)), None);
        owners.learn(grain(7), silo("b"));
        assert_eq!(owners.get(&grain(7)), Some(silo("b")));
        assert_eq!(owners.len(), CAPACITY);
    }
}

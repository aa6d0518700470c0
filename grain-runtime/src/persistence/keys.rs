//! The byte keys the embedded stores use: a grain prefix that sorts each grain's records
//! together, followed by the big-endian sequence number so that key order is sequence order.
//!
//! ```text
//! journal tree:   prefix 0x00          -> last sequence number (the head)
//!                 prefix 0x01 seq:u64  -> event
//! snapshot tree:  prefix 0x00          -> sequence number of the latest snapshot
//!                 prefix 0x01 seq:u64  -> snapshot
//!                 prefix 0x02          -> the silo the grain's state was lent to (custody)
//! prefix = kind_len:u16 kind key_tag:u8 key_bytes   (string keys: len:u32 bytes)
//! ```
//!
//! The head and latest-snapshot records let readers find a grain's records with point lookups,
//! which every engine does fast, instead of ordered scans.

use crate::id::{GrainId, GrainKey, GrainKind};

const HEAD: u8 = 0x00;
const EVENT: u8 = 0x01;
const CUSTODY: u8 = 0x02;

/// The keys of one grain's records.
#[derive(Debug, Clone)]
pub(crate) struct GrainKeys {
    prefix: Vec<u8>,
}

impl GrainKeys {
    pub(crate) fn new(id: &GrainId) -> Self {
        let kind = id.kind.as_str().as_bytes();
        let mut prefix = Vec::with_capacity(2 + kind.len() + 1 + 20);
        let kind_len = u16::try_from(kind.len()).unwrap_or(u16::MAX);
        prefix.extend_from_slice(&kind_len.to_be_bytes());
        prefix.extend_from_slice(&kind[..usize::from(kind_len)]);
        match &id.key {
            GrainKey::Str(s) => {
                prefix.push(0);
                let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
                prefix.extend_from_slice(&len.to_be_bytes());
                prefix.extend_from_slice(s.as_bytes());
            }
            GrainKey::Int(n) => {
                prefix.push(1);
                prefix.extend_from_slice(&n.to_be_bytes());
            }
            GrainKey::Uuid(u) => {
                prefix.push(2);
                prefix.extend_from_slice(u.as_bytes());
            }
        }
        Self { prefix }
    }

    /// The key of the grain's journal head.
    pub(crate) fn head(&self) -> Vec<u8> {
        let mut key = self.prefix.clone();
        key.push(HEAD);
        key
    }

    /// The key of journal entry `seq`.
    pub(crate) fn event(&self, seq: u64) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.prefix.len() + 9);
        key.extend_from_slice(&self.prefix);
        key.push(EVENT);
        key.extend_from_slice(&seq.to_be_bytes());
        key
    }

    /// The end (exclusive) of the grain's journal entries.
    pub(crate) fn events_end(&self) -> Vec<u8> {
        let mut key = self.prefix.clone();
        key.push(EVENT + 1);
        key
    }

    /// The key of the record naming the grain's latest snapshot.
    pub(crate) fn latest_snapshot(&self) -> Vec<u8> {
        self.head()
    }

    /// The key of the snapshot taken at `seq`.
    pub(crate) fn snapshot(&self, seq: u64) -> Vec<u8> {
        self.event(seq)
    }

    /// The key of the record saying which silo the grain's state was lent to.
    pub(crate) fn custody(&self) -> Vec<u8> {
        let mut key = self.prefix.clone();
        key.push(CUSTODY);
        key
    }

    /// The grain whose journal head is stored under `key`, or `None` for any other key.
    pub(crate) fn grain_of_head(key: &[u8]) -> Option<GrainId> {
        let (kind_len, rest) = key.split_first_chunk::<2>()?;
        let kind_len = usize::from(u16::from_be_bytes(*kind_len));
        let kind = std::str::from_utf8(rest.get(..kind_len)?).ok()?;
        let (tag, rest) = rest.get(kind_len..)?.split_first()?;
        let (grain_key, rest) = match tag {
            0 => {
                let (len, rest) = rest.split_first_chunk::<4>()?;
                let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
                let text = std::str::from_utf8(rest.get(..len)?).ok()?;
                (GrainKey::Str(text.into()), rest.get(len..)?)
            }
            1 => {
                let (n, rest) = rest.split_first_chunk::<8>()?;
                (GrainKey::Int(u64::from_be_bytes(*n)), rest)
            }
            2 => {
                let (u, rest) = rest.split_first_chunk::<16>()?;
                (GrainKey::Uuid(uuid::Uuid::from_bytes(*u)), rest)
            }
            _ => return None,
        };
        (rest == [HEAD]).then(|| GrainId::new(GrainKind::from(kind.to_owned()), grain_key))
    }

    /// The sequence number in a journal entry key, if the key is one of this grain's.
    pub(crate) fn event_seq(&self, key: &[u8]) -> Option<u64> {
        let rest = key.strip_prefix(self.prefix.as_slice())?;
        let rest = rest.strip_prefix(&[EVENT])?;
        Some(u64::from_be_bytes(rest.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::GrainKind;

    fn keys(kind: &'static str, key: impl Into<GrainKey>) -> GrainKeys {
        GrainKeys::new(&GrainId::new(GrainKind::from_static(kind), key.into()))
    }

    #[test]
    fn grains_never_share_a_key_range() {
        let a = keys("A", "x");
        let ax = keys("A", "xy");
        assert!(a.events_end() <= ax.head() || ax.events_end() <= a.head());
        assert!(keys("A", 7u64).head() != keys("A", "7").head());
        assert!(a.event(1) < a.event(256) && a.event(256) < a.events_end());
        assert_eq!(a.event_seq(&a.event(42)), Some(42));
        assert_eq!(ax.event_seq(&a.event(42)), None);
    }

    #[test]
    fn a_head_key_names_its_grain() {
        let ids = [
            GrainId::new(GrainKind::from_static("A"), "x y"),
            GrainId::new(GrainKind::from_static("Bee"), 7u64),
            GrainId::new(GrainKind::from_static("C"), uuid::Uuid::from_u128(9)),
        ];
        for id in ids {
            let keys = GrainKeys::new(&id);
            assert_eq!(GrainKeys::grain_of_head(&keys.head()), Some(id));
            assert_eq!(GrainKeys::grain_of_head(&keys.event(1)), None);
            assert_eq!(GrainKeys::grain_of_head(&keys.custody()), None);
        }
    }
}

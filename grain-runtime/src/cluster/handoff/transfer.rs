//! Grain state crossing between silos in [`Piece`]s, so that a grain whose journal and
//! snapshots are larger than one transport frame still follows its ownership.
//!
//! The sender encodes the whole [`GrainState`] once. A lender keeps the encoding of the state
//! it lent until the borrower has read every piece (`$piece`) and released it; a leaving silo
//! pushes the pieces one by one (`$accept`), and the receiver imports the state only once the
//! last piece is in. Every piece carries the length and checksum of the whole encoding, so
//! pieces of two different encodings are never joined.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::call::Fault;
use crate::cluster::Router;
use crate::cluster::control::PIECE;
use crate::id::GrainId;
use crate::persistence::custody::GrainState;
use crate::transport::wire;

/// The most bytes of state in one piece; smaller if the transport's frames are.
const MAX_PIECE: usize = 1 << 20;

/// A transfer nobody has touched for this long is abandoned and its bytes dropped.
const ABANDONED_AFTER: Duration = Duration::from_secs(120);

/// One part of an encoded [`GrainState`].
#[derive(Serialize, Deserialize)]
pub(crate) struct Piece {
    /// The length of the whole encoding.
    total: u64,
    /// The CRC32 of the whole encoding.
    crc: u32,
    /// Where `bytes` start in it.
    offset: u64,
    bytes: Vec<u8>,
}

impl fmt::Debug for Piece {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "piece of {} bytes at {} of {}",
            self.bytes.len(),
            self.offset,
            self.total
        )
    }
}

impl Piece {
    fn end(&self) -> u64 {
        self.offset + self.bytes.len() as u64
    }

    fn is_last(&self) -> bool {
        self.end() >= self.total
    }
}

/// An encoded state, whole (being sent) or growing (being received).
struct Staged {
    total: u64,
    crc: u32,
    bytes: Vec<u8>,
    touched: Instant,
}

impl Staged {
    /// A whole encoding, kept to be read in pieces.
    fn whole(bytes: Vec<u8>, crc: u32) -> Self {
        Self {
            total: bytes.len() as u64,
            crc,
            bytes,
            touched: Instant::now(),
        }
    }

    /// An empty encoding of the state that `first` begins; pieces go in with [`add`](Self::add).
    fn begun_by(first: &Piece) -> Self {
        let capacity = usize::try_from(first.total).unwrap_or(0).min(1 << 30);
        Self {
            total: first.total,
            crc: first.crc,
            bytes: Vec::with_capacity(capacity),
            touched: Instant::now(),
        }
    }

    /// Adds `piece`, which must continue this encoding where it ends; returns whether the
    /// encoding is complete.
    fn add(&mut self, grain: &GrainId, piece: &Piece) -> Result<bool, Fault> {
        let follows = piece.crc == self.crc
            && piece.total == self.total
            && piece.offset == self.bytes.len() as u64;
        if !follows {
            return Err(rejected(
                grain,
                format!(
                    "{piece:?} does not follow the {} bytes received",
                    self.bytes.len()
                ),
            ));
        }
        self.bytes.extend_from_slice(&piece.bytes);
        self.touched = Instant::now();
        Ok(piece.is_last())
    }

    /// The state, once every piece is in and they match their checksum.
    fn decode(&self, grain: &GrainId) -> Result<GrainState, Fault> {
        if crc32fast::hash(&self.bytes) != self.crc {
            return Err(rejected(grain, "its pieces do not match their checksum"));
        }
        wire::decode_whole(&self.bytes).map_err(|e| rejected(grain, e))
    }
}

/// The states this silo is sending and receiving in pieces, by grain.
#[derive(Default)]
pub(crate) struct Transfers {
    /// States this silo lent, kept until the borrower has read them.
    lent: DashMap<GrainId, Staged>,
    /// States being pushed to this silo, as far as they have arrived.
    arriving: DashMap<GrainId, Staged>,
}

/// How many bytes of state go in one piece between silos whose frames are at most `max_frame`.
pub(crate) fn piece_size(max_frame: usize) -> usize {
    (max_frame / 2).clamp(1024, MAX_PIECE)
}

fn rejected(grain: &GrainId, error: impl fmt::Display) -> Fault {
    Fault::Rejected(format!("the state of {grain} cannot be moved: {error}"))
}

/// Encodes `state` for sending, with its checksum.
fn encode(grain: &GrainId, state: &GrainState) -> Result<(Vec<u8>, u32), Fault> {
    let mut bytes = Vec::new();
    wire::encode_into(state, &mut bytes).map_err(|e| rejected(grain, e))?;
    let crc = crc32fast::hash(&bytes);
    Ok((bytes, crc))
}

/// The piece of `bytes` at `offset`.
fn cut(bytes: &[u8], crc: u32, offset: u64, size: usize) -> Piece {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let end = start.saturating_add(size).min(bytes.len());
    Piece {
        total: bytes.len() as u64,
        crc,
        offset: start as u64,
        bytes: bytes[start..end].to_vec(),
    }
}

impl Transfers {
    /// The first piece of `state`, which this silo has just lent; the rest are kept for
    /// [`lent_piece`](Self::lent_piece) if there are more.
    pub(crate) fn lend(
        &self,
        grain: &GrainId,
        state: &GrainState,
        size: usize,
    ) -> Result<Piece, Fault> {
        let (bytes, crc) = encode(grain, state)?;
        let first = cut(&bytes, crc, 0, size);
        self.forget_abandoned();
        if !first.is_last() {
            self.lent.insert(grain.clone(), Staged::whole(bytes, crc));
        }
        Ok(first)
    }

    /// The piece at `offset` of the state of `grain` this silo lent.
    pub(crate) fn lent_piece(
        &self,
        grain: &GrainId,
        offset: u64,
        size: usize,
    ) -> Result<Piece, Fault> {
        let mut staged = self.lent.get_mut(grain).ok_or_else(|| {
            Fault::Refused(format!(
                "no transfer of the state of {grain} is in progress here; retry"
            ))
        })?;
        staged.touched = Instant::now();
        Ok(cut(&staged.bytes, staged.crc, offset, size))
    }

    /// Drops what is kept of the state of `grain` lent from here: its borrower has it.
    pub(crate) fn released(&self, grain: &GrainId) {
        self.lent.remove(grain);
    }

    /// Adds a pushed piece; returns the state once its last piece is in. A first piece
    /// starts the transfer over.
    pub(crate) fn arrive(
        &self,
        grain: &GrainId,
        piece: Piece,
    ) -> Result<Option<GrainState>, Fault> {
        if piece.offset == 0 {
            self.forget_abandoned();
            let mut staged = Staged::begun_by(&piece);
            if staged.add(grain, &piece)? {
                self.arriving.remove(grain);
                return staged.decode(grain).map(Some);
            }
            self.arriving.insert(grain.clone(), staged);
            return Ok(None);
        }
        let added = self
            .arriving
            .get_mut(grain)
            .ok_or_else(|| {
                rejected(
                    grain,
                    format!("{piece:?} arrived with no transfer under way"),
                )
            })?
            .add(grain, &piece);
        match added {
            Ok(false) => Ok(None),
            Ok(true) => {
                let (_, staged) = self
                    .arriving
                    .remove(grain)
                    .ok_or_else(|| rejected(grain, "the transfer was dropped"))?;
                staged.decode(grain).map(Some)
            }
            Err(fault) => {
                self.arriving.remove(grain);
                Err(fault)
            }
        }
    }

    fn forget_abandoned(&self) {
        let fresh = |_: &GrainId, staged: &mut Staged| staged.touched.elapsed() < ABANDONED_AFTER;
        self.lent.retain(fresh);
        self.arriving.retain(fresh);
    }
}

/// The whole state that `first` begins, reading the other pieces from the silo at `lender`.
pub(crate) async fn receive(
    router: &Router,
    lender: SocketAddr,
    grain: &GrainId,
    first: Piece,
) -> Result<GrainState, Fault> {
    if first.offset != 0 {
        return Err(rejected(grain, format!("the first {first:?} is not at 0")));
    }
    let mut staged = Staged::begun_by(&first);
    let mut piece = first;
    while !staged.add(grain, &piece)? {
        if piece.bytes.is_empty() {
            return Err(rejected(grain, format!("an empty {piece:?}")));
        }
        piece = router
            .control::<Piece>(lender, grain, PIECE, &(staged.bytes.len() as u64))
            .await
            .map_err(|reason| {
                Fault::Unavailable(format!(
                    "reading the state of {grain} from {lender} broke off: {reason}"
                ))
            })?;
    }
    staged.decode(grain)
}

/// The pieces of `state` to push to its new owner.
pub(crate) fn pieces(
    grain: &GrainId,
    state: &GrainState,
    size: usize,
) -> Result<Vec<Piece>, Fault> {
    let (bytes, crc) = encode(grain, state)?;
    let mut pieces = Vec::new();
    let mut offset = 0;
    loop {
        let piece = cut(&bytes, crc, offset, size);
        offset = piece.end();
        let last = piece.is_last();
        pieces.push(piece);
        if last {
            return Ok(pieces);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::GrainKind;
    use crate::persistence::JournalEntry;

    fn grain() -> GrainId {
        GrainId::new(GrainKind::from_static("Blob"), 1u64)
    }

    fn state(events: u64) -> GrainState {
        GrainState {
            last_seq: events,
            pruned_through: 0,
            entries: (1..=events)
                .map(|seq| JournalEntry {
                    seq,
                    payload: vec![seq as u8; 100],
                })
                .collect(),
            snapshots: Vec::new(),
        }
    }

    #[test]
    fn pushed_pieces_rebuild_the_state_and_a_stranger_piece_is_refused() {
        let transfers = Transfers::default();
        let sent = state(50);
        let pieces = pieces(&grain(), &sent, 1024).unwrap();
        assert!(pieces.len() > 4, "{} pieces", pieces.len());
        let count = pieces.len();
        let mut rebuilt = None;
        for (i, piece) in pieces.into_iter().enumerate() {
            rebuilt = transfers.arrive(&grain(), piece).unwrap();
            assert_eq!(rebuilt.is_some(), i + 1 == count);
        }
        let rebuilt = rebuilt.unwrap();
        assert_eq!(rebuilt.last_seq, 50);
        assert_eq!(rebuilt.entries, sent.entries);

        let mut first = pieces_of(&state(50));
        let mut other = pieces_of(&state(51));
        transfers.arrive(&grain(), first.remove(0)).unwrap();
        let error = transfers.arrive(&grain(), other.remove(1)).unwrap_err();
        assert!(
            format!("{error:?}").contains("does not follow"),
            "{error:?}"
        );
    }

    fn pieces_of(state: &GrainState) -> Vec<Piece> {
        pieces(&grain(), state, 1024).unwrap()
    }

    #[test]
    fn a_lent_state_is_kept_until_released() {
        let transfers = Transfers::default();
        let first = transfers.lend(&grain(), &state(50), 1024).unwrap();
        assert!(!first.is_last());
        let second = transfers.lent_piece(&grain(), first.end(), 1024).unwrap();
        assert_eq!(second.offset, first.end());
        transfers.released(&grain());
        assert!(transfers.lent_piece(&grain(), first.end(), 1024).is_err());
        let small = transfers.lend(&grain(), &state(1), 1024).unwrap();
        assert!(
            small.is_last(),
            "a state that fits in one piece is not kept"
        );
        assert!(transfers.lent.is_empty());
    }

    #[test]
    fn a_piece_with_a_wrong_checksum_is_refused() {
        let mut pieces = pieces_of(&state(5));
        assert_eq!(pieces.len(), 1);
        pieces[0].bytes[3] ^= 0xff;
        let error = Transfers::default()
            .arrive(&grain(), pieces.remove(0))
            .unwrap_err();
        assert!(format!("{error:?}").contains("checksum"), "{error:?}");
    }
}

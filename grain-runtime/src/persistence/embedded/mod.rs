//! The embedded stores: one journal-and-snapshot store per silo data directory, on sled or redb.
//!
//! Both engines sit behind the small [`Engine`] trait. Writes go through one writer thread per
//! store that gathers every request queued while the previous commit was being made durable and
//! commits them together (group commit), so concurrent grains share one fsync. Reads run on
//! the store's reader threads, in chunks, so a long journal streams with bounded memory.

mod custody;
mod readers;
#[cfg(feature = "redb")]
mod redb_engine;
#[cfg(feature = "sled")]
mod sled_engine;
mod writer;

#[cfg(feature = "redb")]
pub(crate) use redb_engine::RedbEngine;
#[cfg(feature = "sled")]
pub(crate) use sled_engine::SledEngine;

use std::sync::Arc;

use async_trait::async_trait;
use futures::{StreamExt as _, TryStreamExt as _, stream};

use super::keys::GrainKeys;
use super::record;
use super::{EntryStream, Journal, JournalEntry, Snapshot, SnapshotStore, StoreError};
use crate::id::GrainId;
use readers::Readers;
use writer::{Op, Writer};

/// How many journal entries one read brings into memory.
const READ_CHUNK: usize = 512;

/// The two key spaces of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Tree {
    Journal,
    Snapshots,
}

/// The reads of one consistent view of a store.
pub(crate) trait ReadBatch {
    fn get(&mut self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, String>;
    /// Calls `visit` with the records whose keys are in `start..end`, in key order, until it
    /// returns `false`.
    fn scan(
        &mut self,
        tree: Tree,
        start: &[u8],
        end: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), String>;
}

/// The writes of one commit, as an engine exposes them to the writer.
pub(crate) trait WriteBatch {
    /// The value under `key`, including writes made earlier in this batch.
    fn get(&mut self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, String>;
    fn put(&mut self, tree: Tree, key: Vec<u8>, value: Vec<u8>) -> Result<(), String>;
    fn delete(&mut self, tree: Tree, key: Vec<u8>) -> Result<(), String>;
    /// Deletes every key in `start..end`.
    fn delete_range(&mut self, tree: Tree, start: &[u8], end: &[u8]) -> Result<(), String>;
}

/// An embedded key-value engine.
pub(crate) trait Engine: Send + Sync + 'static {
    /// The engine's name, for errors.
    const NAME: &'static str;

    /// Runs `body` on one batch and makes its writes durable (fsync) before returning. If
    /// `body` or the commit fails, nothing of the batch may become visible.
    fn write(
        &self,
        body: &mut dyn FnMut(&mut dyn WriteBatch) -> Result<(), String>,
    ) -> Result<(), String>;

    /// Runs `body` on a read view of the store.
    fn read(
        &self,
        body: &mut dyn FnMut(&mut dyn ReadBatch) -> Result<(), String>,
    ) -> Result<(), String>;
}

/// A [`Journal`] and [`SnapshotStore`] on an embedded engine.
pub(crate) struct EmbeddedStore<E: Engine> {
    readers: Arc<Readers<E>>,
    writer: Writer,
}

impl<E: Engine> EmbeddedStore<E> {
    pub(crate) fn new(engine: E) -> Self {
        let engine = Arc::new(engine);
        let readers = Arc::new(Readers::start(&engine));
        let writer = Writer::start(engine);
        Self { readers, writer }
    }
}

fn backend<E: Engine>(message: String) -> StoreError {
    StoreError::Backend {
        backend: E::NAME,
        message,
    }
}

fn corrupt(grain: &GrainId, record: &'static str, seq: u64, reason: String) -> StoreError {
    StoreError::Corrupt {
        grain: grain.clone(),
        record,
        seq,
        reason,
    }
}

/// Decodes a latest-snapshot record: the sequence number of the grain's latest snapshot, or
/// `None` if it has none.
pub(super) fn decode_latest_snapshot(
    grain: &GrainId,
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<Option<u64>, StoreError> {
    const RECORD: &str = "latest snapshot";
    let Some(value) = value else { return Ok(None) };
    let payload = record::open(key, value).map_err(|reason| corrupt(grain, RECORD, 0, reason))?;
    let bytes: [u8; 8] = payload.try_into().map_err(|_| {
        corrupt(
            grain,
            RECORD,
            0,
            format!("it holds {} bytes, not 8", payload.len()),
        )
    })?;
    Ok(Some(u64::from_be_bytes(bytes)))
}

/// A journal's head record: the last sequence number appended and the one pruned through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Head {
    pub(super) last: u64,
    pub(super) pruned: u64,
    /// The grain's state was lent to another silo, so appends are refused. Kept in the
    /// custody record, not in the head.
    pub(super) lent: bool,
}

impl Head {
    pub(super) fn encode(self) -> [u8; 16] {
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&self.last.to_be_bytes());
        bytes[8..].copy_from_slice(&self.pruned.to_be_bytes());
        bytes
    }

    /// Decodes a stored head; a missing one is an empty journal.
    pub(super) fn decode(
        grain: &GrainId,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<Head, StoreError> {
        let Some(value) = value else {
            return Ok(Head::default());
        };
        let payload =
            record::open(key, value).map_err(|reason| corrupt(grain, "journal head", 0, reason))?;
        let number = |at: usize| {
            let bytes: [u8; 8] = payload[at..at + 8].try_into().unwrap_or_default();
            u64::from_be_bytes(bytes)
        };
        match payload.len() {
            16 if number(8) <= number(0) => Ok(Head {
                last: number(0),
                pruned: number(8),
                lent: false,
            }),
            16 => Err(corrupt(
                grain,
                "journal head",
                0,
                format!(
                    "pruned through {} beyond the last entry {}",
                    number(8),
                    number(0)
                ),
            )),
            n => Err(corrupt(
                grain,
                "journal head",
                0,
                format!("it holds {n} bytes, not 16"),
            )),
        }
    }
}

fn head<E: Engine>(
    view: &mut dyn ReadBatch,
    grain: &GrainId,
    keys: &GrainKeys,
) -> Result<Head, StoreError> {
    let key = keys.head();
    let value = view.get(Tree::Journal, &key).map_err(backend::<E>)?;
    Head::decode(grain, &key, value.as_deref())
}

/// Up to [`READ_CHUNK`] entries of a journal from `from`, checked against the journal's head:
/// the entries must run without a gap from the first one not pruned to the last one appended,
/// so that a missing entry is an error rather than the silent end of the journal.
fn read_chunk<E: Engine>(
    view: &mut dyn ReadBatch,
    grain: &GrainId,
    keys: &GrainKeys,
    from: u64,
) -> Result<Vec<JournalEntry>, StoreError> {
    let head = head::<E>(view, grain, keys)?;
    let first = from.max(1).max(head.pruned + 1);
    if first > head.last {
        return Ok(Vec::new());
    }
    let end = head
        .last
        .checked_add(1)
        .map_or_else(|| keys.events_end(), |end| keys.event(end));
    let missing = |seq: u64| {
        corrupt(
            grain,
            "journal",
            seq,
            format!(
                "the entry is missing, though the journal holds {} to {}",
                head.pruned + 1,
                head.last
            ),
        )
    };
    let wanted = READ_CHUNK.min(usize::try_from(head.last - first + 1).unwrap_or(READ_CHUNK));
    let mut entries = Vec::with_capacity(wanted);
    let mut expected = first;
    let mut failure = None;
    view.scan(
        Tree::Journal,
        &keys.event(first),
        &end,
        &mut |key, value| {
            let entry = match keys.event_seq(key) {
                None => Err(corrupt(
                    grain,
                    "journal",
                    0,
                    format!("key {key:02x?} is not an entry key"),
                )),
                Some(seq) if seq != expected => Err(missing(expected)),
                Some(seq) => record::open(key, value)
                    .map(|payload| JournalEntry {
                        seq,
                        payload: payload.to_vec(),
                    })
                    .map_err(|reason| corrupt(grain, "journal", seq, reason)),
            };
            match entry {
                Ok(entry) => {
                    expected = entry.seq + 1;
                    entries.push(entry);
                    entries.len() < READ_CHUNK
                }
                Err(error) => {
                    failure = Some(error);
                    false
                }
            }
        },
    )
    .map_err(backend::<E>)?;
    if let Some(error) = failure {
        return Err(error);
    }
    if entries.len() < READ_CHUNK && expected <= head.last {
        return Err(missing(expected));
    }
    Ok(entries)
}

fn latest_snapshot<E: Engine>(
    view: &mut dyn ReadBatch,
    grain: &GrainId,
    keys: &GrainKeys,
) -> Result<Option<Snapshot>, StoreError> {
    let index = keys.latest_snapshot();
    let value = view.get(Tree::Snapshots, &index).map_err(backend::<E>)?;
    let Some(seq) = decode_latest_snapshot(grain, &index, value.as_deref())? else {
        return Ok(None);
    };
    let key = keys.snapshot(seq);
    let Some(value) = view.get(Tree::Snapshots, &key).map_err(backend::<E>)? else {
        return Err(corrupt(
            grain,
            "snapshot",
            seq,
            "the latest snapshot is missing".to_string(),
        ));
    };
    let payload =
        record::open(&key, &value).map_err(|reason| corrupt(grain, "snapshot", seq, reason))?;
    Ok(Some(Snapshot {
        seq,
        payload: payload.to_vec(),
    }))
}

#[async_trait]
impl<E: Engine> Journal for EmbeddedStore<E> {
    async fn append(
        &self,
        grain: &GrainId,
        first_seq: u64,
        events: Vec<Vec<u8>>,
    ) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        self.writer
            .submit::<E>(Op::Append {
                grain: grain.clone(),
                first_seq,
                events,
            })
            .await
    }

    fn read(&self, grain: &GrainId, from_seq: u64) -> EntryStream {
        let readers = Arc::clone(&self.readers);
        let grain = grain.clone();
        let keys = GrainKeys::new(&grain);
        stream::try_unfold(Some(from_seq), move |next| {
            let readers = Arc::clone(&readers);
            let grain = grain.clone();
            let keys = keys.clone();
            async move {
                let Some(from) = next else { return Ok(None) };
                let chunk = readers
                    .run(move |view| read_chunk::<E>(view, &grain, &keys, from))
                    .await?;
                let Some(last) = chunk.last() else {
                    return Ok(None);
                };
                let next = (chunk.len() == READ_CHUNK).then_some(last.seq + 1);
                Ok(Some((stream::iter(chunk.into_iter().map(Ok)), next)))
            }
        })
        .try_flatten()
        .boxed()
    }

    async fn last_seq(&self, grain: &GrainId) -> Result<u64, StoreError> {
        let grain = grain.clone();
        self.readers
            .run(move |view| Ok(head::<E>(view, &grain, &GrainKeys::new(&grain))?.last))
            .await
    }

    async fn prune(&self, grain: &GrainId, through_seq: u64) -> Result<(), StoreError> {
        self.writer
            .submit::<E>(Op::PruneEvents {
                grain: grain.clone(),
                through_seq,
            })
            .await
    }
}

#[async_trait]
impl<E: Engine> SnapshotStore for EmbeddedStore<E> {
    async fn latest(&self, grain: &GrainId) -> Result<Option<Snapshot>, StoreError> {
        let grain = grain.clone();
        self.readers
            .run(move |view| latest_snapshot::<E>(view, &grain, &GrainKeys::new(&grain)))
            .await
    }

    async fn save(&self, grain: &GrainId, snapshot: Snapshot) -> Result<(), StoreError> {
        self.writer
            .submit::<E>(Op::SaveSnapshot {
                grain: grain.clone(),
                snapshot,
            })
            .await
    }

    async fn prune(&self, grain: &GrainId, before_seq: u64) -> Result<(), StoreError> {
        self.writer
            .submit::<E>(Op::PruneSnapshots {
                grain: grain.clone(),
                before_seq,
            })
            .await
    }
}

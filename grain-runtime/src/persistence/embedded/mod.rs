//! The embedded stores: one journal-and-snapshot store per silo data directory, on sled or redb.
//!
//! Both engines sit behind the small [`Engine`] trait. Writes go through one writer thread per
//! store that gathers every request queued while the previous commit was being made durable and
//! commits them together (group commit), so concurrent grains share one fsync. Reads run on
//! tokio's blocking pool, in chunks, so a long journal streams with bounded memory.

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
use writer::{Op, Writer};

/// How many journal entries one read brings into memory.
const READ_CHUNK: usize = 512;

/// A stored key and value.
pub(crate) type Record = (Vec<u8>, Vec<u8>);

/// The two key spaces of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Tree {
    Journal,
    Snapshots,
}

/// The writes of one commit, as an engine exposes them to the writer.
pub(crate) trait WriteBatch {
    /// The value under `key`, including writes made earlier in this batch.
    fn get(&mut self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, String>;
    fn put(&mut self, tree: Tree, key: Vec<u8>, value: Vec<u8>) -> Result<(), String>;
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

    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, String>;

    /// Up to `limit` records with keys in `start..end`, in key order.
    fn scan(
        &self,
        tree: Tree,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<Record>, String>;

    /// The record with the greatest key in `start..end`.
    fn last(&self, tree: Tree, start: &[u8], end: &[u8]) -> Result<Option<Record>, String>;
}

/// A [`Journal`] and [`SnapshotStore`] on an embedded engine.
pub(crate) struct EmbeddedStore<E: Engine> {
    engine: Arc<E>,
    writer: Writer,
}

impl<E: Engine> EmbeddedStore<E> {
    pub(crate) fn new(engine: E) -> Self {
        let engine = Arc::new(engine);
        let writer = Writer::start(Arc::clone(&engine));
        Self { engine, writer }
    }

    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&E) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        blocking(Arc::clone(&self.engine), read).await
    }
}

async fn blocking<E: Engine, T: Send + 'static>(
    engine: Arc<E>,
    read: impl FnOnce(&E) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(move || read(&engine))
        .await
        .map_err(|error| backend::<E>(error.to_string()))?
}

fn backend<E: Engine>(message: String) -> StoreError {
    StoreError::Backend {
        backend: E::NAME,
        message,
    }
}

/// Decodes a journal head record: the last sequence number appended.
pub(super) fn decode_head(
    grain: &GrainId,
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<u64, StoreError> {
    let Some(value) = value else { return Ok(0) };
    let corrupt = |reason: String| StoreError::Corrupt {
        grain: grain.clone(),
        record: "journal head",
        seq: 0,
        reason,
    };
    let payload = record::open(key, value).map_err(corrupt)?;
    let bytes: [u8; 8] = payload
        .try_into()
        .map_err(|_| corrupt(format!("head is {} bytes, not 8", payload.len())))?;
    Ok(u64::from_be_bytes(bytes))
}

fn journal_entry(
    grain: &GrainId,
    keys: &GrainKeys,
    key: &[u8],
    value: &[u8],
) -> Result<JournalEntry, StoreError> {
    let seq = keys.event_seq(key).ok_or_else(|| StoreError::Corrupt {
        grain: grain.clone(),
        record: "journal",
        seq: 0,
        reason: format!("key {key:02x?} is not a journal entry key"),
    })?;
    let payload = record::open(key, value).map_err(|reason| StoreError::Corrupt {
        grain: grain.clone(),
        record: "journal",
        seq,
        reason,
    })?;
    Ok(JournalEntry {
        seq,
        payload: payload.to_vec(),
    })
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
        let engine = Arc::clone(&self.engine);
        let grain = grain.clone();
        let keys = GrainKeys::new(&grain);
        stream::try_unfold(Some(from_seq), move |next| {
            let engine = Arc::clone(&engine);
            let grain = grain.clone();
            let keys = keys.clone();
            async move {
                let Some(from) = next else { return Ok(None) };
                let chunk = blocking(engine, move |engine: &E| {
                    let raw = engine
                        .scan(
                            Tree::Journal,
                            &keys.event(from),
                            &keys.events_end(),
                            READ_CHUNK,
                        )
                        .map_err(backend::<E>)?;
                    raw.iter()
                        .map(|(key, value)| journal_entry(&grain, &keys, key, value))
                        .collect::<Result<Vec<_>, _>>()
                })
                .await?;
                let next = match chunk.last() {
                    Some(last) if chunk.len() == READ_CHUNK => Some(last.seq + 1),
                    _ => None,
                };
                if chunk.is_empty() {
                    return Ok(None);
                }
                Ok(Some((stream::iter(chunk.into_iter().map(Ok)), next)))
            }
        })
        .try_flatten()
        .boxed()
    }

    async fn last_seq(&self, grain: &GrainId) -> Result<u64, StoreError> {
        let grain = grain.clone();
        self.read(move |engine: &E| {
            let key = GrainKeys::new(&grain).head();
            let value = engine.get(Tree::Journal, &key).map_err(backend::<E>)?;
            decode_head(&grain, &key, value.as_deref())
        })
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
        self.read(move |engine: &E| {
            let keys = GrainKeys::new(&grain);
            let found = engine
                .last(Tree::Snapshots, &keys.snapshot(0), &keys.snapshots_end())
                .map_err(backend::<E>)?;
            let Some((key, value)) = found else {
                return Ok(None);
            };
            let corrupt = |seq: u64, reason: String| StoreError::Corrupt {
                grain: grain.clone(),
                record: "snapshot",
                seq,
                reason,
            };
            let seq = keys
                .snapshot_seq(&key)
                .ok_or_else(|| corrupt(0, format!("key {key:02x?} is not a snapshot key")))?;
            let payload = record::open(&key, &value).map_err(|reason| corrupt(seq, reason))?;
            Ok(Some(Snapshot {
                seq,
                payload: payload.to_vec(),
            }))
        })
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

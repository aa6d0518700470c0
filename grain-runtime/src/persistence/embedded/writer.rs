//! The writer thread of an embedded store: group commit.
//!
//! Requests queue on a channel. The thread takes everything queued, applies it as one batch,
//! makes the batch durable with one fsync and then answers every request. Requests that arrive
//! during that fsync form the next batch, so the number of fsyncs per second stays bounded while
//! throughput grows with the number of concurrent writers. Each request is checked on its own:
//! a stale append is rejected without failing the others in its batch.
//!
//! Within a batch, requests are applied grouped by grain (a stable sort keeps arrival order per
//! grain), so that the engine touches each part of its tree once. The thread is the store's only writer, so it
//! keeps the journal heads it has committed in memory and reads a head from the store only for a
//! grain it has not written to lately.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::{Engine, Head, Tree, WriteBatch, backend, decode_latest_snapshot};
use crate::id::GrainId;
use crate::persistence::custody::GrainState;
use crate::persistence::keys::GrainKeys;
use crate::persistence::record;
use crate::persistence::{Snapshot, StoreError};

/// The most requests one commit takes.
const MAX_BATCH: usize = 8192;

/// The most journal heads kept in memory; the cache starts over when it is full.
const MAX_CACHED_HEADS: usize = 100_000;

/// Journal heads by head key: committed ones, and those of the batch being built.
#[derive(Default)]
struct Heads {
    committed: HashMap<Vec<u8>, Head>,
    batch: HashMap<Vec<u8>, Head>,
}

impl Heads {
    /// The grain's head from memory, or else from the store.
    fn read(
        &self,
        writes: &mut dyn WriteBatch,
        grain: &GrainId,
        keys: &GrainKeys,
    ) -> Result<Result<Head, StoreError>, String> {
        let key = keys.head();
        if let Some(head) = self.batch.get(&key).or_else(|| self.committed.get(&key)) {
            return Ok(Ok(*head));
        }
        let stored = writes.get(Tree::Journal, &key)?;
        let lent = writes.get(Tree::Journal, &keys.custody())?.is_some();
        Ok(Head::decode(grain, &key, stored.as_deref()).map(|head| Head { lent, ..head }))
    }

    /// Writes the grain's new head to the batch.
    fn write(
        &mut self,
        writes: &mut dyn WriteBatch,
        key: Vec<u8>,
        head: Head,
    ) -> Result<(), String> {
        let value = record::seal(&key, &head.encode());
        writes.put(Tree::Journal, key.clone(), value)?;
        self.batch.insert(key, head);
        Ok(())
    }

    /// Records in the batch that the grain's head was deleted.
    fn write_absent(&mut self, key: Vec<u8>) {
        self.batch.insert(key, Head::default());
    }

    fn committed(&mut self) {
        if self.committed.len() + self.batch.len() > MAX_CACHED_HEADS {
            self.committed.clear();
        }
        self.committed.extend(self.batch.drain());
    }

    fn aborted(&mut self) {
        self.batch.clear();
        self.committed.clear();
    }
}

/// One write.
pub(super) enum Op {
    Append {
        grain: GrainId,
        first_seq: u64,
        events: Vec<Vec<u8>>,
    },
    SaveSnapshot {
        grain: GrainId,
        snapshot: Snapshot,
    },
    PruneEvents {
        grain: GrainId,
        through_seq: u64,
    },
    PruneSnapshots {
        grain: GrainId,
        before_seq: u64,
    },
    /// Marks the grain's state as lent to a silo, or (`None`) as this store's own again.
    Lend {
        grain: GrainId,
        to: Option<String>,
    },
    /// Replaces everything stored for the grain with `state`, or deletes it all.
    Replace {
        grain: GrainId,
        state: Option<GrainState>,
    },
    /// Writes a record that belongs to no grain.
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
    },
}

impl Op {
    fn grain(&self) -> Option<&GrainId> {
        Some(match self {
            Op::Append { grain, .. }
            | Op::SaveSnapshot { grain, .. }
            | Op::PruneEvents { grain, .. }
            | Op::PruneSnapshots { grain, .. }
            | Op::Lend { grain, .. }
            | Op::Replace { grain, .. } => grain,
            Op::Put { .. } => return None,
        })
    }
}

struct Request {
    op: Op,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

/// The handle to a store's writer thread; dropping it lets the thread finish its queue and exit.
pub(super) struct Writer {
    requests: Option<mpsc::Sender<Request>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    pub(super) fn start<E: Engine>(engine: Arc<E>) -> Self {
        let (requests, queue) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(format!("{}-writer", E::NAME))
            .spawn(move || run(&*engine, &queue))
            .expect("spawning the storage writer thread");
        Self {
            requests: Some(requests),
            thread: Some(thread),
        }
    }

    /// Queues `op` and waits until it is durable or rejected.
    pub(super) async fn submit<E: Engine>(&self, op: Op) -> Result<(), StoreError> {
        let closed = || StoreError::Closed { backend: E::NAME };
        let (reply, answer) = oneshot::channel();
        self.requests
            .as_ref()
            .ok_or_else(closed)?
            .send(Request { op, reply })
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.requests.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the storage writer thread panicked");
        }
    }
}

fn run<E: Engine>(engine: &E, queue: &mpsc::Receiver<Request>) {
    let mut heads = Heads::default();
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        batch.sort_by(|a, b| a.op.grain().cmp(&b.op.grain()));
        let mut outcomes = Vec::with_capacity(batch.len());
        let committed = engine.write(&mut |writes| {
            outcomes.clear();
            heads.batch.clear();
            for request in &batch {
                outcomes.push(apply(writes, &mut heads, &request.op)?);
            }
            Ok(())
        });
        match committed {
            Ok(()) => {
                heads.committed();
                for (request, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = request.reply.send(outcome);
                }
            }
            Err(message) => {
                heads.aborted();
                tracing::error!(backend = E::NAME, "a storage commit failed: {message}");
                for request in batch {
                    let _ = request.reply.send(Err(backend::<E>(message.clone())));
                }
            }
        }
    }
}

/// Adds one request's writes to the batch. The outer error aborts the whole batch; the inner one
/// rejects this request only, before it has written anything.
fn apply(
    writes: &mut dyn WriteBatch,
    heads: &mut Heads,
    op: &Op,
) -> Result<Result<(), StoreError>, String> {
    match op {
        Op::Append {
            grain,
            first_seq,
            events,
        } => {
            let keys = GrainKeys::new(grain);
            let head_key = keys.head();
            let head = match heads.read(writes, grain, &keys)? {
                Ok(head) => head,
                Err(corrupt) => return Ok(Err(corrupt)),
            };
            if head.lent {
                return Ok(Err(StoreError::Lent {
                    grain: grain.clone(),
                }));
            }
            if head.last.checked_add(1) != Some(*first_seq) {
                return Ok(Err(StoreError::Conflict {
                    grain: grain.clone(),
                    expected: *first_seq,
                    actual: head.last,
                }));
            }
            let mut seq = head.last;
            for event in events {
                seq += 1;
                let key = keys.event(seq);
                let value = record::seal(&key, event);
                writes.put(Tree::Journal, key, value)?;
            }
            heads.write(writes, head_key, Head { last: seq, ..head })?;
        }
        Op::SaveSnapshot { grain, snapshot } => {
            let keys = GrainKeys::new(grain);
            let index = keys.latest_snapshot();
            let stored = writes.get(Tree::Snapshots, &index)?;
            let latest = match decode_latest_snapshot(grain, &index, stored.as_deref()) {
                Ok(latest) => latest,
                Err(corrupt) => return Ok(Err(corrupt)),
            };
            let key = keys.snapshot(snapshot.seq);
            let value = record::seal(&key, &snapshot.payload);
            writes.put(Tree::Snapshots, key, value)?;
            if latest.is_none_or(|latest| latest <= snapshot.seq) {
                let value = record::seal(&index, &snapshot.seq.to_be_bytes());
                writes.put(Tree::Snapshots, index, value)?;
            }
        }
        Op::PruneEvents { grain, through_seq } => {
            let keys = GrainKeys::new(grain);
            let head_key = keys.head();
            let head = match heads.read(writes, grain, &keys)? {
                Ok(head) => head,
                Err(corrupt) => return Ok(Err(corrupt)),
            };
            let through = (*through_seq).min(head.last);
            if through > head.pruned {
                writes.delete_range(Tree::Journal, &keys.event(0), &keys.event(through + 1))?;
                heads.write(
                    writes,
                    head_key,
                    Head {
                        pruned: through,
                        ..head
                    },
                )?;
            }
        }
        Op::PruneSnapshots { grain, before_seq } => {
            let keys = GrainKeys::new(grain);
            writes.delete_range(
                Tree::Snapshots,
                &keys.snapshot(0),
                &keys.snapshot(*before_seq),
            )?;
            let index = keys.latest_snapshot();
            let stored = writes.get(Tree::Snapshots, &index)?;
            if let Ok(Some(latest)) = decode_latest_snapshot(grain, &index, stored.as_deref())
                && latest < *before_seq
            {
                writes.delete(Tree::Snapshots, index)?;
            }
        }
        Op::Lend { grain, to } => {
            let keys = GrainKeys::new(grain);
            let head = match heads.read(writes, grain, &keys)? {
                Ok(head) => head,
                Err(corrupt) => return Ok(Err(corrupt)),
            };
            let key = keys.custody();
            match to {
                Some(silo) => {
                    let value = record::seal(&key, silo.as_bytes());
                    writes.put(Tree::Journal, key, value)?;
                }
                None => writes.delete(Tree::Journal, key)?,
            }
            let lent = to.is_some();
            heads.write(writes, keys.head(), Head { lent, ..head })?;
        }
        Op::Replace { grain, state } => replace(writes, heads, grain, state.as_ref())?,
        Op::Put { key, value } => writes.put(Tree::Journal, key.clone(), value.clone())?,
    }
    Ok(Ok(()))
}

/// Deletes every record of `grain`, then writes `state` if there is one.
fn replace(
    writes: &mut dyn WriteBatch,
    heads: &mut Heads,
    grain: &GrainId,
    state: Option<&GrainState>,
) -> Result<(), String> {
    let keys = GrainKeys::new(grain);
    for tree in [Tree::Journal, Tree::Snapshots] {
        writes.delete_range(tree, &keys.head(), &keys.events_end())?;
    }
    writes.delete(Tree::Journal, keys.custody())?;
    let Some(state) = state else {
        heads.write_absent(keys.head());
        return Ok(());
    };
    for entry in &state.entries {
        let key = keys.event(entry.seq);
        let value = record::seal(&key, &entry.payload);
        writes.put(Tree::Journal, key, value)?;
    }
    for snapshot in &state.snapshots {
        let key = keys.snapshot(snapshot.seq);
        let value = record::seal(&key, &snapshot.payload);
        writes.put(Tree::Snapshots, key, value)?;
    }
    if let Some(latest) = state.snapshots.last() {
        let index = keys.latest_snapshot();
        let value = record::seal(&index, &latest.seq.to_be_bytes());
        writes.put(Tree::Snapshots, index, value)?;
    }
    let head = Head {
        last: state.last_seq,
        pruned: state.pruned_through,
        lent: false,
    };
    heads.write(writes, keys.head(), head)
}

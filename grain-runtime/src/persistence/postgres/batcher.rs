//! Batching of writes: many grains' writes in one statement and one round trip.
//!
//! Writes queue on a channel. A task takes everything queued, up to a limit, and commits it as
//! one statement on a pooled connection while the next batch builds up; a few batches may be in
//! flight at once. One batch holds at most one write per grain (a statement touches a grain's
//! row once); a second waits for the next batch.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc};

use super::Database;
use crate::persistence::StoreError;

/// The most writes one statement carries.
const MAX_BATCH: usize = 2048;

/// The most bytes one statement carries, unless a single write is larger.
const MAX_BATCH_BYTES: usize = 8 << 20;

/// A write that can share a statement with other grains' writes.
pub(super) trait Batched: Send + 'static {
    /// The grain's `kind` and `grain_key` columns.
    fn columns(&self) -> &(String, String);

    /// The bytes the write adds to its statement.
    fn bytes(&self) -> usize;
}

/// The handle writes are sent through; the task stops when the last handle is dropped.
pub(super) struct Batcher<T> {
    queue: mpsc::UnboundedSender<T>,
}

impl<T: Batched> Batcher<T> {
    /// Starts the batching task, which runs `commit` on each batch with at most `in_flight`
    /// batches running at once; `commit` answers each write of its batch.
    pub(super) fn start<F, Fut>(database: Arc<Database>, in_flight: usize, commit: F) -> Self
    where
        F: Fn(Arc<Database>, Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (queue, writes) = mpsc::unbounded_channel();
        tokio::spawn(batch_loop(writes, database, in_flight.max(1), commit));
        Self { queue }
    }

    /// Queues `write`; its own reply channel says how it ended.
    pub(super) fn send(&self, write: T) -> Result<(), StoreError> {
        self.queue.send(write).map_err(|_| StoreError::Closed {
            backend: super::BACKEND,
        })
    }
}

async fn batch_loop<T, F, Fut>(
    mut writes: mpsc::UnboundedReceiver<T>,
    database: Arc<Database>,
    in_flight: usize,
    commit: F,
) where
    T: Batched,
    F: Fn(Arc<Database>, Vec<T>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(in_flight));
    let mut waiting: VecDeque<T> = VecDeque::new();
    loop {
        let first = match waiting.pop_front() {
            Some(write) => write,
            None => match writes.recv().await {
                Some(write) => write,
                None => return,
            },
        };
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let mut grains = HashSet::from([first.columns().clone()]);
        let mut bytes = first.bytes();
        let mut batch = vec![first];
        let mut deferred = VecDeque::new();
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            let next = match waiting.pop_front() {
                Some(write) => write,
                None => match writes.try_recv() {
                    Ok(write) => write,
                    Err(_) => break,
                },
            };
            if grains.insert(next.columns().clone()) {
                bytes += next.bytes();
                batch.push(next);
            } else {
                deferred.push_back(next);
            }
        }
        deferred.extend(waiting);
        waiting = deferred;
        let committed = commit(Arc::clone(&database), batch);
        tokio::spawn(async move {
            committed.await;
            drop(permit);
        });
    }
}

//! Batched appends: many grains' events in one statement and one round trip.
//!
//! Appends queue on a channel. A task takes everything queued, up to a limit, and commits it as
//! one statement on a pooled connection while the next batch builds up; a few batches may be in
//! flight at once. The statement checks each grain's expected sequence number on its own, so a
//! stale append is rejected without failing the others in its batch. One batch holds at most
//! one append per grain (the statement touches a journal head once); a second waits for the
//! next batch.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use deadpool_postgres::tokio_postgres::types::ToSql;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::{Database, Retry};
use crate::id::GrainId;
use crate::persistence::StoreError;

/// The most appends one statement carries.
const MAX_BATCH: usize = 2048;

/// The most event bytes one statement carries, unless a single append is larger.
const MAX_BATCH_BYTES: usize = 8 << 20;

/// One append waiting for its batch.
pub(super) struct Append {
    pub(super) grain: GrainId,
    /// The grain's `kind` and `grain_key` columns.
    pub(super) columns: (String, String),
    pub(super) first_seq: i64,
    /// The sealed records of the events, in order.
    pub(super) records: Vec<Vec<u8>>,
    pub(super) reply: oneshot::Sender<Result<(), StoreError>>,
}

impl Append {
    fn last_seq(&self) -> i64 {
        self.first_seq + self.records.len() as i64 - 1
    }

    fn bytes(&self) -> usize {
        self.records.iter().map(Vec::len).sum()
    }
}

/// The handle appends are sent through; the task stops when the last handle is dropped.
pub(super) struct Appender {
    queue: mpsc::UnboundedSender<Append>,
}

impl Appender {
    /// Starts the batching task with at most `in_flight` statements running at once.
    pub(super) fn start(database: Arc<Database>, in_flight: usize) -> Self {
        let (queue, appends) = mpsc::unbounded_channel();
        tokio::spawn(batch_loop(appends, database, in_flight.max(1)));
        Self { queue }
    }

    /// Queues `append`; its reply says how it ended.
    pub(super) fn send(&self, append: Append) -> Result<(), StoreError> {
        self.queue.send(append).map_err(|_| StoreError::Closed {
            backend: "postgres",
        })
    }
}

async fn batch_loop(
    mut appends: mpsc::UnboundedReceiver<Append>,
    database: Arc<Database>,
    in_flight: usize,
) {
    let permits = Arc::new(Semaphore::new(in_flight));
    let mut waiting: VecDeque<Append> = VecDeque::new();
    loop {
        let first = match waiting.pop_front() {
            Some(append) => append,
            None => match appends.recv().await {
                Some(append) => append,
                None => return,
            },
        };
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let mut grains = HashSet::from([first.columns.clone()]);
        let mut bytes = first.bytes();
        let mut batch = vec![first];
        let mut deferred = VecDeque::new();
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            let next = match waiting.pop_front() {
                Some(append) => append,
                None => match appends.try_recv() {
                    Ok(append) => append,
                    Err(_) => break,
                },
            };
            if grains.insert(next.columns.clone()) {
                bytes += next.bytes();
                batch.push(next);
            } else {
                deferred.push_back(next);
            }
        }
        deferred.extend(waiting);
        waiting = deferred;
        let database = Arc::clone(&database);
        tokio::spawn(async move {
            commit(&database, batch).await;
            drop(permit);
        });
    }
}

/// Commits `batch` and answers each of its appends.
async fn commit(database: &Database, batch: Vec<Append>) {
    match run(database, &batch).await {
        Ok(accepted) => {
            let rejected: Vec<&Append> = batch
                .iter()
                .filter(|append| !accepted.contains(&append.columns))
                .collect();
            let heads = if rejected.is_empty() {
                Ok(HashMap::new())
            } else {
                heads(database, &rejected).await
            };
            for append in batch {
                let outcome = if accepted.contains(&append.columns) {
                    Ok(())
                } else {
                    Err(match &heads {
                        Ok(heads) => StoreError::Conflict {
                            grain: append.grain.clone(),
                            expected: append.first_seq as u64,
                            actual: heads.get(&append.columns).copied().unwrap_or(0) as u64,
                        },
                        Err(error) => error.clone(),
                    })
                };
                let _ = append.reply.send(outcome);
            }
        }
        Err(error) => {
            for append in batch {
                let _ = append.reply.send(Err(error.clone()));
            }
        }
    }
}

/// Runs the append statement; returns the grains whose appends it accepted.
async fn run(
    database: &Database,
    batch: &[Append],
) -> Result<HashSet<(String, String)>, StoreError> {
    let mut kinds = Vec::with_capacity(batch.len());
    let mut keys = Vec::with_capacity(batch.len());
    let mut firsts = Vec::with_capacity(batch.len());
    let mut lasts = Vec::with_capacity(batch.len());
    let events: usize = batch.iter().map(|append| append.records.len()).sum();
    let mut event_kinds = Vec::with_capacity(events);
    let mut event_keys = Vec::with_capacity(events);
    let mut event_seqs = Vec::with_capacity(events);
    let mut records: Vec<&[u8]> = Vec::with_capacity(events);
    for append in batch {
        let (kind, key) = &append.columns;
        kinds.push(kind.as_str());
        keys.push(key.as_str());
        firsts.push(append.first_seq);
        lasts.push(append.last_seq());
        for (seq, record) in (append.first_seq..).zip(&append.records) {
            event_kinds.push(kind.as_str());
            event_keys.push(key.as_str());
            event_seqs.push(seq);
            records.push(record);
        }
    }
    let params: [&(dyn ToSql + Sync); 8] = [
        &kinds,
        &keys,
        &firsts,
        &lasts,
        &event_kinds,
        &event_keys,
        &event_seqs,
        &records,
    ];
    let rows = database
        .query(
            "appending",
            &database.statements.append,
            &params,
            Retry::Never,
        )
        .await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// The journal heads of the grains whose appends were rejected.
async fn heads(
    database: &Database,
    rejected: &[&Append],
) -> Result<HashMap<(String, String), i64>, StoreError> {
    let kinds: Vec<&str> = rejected.iter().map(|a| a.columns.0.as_str()).collect();
    let keys: Vec<&str> = rejected.iter().map(|a| a.columns.1.as_str()).collect();
    let rows = database
        .query(
            "reading journal heads",
            &database.statements.heads,
            &[&kinds, &keys],
            Retry::OnLostConnection,
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| ((row.get(0), row.get(1)), row.get(2)))
        .collect())
}

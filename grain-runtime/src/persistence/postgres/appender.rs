//! Batched appends: many grains' events in one statement (see [`super::batcher`]).
//!
//! The statement checks each grain's expected sequence number, and the fence of a fenced
//! append, on its own, so a stale append is rejected without failing the others in its batch.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use deadpool_postgres::tokio_postgres::types::ToSql;
use tokio::sync::oneshot;

use super::batcher::Batched;
use super::{Database, Retry};
use crate::id::GrainId;
use crate::persistence::StoreError;

/// One append waiting for its batch.
pub(super) struct Append {
    pub(super) grain: GrainId,
    /// The grain's `kind` and `grain_key` columns.
    pub(super) columns: (String, String),
    pub(super) first_seq: i64,
    /// The claim the writing activation holds, if it is fenced.
    pub(super) fence: Option<i64>,
    /// The sealed records of the events, in order.
    pub(super) records: Vec<Vec<u8>>,
    pub(super) reply: oneshot::Sender<Result<(), StoreError>>,
}

impl Append {
    fn last_seq(&self) -> i64 {
        self.first_seq + self.records.len() as i64 - 1
    }
}

impl Batched for Append {
    fn columns(&self) -> &(String, String) {
        &self.columns
    }

    fn bytes(&self) -> usize {
        self.records.iter().map(Vec::len).sum()
    }
}

/// Commits `batch` and answers each of its appends.
pub(super) async fn commit(database: Arc<Database>, batch: Vec<Append>) {
    let database = &*database;
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
                        Ok(heads) => rejection(&append, heads.get(&append.columns).copied()),
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

/// Why `append` was rejected, given its grain's journal head: its expected sequence number was
/// taken, or else (it was fenced) a newer activation claimed the grain.
fn rejection(append: &Append, head: Option<i64>) -> StoreError {
    let head = head.unwrap_or(0);
    if append.fence.is_some() && head == append.first_seq - 1 {
        StoreError::Superseded {
            grain: append.grain.clone(),
        }
    } else {
        StoreError::Conflict {
            grain: append.grain.clone(),
            expected: append.first_seq as u64,
            actual: head as u64,
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
    let mut fences = Vec::with_capacity(batch.len());
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
        fences.push(append.fence);
        for (seq, record) in (append.first_seq..).zip(&append.records) {
            event_kinds.push(kind.as_str());
            event_keys.push(key.as_str());
            event_seqs.push(seq);
            records.push(record);
        }
    }
    let params: [&(dyn ToSql + Sync); 9] = [
        &kinds,
        &keys,
        &firsts,
        &lasts,
        &event_kinds,
        &event_keys,
        &event_seqs,
        &records,
        &fences,
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

//! Copying an embedded store's grain state into PostgreSQL, for a cluster that moves from
//! per-silo stores to a shared database.

use super::{PostgresConfig, PostgresStore, backend, columns, describe, to_column};
use crate::id::GrainId;
use crate::persistence::custody::GrainState;
use crate::persistence::keys::GrainKeys;
use crate::persistence::{Storage, StoreError, record};

/// What [`copy_to_postgres`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Grains copied.
    pub copied: usize,
    /// Grains the database already held at the same sequence number (an earlier copy).
    pub already_there: usize,
    /// Journal entries copied.
    pub events: u64,
    /// Snapshots copied.
    pub snapshots: u64,
}

/// Copies every grain state held by the embedded store `from` (sled or redb; stop its silo
/// first) into the PostgreSQL database of `to`, keeping sequence numbers, pruned prefixes and
/// snapshots. Each grain is copied in one transaction, so a copy that fails part-way can be run
/// again: grains already copied are skipped.
///
/// # Errors
///
/// [`StoreError::Backend`] if `from` is not an embedded store, or if the database already holds
/// a different history for one of the grains (nothing is overwritten); any error of either
/// store.
pub async fn copy_to_postgres(
    from: &Storage,
    to: PostgresConfig,
) -> Result<CopyReport, StoreError> {
    let custody = from.custody().ok_or_else(|| {
        backend(format!(
            "only an embedded store can be copied into PostgreSQL, not {}",
            from.name()
        ))
    })?;
    let target = PostgresStore::open(&to).await?;
    let mut report = CopyReport::default();
    for grain in custody.grains().await? {
        let Some(state) = custody.export(&grain).await? else {
            continue;
        };
        if target.import(&grain, &state).await? {
            report.copied += 1;
            report.events += state.entries.len() as u64;
            report.snapshots += state.snapshots.len() as u64;
        } else {
            report.already_there += 1;
        }
    }
    Ok(report)
}

impl PostgresStore {
    /// Writes `state` as the grain's whole history; `Ok(false)` if the database already holds
    /// it at the same last sequence number.
    async fn import(&self, grain: &GrainId, state: &GrainState) -> Result<bool, StoreError> {
        let (kind, key) = columns(grain)?;
        let seq = |seq: u64| {
            to_column(seq).ok_or_else(|| backend(format!("{grain}: sequence {seq} is too large")))
        };
        let last = seq(state.last_seq)?;
        let keys = GrainKeys::new(grain);
        let mut entries = (Vec::new(), Vec::new());
        for entry in &state.entries {
            entries.0.push(seq(entry.seq)?);
            entries
                .1
                .push(record::seal(&keys.event(entry.seq), &entry.payload));
        }
        let mut snapshots = (Vec::new(), Vec::new());
        for snapshot in &state.snapshots {
            snapshots.0.push(seq(snapshot.seq)?);
            snapshots.1.push(record::seal(
                &keys.snapshot(snapshot.seq),
                &snapshot.payload,
            ));
        }
        let failed = |e: deadpool_postgres::tokio_postgres::Error| {
            backend(format!("copying {grain}: {}", describe(&e)))
        };
        let mut client = self
            .database
            .pool
            .get()
            .await
            .map_err(|e| backend(format!("copying {grain}: {}", describe(&e))))?;
        let schema = &self.database.schema;
        let txn = client.transaction().await.map_err(failed)?;
        let held = txn
            .query_opt(
                &format!(
                    "SELECT last_seq FROM {schema}.journal_heads WHERE kind = $1 AND grain_key = $2 FOR UPDATE"
                ),
                &[&kind, &key],
            )
            .await
            .map_err(failed)?
            .map(|row| row.get::<_, i64>(0));
        match held {
            Some(held) if held == last => return Ok(false),
            Some(held) => {
                return Err(backend(format!(
                    "{grain}: the database already holds its journal up to sequence {held}, the embedded store up to {last}; nothing was overwritten"
                )));
            }
            None => {}
        }
        if last > 0 {
            txn.execute(
                &format!(
                    "INSERT INTO {schema}.journal_heads (kind, grain_key, last_seq) VALUES ($1, $2, $3)"
                ),
                &[&kind, &key, &last],
            )
            .await
            .map_err(failed)?;
        }
        for (table, (seqs, records)) in [("journal", &entries), ("snapshots", &snapshots)] {
            txn.execute(
                &format!(
                    "INSERT INTO {schema}.{table} (kind, grain_key, seq, record)
                     SELECT $1, $2, r.seq, r.record FROM unnest($3::int8[], $4::bytea[]) AS r(seq, record)"
                ),
                &[&kind, &key, seqs, records],
            )
            .await
            .map_err(failed)?;
        }
        txn.commit().await.map_err(failed)?;
        Ok(true)
    }
}

//! Batched claims (see [`crate::persistence::fencing`]): each activation that starts bumps its
//! grain's fence in the `activations` table, many grains in one statement.

use std::collections::HashMap;
use std::sync::Arc;

use deadpool_postgres::tokio_postgres::types::ToSql;
use tokio::sync::oneshot;

use super::batcher::Batched;
use super::{Database, Retry};
use crate::id::GrainId;
use crate::persistence::StoreError;
use crate::persistence::fencing::Fence;

/// One claim waiting for its batch.
pub(super) struct Claim {
    pub(super) grain: GrainId,
    /// The grain's `kind` and `grain_key` columns.
    pub(super) columns: (String, String),
    pub(super) reply: oneshot::Sender<Result<Fence, StoreError>>,
}

impl Batched for Claim {
    fn columns(&self) -> &(String, String) {
        &self.columns
    }

    fn bytes(&self) -> usize {
        self.columns.0.len() + self.columns.1.len()
    }
}

/// Commits `batch` and answers each claim with its new fence.
pub(super) async fn commit(database: Arc<Database>, batch: Vec<Claim>) {
    let kinds: Vec<&str> = batch.iter().map(|c| c.columns.0.as_str()).collect();
    let keys: Vec<&str> = batch.iter().map(|c| c.columns.1.as_str()).collect();
    let params: [&(dyn ToSql + Sync); 2] = [&kinds, &keys];
    // Claiming again after a lost connection is safe: the retry takes a fence newer still.
    let outcome = database
        .query(
            "claiming grains for new activations",
            &database.statements.claim,
            &params,
            Retry::OnLostConnection,
        )
        .await;
    match outcome {
        Ok(rows) => {
            let mut fences: HashMap<(String, String), i64> = rows
                .iter()
                .map(|row| ((row.get(0), row.get(1)), row.get(2)))
                .collect();
            for claim in batch {
                let fence = fences.remove(&claim.columns).ok_or_else(|| {
                    super::backend(format!("claiming {} returned no fence for it", claim.grain))
                });
                let _ = claim.reply.send(fence.map(|fence| fence as Fence));
            }
        }
        Err(error) => {
            for claim in batch {
                let _ = claim.reply.send(Err(error.clone()));
            }
        }
    }
}

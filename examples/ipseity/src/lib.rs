//! Ipseity: a unique-identity service built from grains.
//!
//! Each namespace (`"orders"`, `"users"`, ...) is one grain that hands out monotonically
//! increasing ids. Because a grain runs one turn at a time, the counter needs no lock and no
//! compare-and-swap: concurrent callers are serialized by the grain's mailbox.
//!
//! The counter is durable without one disk write per id: the grain journals a high-water mark
//! (`Reserved { through }`) a block of ids ahead of what it has handed out, and hands out ids
//! below it from memory. After a restart or a passivation it resumes above the mark, so an id is
//! never handed out twice; the unused rest of the last block is skipped.

use grain_runtime::prelude::*;
use serde::{Deserialize, Serialize};

/// How many ids one journal write reserves.
pub const BLOCK: u64 = 1024;

/// What a namespace journals.
#[derive(Debug, Serialize, Deserialize)]
pub enum NamespaceEvent {
    /// Every id up to and including `through` may be handed out.
    Reserved {
        /// The new high-water mark.
        through: u64,
    },
}

/// One id namespace: ids start at 1 and increase by one per id handed out, and keep increasing
/// across restarts.
#[grain(kind = "ipseity.Namespace", journaled(snapshot_every = 100))]
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Namespace {
    reserved: u64,
    #[serde(skip)]
    last: u64,
}

impl EventSourced for Namespace {
    type Event = NamespaceEvent;

    fn apply(&mut self, event: &NamespaceEvent) {
        match event {
            NamespaceEvent::Reserved { through } => self.reserved = *through,
        }
    }
}

#[grain]
impl Namespace {
    /// Resumes above everything a previous activation may have handed out.
    async fn on_activate(&mut self) {
        self.last = self.reserved;
    }

    /// Hands out the next id.
    pub async fn next_id(&mut self, ctx: &GrainContext<Self>) -> Result<u64, PersistError> {
        self.take(ctx, 1).await
    }

    /// Reserves `count` consecutive ids and returns the first; the caller owns `first..first + count`.
    pub async fn reserve(
        &mut self,
        ctx: &GrainContext<Self>,
        count: u64,
    ) -> Result<u64, PersistError> {
        self.take(ctx, count).await
    }

    /// The last id handed out by this activation or before it, 0 if none.
    pub async fn last_issued(&self) -> u64 {
        self.last
    }

    async fn take(&mut self, ctx: &GrainContext<Self>, count: u64) -> Result<u64, PersistError> {
        let first = self.last + 1;
        let through = self.last + count;
        if through > self.reserved {
            let mark = through.max(self.reserved + BLOCK);
            ctx.persist(self, [NamespaceEvent::Reserved { through: mark }])
                .await?;
        }
        self.last = through;
        Ok(first)
    }
}

//! Ipseity: a unique-identity service built from grains.
//!
//! Each namespace (`"orders"`, `"users"`, ...) is one grain that hands out monotonically
//! increasing ids. Because a grain runs one turn at a time, the counter needs no lock and no
//! compare-and-swap: concurrent callers are serialized by the grain's mailbox.

use grain_runtime::prelude::*;

/// One id namespace: ids start at 1 and increase by one per id handed out.
#[grain(kind = "ipseity.Namespace")]
#[derive(Debug, Default)]
pub struct Namespace {
    last: u64,
}

#[grain]
impl Namespace {
    /// Hands out the next id.
    pub async fn next_id(&mut self) -> u64 {
        self.last += 1;
        self.last
    }

    /// Reserves `count` consecutive ids and returns the first; the caller owns `first..first + count`.
    pub async fn reserve(&mut self, count: u64) -> u64 {
        let first = self.last + 1;
        self.last += count;
        first
    }

    /// The last id handed out, 0 if none.
    pub async fn last_issued(&self) -> u64 {
        self.last
    }
}

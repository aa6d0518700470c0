//! [`Fencing`]: in a store that several silos share, the newest activation of a grain is the
//! only one that can write to it.
//!
//! Each activation claims its grain when it starts and gets a fence, a number larger than every
//! earlier claim's. Its appends carry the fence, and the store refuses an append whose fence a
//! later claim has passed. So an activation on a silo that has not yet heard of a view change
//! (or that is cut off from the others) cannot commit a write once the grain's new owner has
//! activated it, even when its expected sequence number is still free.

use async_trait::async_trait;

use super::StoreError;
use crate::id::GrainId;

/// What a new activation holds its grain under.
pub(crate) type Fence = u64;

/// The claims and fenced appends of a store shared by a cluster.
#[async_trait]
pub(crate) trait Fencing: Send + Sync + 'static {
    /// Claims `grain` for a new activation: from now on, appends under any earlier fence fail
    /// with [`StoreError::Superseded`]. Returns once the claim is durable, so that what the new
    /// activation then reads includes every write an older one committed.
    async fn claim(&self, grain: &GrainId) -> Result<Fence, StoreError>;

    /// [`Journal::append`](super::Journal::append), refused with [`StoreError::Superseded`]
    /// if `grain` was claimed again since `fence` was handed out.
    async fn append_fenced(
        &self,
        grain: &GrainId,
        fence: Fence,
        first_seq: u64,
        events: Vec<Vec<u8>>,
    ) -> Result<(), StoreError>;
}

//! A bank built from event-sourced grains, where a transfer survives a silo restart halfway
//! through without creating or destroying money.
//!
//! Two grain types, both `#[grain(journaled)]`:
//!
//! - [`Account`] holds a balance. Its events are [`AccountEvent::Opened`],
//!   [`Deposited`](AccountEvent::Deposited), [`Withdrawn`](AccountEvent::Withdrawn) and
//!   [`Refunded`](AccountEvent::Refunded), each movement tagged with the transfer it belongs to,
//!   plus [`Settled`](AccountEvent::Settled), which lets the account forget a finished transfer.
//! - [`Transfer`] is a saga keyed by the transfer id. It journals its intent ([`Terms`]) before
//!   touching any account, then each step as it completes: debit the source, credit the
//!   destination, or, if the destination refuses, refund the source.
//!
//! # Why a restart cannot double-debit
//!
//! A silo can stop between any two of the saga's writes: after the source account persisted the
//! withdrawal but before the saga recorded it, for instance. Re-sending the transfer (same id,
//! same terms) re-runs the saga from the last step it recorded, so it may repeat a call that
//! already took effect. Account operations are therefore idempotent per transfer id: an account
//! remembers which legs (debit, credit, refund) of which transfers it applied, and answers a
//! repeated leg with its current balance instead of applying it twice.
//!
//! That memory is part of the account's state, so it is journaled and snapshotted with it. It is
//! pruned by acknowledgement, not by age: once the saga has durably recorded that it is final, it
//! never calls the accounts again for that id, so it has both accounts
//! [`settle`](AccountRef::settle) the id, which removes it, and only then answers the caller. An
//! account therefore remembers only the transfers in flight through it. If the settlement is cut
//! short (the silo stops right after the saga became final), the caller gets a retryable error
//! and re-sends the transfer, and the re-send settles again; a caller that gives up leaves a few
//! bytes behind, never a leg that could apply twice.
//!
//! A window of "the last N ids" would also be bounded, but a saga stuck for longer than N later
//! operations on the account would then move the money twice when re-driven; acknowledgement has
//! no such limit.
//!
//! # Example
//!
//! ```no_run
//! use bank::{Account, Terms, Transfer};
//! use grain_runtime::Storage;
//! use grain_runtime::prelude::*;
//!
//! # async fn run() -> anyhow::Result<()> {
//! let silo = Silo::builder()
//!     .storage(Storage::redb("bank-data")?)
//!     .register::<Account>()
//!     .register::<Transfer>()
//!     .start()
//!     .await?;
//! silo.grain::<Account>("alice").open(100).await??;
//! silo.grain::<Account>("bob").open(0).await??;
//! let terms = Terms::new("alice", "bob", 30);
//! silo.grain::<Transfer>("t-1").run(terms.clone()).await??;
//! silo.grain::<Transfer>("t-1").run(terms).await??; // a re-send changes nothing
//! assert_eq!(silo.grain::<Account>("bob").balance().await?, 30);
//! # Ok(()) }
//! ```

mod account;
mod error;
mod transfer;

use grain_runtime::GrainKey;

pub use account::{Account, AccountEvent, AccountRef, Statement};
pub use error::BankError;
pub use transfer::{Terms, Transfer, TransferEvent, TransferRef, TransferStatus};

/// The text of a grain key as callers wrote it: `alice`, not the quoted `"alice"` of its display.
fn key_text(key: &GrainKey) -> String {
    key.as_str().map_or_else(|| key.to_string(), str::to_string)
}

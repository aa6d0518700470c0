//! [`BankError`]: what an account or a transfer answers instead of a result.

use grain_runtime::prelude::*;
use serde::{Deserialize, Serialize};

/// Why an account operation or a transfer did not happen, or did not finish.
///
/// It is serializable, so grain methods return it to their callers, and the refusals are stored in
/// a transfer's journal ([`TransferEvent`](crate::TransferEvent)): variants and fields may be
/// added, never renamed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum BankError {
    /// The account holds less than the amount asked for. Nothing was withdrawn.
    #[error("account {account} holds {balance}, cannot withdraw {requested}")]
    InsufficientFunds {
        /// The account that would have been debited.
        account: String,
        /// Its balance when the withdrawal was refused.
        balance: u64,
        /// The amount asked for.
        requested: u64,
    },
    /// The account was never opened.
    #[error("account {account} is not open")]
    NotOpen {
        /// The account.
        account: String,
    },
    /// The account was opened before.
    #[error("account {account} is already open")]
    AlreadyOpen {
        /// The account.
        account: String,
    },
    /// The transfer cannot be carried out as asked: same source and destination, a zero amount,
    /// an id already used for other terms, or a refund of a debit that never happened.
    #[error("transfer {transfer} is invalid: {reason}")]
    InvalidTransfer {
        /// The transfer id.
        transfer: String,
        /// What is wrong.
        reason: String,
    },
    /// [`Transfer::resume`](crate::TransferRef::resume) was called for an id that was never
    /// started.
    #[error("transfer {transfer} was never started")]
    UnknownTransfer {
        /// The transfer id.
        transfer: String,
    },
    /// A call to another grain failed (the silo is stopping, a deadline passed): the outcome of
    /// that step is unknown. Re-send the transfer with the same id to finish it.
    #[error("transfer {transfer} is unfinished: {message}")]
    Unavailable {
        /// The transfer id.
        transfer: String,
        /// The call's error.
        message: String,
    },
    /// A write to the journal failed; the grain is recovered from storage on the next call.
    #[error(transparent)]
    Persist(#[from] PersistError),
}

impl BankError {
    /// Whether the operation's outcome is unknown, so that it should be re-sent with the same
    /// transfer id, rather than refused for good.
    pub fn is_retryable(&self) -> bool {
        matches!(self, BankError::Unavailable { .. } | BankError::Persist(_))
    }
}

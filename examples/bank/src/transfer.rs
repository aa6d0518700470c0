//! [`Transfer`]: the saga that moves money between two accounts, one journaled step at a time.

use grain_runtime::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Account, BankError};

/// What a transfer moves: `amount` from account `from` to account `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    /// The account debited.
    pub from: String,
    /// The account credited.
    pub to: String,
    /// The amount moved.
    pub amount: u64,
}

impl Terms {
    /// Terms moving `amount` from `from` to `to`.
    pub fn new(from: impl Into<String>, to: impl Into<String>, amount: u64) -> Self {
        Self {
            from: from.into(),
            to: to.into(),
            amount,
        }
    }
}

/// Where a transfer stands. The saga moves forward only:
///
/// ```text
/// New -> Started -> Debited -> Completed
///           |          |
///           |          +-> Refunding -> Failed     (the destination refused the money)
///           +-> Failed                              (the source refused the debit)
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferStatus {
    /// Nothing is recorded under this transfer id.
    #[default]
    New,
    /// The terms are recorded; the source may or may not have been debited yet.
    Started,
    /// The source was debited; the destination may or may not have been credited yet.
    Debited,
    /// The destination refused the money; the source may or may not have been refunded yet.
    Refunding {
        /// Why the destination refused.
        reason: BankError,
    },
    /// The money moved. Final.
    Completed,
    /// No money moved: the source refused the debit, or it was refunded. Final.
    Failed {
        /// Why the transfer failed.
        reason: BankError,
    },
}

impl TransferStatus {
    /// Whether the transfer reached [`Completed`](Self::Completed) or [`Failed`](Self::Failed).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            TransferStatus::Completed | TransferStatus::Failed { .. }
        )
    }
}

/// A step of a transfer saga. These are stored: add variants and `#[serde(default)]` fields,
/// never rename or retype one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferEvent {
    /// The transfer's intent, recorded before any account is touched.
    Started {
        /// What the transfer moves.
        terms: Terms,
    },
    /// The source account confirmed the debit.
    Debited,
    /// The source account refused the debit; the transfer failed.
    DebitRefused {
        /// The account's refusal.
        reason: BankError,
    },
    /// The destination account confirmed the credit; the transfer completed.
    Credited,
    /// The destination account refused the credit; the source must be refunded.
    CreditRefused {
        /// The account's refusal.
        reason: BankError,
    },
    /// The source account confirmed the refund; the transfer failed.
    Refunded,
}

/// One transfer, keyed by its id: a saga that journals its intent and each step before taking the
/// next, so that re-sending it after a restart finishes it from where it stopped.
///
/// The accounts' legs are idempotent per transfer id, so repeating the step that was in flight
/// when the silo stopped never moves money twice. Once the transfer is final, the saga has both
/// accounts forget the id ([`settle`](crate::AccountRef::settle)) before it answers, and
/// deactivates.
#[grain(kind = "bank.Transfer", journaled(snapshot_on_deactivate = false))]
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Transfer {
    terms: Option<Terms>,
    status: TransferStatus,
}

impl EventSourced for Transfer {
    type Event = TransferEvent;

    fn apply(&mut self, event: &TransferEvent) {
        self.status = match (event, &self.status) {
            (TransferEvent::Started { terms }, _) => {
                self.terms = Some(terms.clone());
                TransferStatus::Started
            }
            (TransferEvent::Debited, _) => TransferStatus::Debited,
            (TransferEvent::DebitRefused { reason }, _) => TransferStatus::Failed {
                reason: reason.clone(),
            },
            (TransferEvent::Credited, _) => TransferStatus::Completed,
            (TransferEvent::CreditRefused { reason }, _) => TransferStatus::Refunding {
                reason: reason.clone(),
            },
            (TransferEvent::Refunded, TransferStatus::Refunding { reason }) => {
                TransferStatus::Failed {
                    reason: reason.clone(),
                }
            }
            // `Refunded` is persisted only while refunding.
            (TransferEvent::Refunded, other) => other.clone(),
        };
    }
}

#[grain]
impl Transfer {
    /// Moves money as `terms` say, or finishes doing so if this transfer id was started before.
    ///
    /// Sending the same id and terms again is always safe: a final transfer answers with its
    /// outcome, an unfinished one carries on from its last recorded step. A transfer is finished
    /// once it answers `Ok` or a refusal; until then, keep re-sending it.
    ///
    /// # Errors
    ///
    /// The refusal that failed the transfer ([`BankError::InsufficientFunds`],
    /// [`BankError::NotOpen`]), [`BankError::InvalidTransfer`] if the terms are invalid or differ
    /// from the ones recorded under this id, or a retryable error
    /// ([`BankError::is_retryable`]) if the transfer could not be finished now.
    pub async fn run(&mut self, ctx: &GrainContext<Self>, terms: Terms) -> Result<(), BankError> {
        let transfer = transfer_id(ctx);
        match &self.terms {
            Some(recorded) if *recorded != terms => {
                return Err(BankError::InvalidTransfer {
                    transfer,
                    reason: format!("the id was used for {recorded:?}, not {terms:?}"),
                });
            }
            Some(_) => {}
            None => {
                let invalid = if terms.from == terms.to {
                    Some("the source and the destination are the same account")
                } else if terms.amount == 0 {
                    Some("the amount is zero")
                } else {
                    None
                };
                if let Some(reason) = invalid {
                    return Err(BankError::InvalidTransfer {
                        transfer,
                        reason: reason.to_owned(),
                    });
                }
                ctx.persist(self, [TransferEvent::Started { terms }])
                    .await?;
            }
        }
        self.drive(ctx, &transfer).await
    }

    /// Finishes a transfer that was started before, from the terms it recorded.
    ///
    /// # Errors
    ///
    /// [`BankError::UnknownTransfer`] if nothing was recorded under this id; otherwise as
    /// [`run`](TransferRef::run).
    pub async fn resume(&mut self, ctx: &GrainContext<Self>) -> Result<(), BankError> {
        let transfer = transfer_id(ctx);
        self.drive(ctx, &transfer).await
    }

    /// Where the transfer stands.
    pub async fn status(&self) -> TransferStatus {
        self.status.clone()
    }

    /// Runs the saga from its recorded step until it is final or a step's outcome is unknown.
    async fn drive(&mut self, ctx: &GrainContext<Self>, transfer: &str) -> Result<(), BankError> {
        let Some(terms) = self.terms.clone() else {
            return Err(BankError::UnknownTransfer {
                transfer: transfer.to_owned(),
            });
        };
        let from = ctx.grain::<Account>(&terms.from);
        let to = ctx.grain::<Account>(&terms.to);
        let id = || transfer.to_owned();
        loop {
            let step = match self.status.clone() {
                TransferStatus::New => {
                    return Err(BankError::UnknownTransfer { transfer: id() });
                }
                TransferStatus::Started => {
                    match reply(transfer, from.debit(id(), terms.amount).await) {
                        Ok(_) => TransferEvent::Debited,
                        Err(reason) if !reason.is_retryable() => {
                            TransferEvent::DebitRefused { reason }
                        }
                        Err(unknown) => return Err(unknown),
                    }
                }
                TransferStatus::Debited => {
                    match reply(transfer, to.credit(id(), terms.amount).await) {
                        Ok(_) => TransferEvent::Credited,
                        Err(reason) if !reason.is_retryable() => {
                            TransferEvent::CreditRefused { reason }
                        }
                        Err(unknown) => return Err(unknown),
                    }
                }
                TransferStatus::Refunding { .. } => {
                    reply(transfer, from.refund(id(), terms.amount).await)?;
                    TransferEvent::Refunded
                }
                TransferStatus::Completed => {
                    settle(transfer, &from, &to).await?;
                    ctx.deactivate_on_idle();
                    return Ok(());
                }
                TransferStatus::Failed { reason } => {
                    settle(transfer, &from, &to).await?;
                    ctx.deactivate_on_idle();
                    return Err(reason);
                }
            };
            ctx.persist(self, [step]).await?;
        }
    }
}

/// Has both accounts forget `transfer`, which is final. Called only once that is durable, since
/// an account that forgot a transfer would apply a repeated leg again, and on every later run of
/// the transfer too, so a settlement cut short by a restart is finished by the re-send. Settling
/// is idempotent and costs an account no write when it does not remember the transfer.
async fn settle(
    transfer: &str,
    from: &VirtualActorRef<Account>,
    to: &VirtualActorRef<Account>,
) -> Result<(), BankError> {
    let (from, to) = tokio::join!(
        from.settle(transfer.to_owned()),
        to.settle(transfer.to_owned())
    );
    reply(transfer, from)?;
    reply(transfer, to)
}

/// An account's answer, with a failed call turned into a retryable [`BankError::Unavailable`].
fn reply<T>(
    transfer: &str,
    answer: Result<Result<T, BankError>, CallError>,
) -> Result<T, BankError> {
    answer.map_err(|error| BankError::Unavailable {
        transfer: transfer.to_owned(),
        message: error.to_string(),
    })?
}

/// The transfer id: this grain's key.
fn transfer_id(ctx: &GrainContext<Transfer>) -> String {
    crate::key_text(&ctx.id().key)
}

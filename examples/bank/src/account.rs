//! [`Account`]: an event-sourced balance whose transfer legs are idempotent per transfer id.

use std::collections::BTreeMap;

use grain_runtime::prelude::*;
use serde::{Deserialize, Serialize};

use crate::BankError;

/// What happened to an account. These are stored: add variants and `#[serde(default)]` fields,
/// never rename or retype one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountEvent {
    /// The account was opened with `initial` in it.
    Opened {
        /// The opening balance.
        initial: u64,
    },
    /// `amount` was credited to the account by `transfer`.
    Deposited {
        /// The transfer that credited it.
        transfer: String,
        /// The amount credited.
        amount: u64,
    },
    /// `amount` was debited from the account by `transfer`.
    Withdrawn {
        /// The transfer that debited it.
        transfer: String,
        /// The amount debited.
        amount: u64,
    },
    /// A debit by `transfer` was given back because the destination refused the money.
    Refunded {
        /// The transfer whose debit was given back.
        transfer: String,
        /// The amount given back.
        amount: u64,
    },
    /// `transfer` is finished and will not call this account again, so the account forgets it.
    Settled {
        /// The finished transfer.
        transfer: String,
    },
}

/// The legs of one transfer an account has applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Legs {
    debited: bool,
    credited: bool,
    refunded: bool,
}

/// A bank account. Every change is an [`AccountEvent`] persisted before it is applied.
///
/// The debit, credit and refund legs of a transfer are idempotent: the account remembers, per
/// transfer id, which legs it applied until the transfer is [settled](AccountRef::settle), so a
/// saga that re-sends a leg after a restart gets the current balance back instead of moving the
/// money twice.
#[grain(kind = "bank.Account", journaled(snapshot_every = 256))]
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Account {
    open: bool,
    balance: u64,
    /// The legs applied by transfers that are not settled yet.
    unsettled: BTreeMap<String, Legs>,
}

/// An account's state as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// Whether the account was opened.
    pub open: bool,
    /// The balance.
    pub balance: u64,
    /// The transfers that moved money through this account and are not settled yet.
    pub unsettled: Vec<String>,
}

impl EventSourced for Account {
    type Event = AccountEvent;

    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Opened { initial } => {
                self.open = true;
                self.balance = *initial;
            }
            AccountEvent::Deposited { transfer, amount } => {
                self.balance += amount;
                self.legs(transfer).credited = true;
            }
            AccountEvent::Withdrawn { transfer, amount } => {
                // `debit` persists a withdrawal only when the balance covers it.
                self.balance = self
                    .balance
                    .checked_sub(*amount)
                    .expect("a withdrawal is persisted only when the balance covers it");
                self.legs(transfer).debited = true;
            }
            AccountEvent::Refunded { transfer, amount } => {
                self.balance += amount;
                self.legs(transfer).refunded = true;
            }
            AccountEvent::Settled { transfer } => {
                self.unsettled.remove(transfer);
            }
        }
    }
}

#[grain]
impl Account {
    /// Opens the account with `initial` in it and returns the balance.
    ///
    /// # Errors
    ///
    /// [`BankError::AlreadyOpen`] if it was opened before.
    pub async fn open(&mut self, ctx: &GrainContext<Self>, initial: u64) -> Result<u64, BankError> {
        if self.open {
            return Err(BankError::AlreadyOpen {
                account: account_name(ctx),
            });
        }
        ctx.persist(self, [AccountEvent::Opened { initial }])
            .await?;
        Ok(self.balance)
    }

    /// Debits `amount` for `transfer` and returns the balance. Debiting twice for the same
    /// transfer debits once.
    ///
    /// # Errors
    ///
    /// [`BankError::InsufficientFunds`] if the balance is below `amount`,
    /// [`BankError::NotOpen`], or [`BankError::Persist`] if the withdrawal could not be made
    /// durable.
    pub async fn debit(
        &mut self,
        ctx: &GrainContext<Self>,
        transfer: String,
        amount: u64,
    ) -> Result<u64, BankError> {
        self.check_open(ctx)?;
        if self.applied(&transfer).debited {
            return Ok(self.balance);
        }
        if self.balance < amount {
            return Err(BankError::InsufficientFunds {
                account: account_name(ctx),
                balance: self.balance,
                requested: amount,
            });
        }
        ctx.persist(self, [AccountEvent::Withdrawn { transfer, amount }])
            .await?;
        Ok(self.balance)
    }

    /// Credits `amount` for `transfer` and returns the balance. Crediting twice for the same
    /// transfer credits once.
    ///
    /// # Errors
    ///
    /// [`BankError::NotOpen`], or [`BankError::Persist`] if the deposit could not be made durable.
    pub async fn credit(
        &mut self,
        ctx: &GrainContext<Self>,
        transfer: String,
        amount: u64,
    ) -> Result<u64, BankError> {
        self.check_open(ctx)?;
        if self.applied(&transfer).credited {
            return Ok(self.balance);
        }
        ctx.persist(self, [AccountEvent::Deposited { transfer, amount }])
            .await?;
        Ok(self.balance)
    }

    /// Gives back the debit of `transfer` and returns the balance. Refunding twice refunds once.
    ///
    /// # Errors
    ///
    /// [`BankError::InvalidTransfer`] if this account holds no unsettled debit for `transfer`
    /// (a refund must never create money), or [`BankError::Persist`].
    pub async fn refund(
        &mut self,
        ctx: &GrainContext<Self>,
        transfer: String,
        amount: u64,
    ) -> Result<u64, BankError> {
        let legs = self.applied(&transfer);
        if legs.refunded {
            return Ok(self.balance);
        }
        if !legs.debited {
            return Err(BankError::InvalidTransfer {
                transfer,
                reason: format!("{} holds no debit to refund", account_name(ctx)),
            });
        }
        ctx.persist(self, [AccountEvent::Refunded { transfer, amount }])
            .await?;
        Ok(self.balance)
    }

    /// Forgets `transfer`, which its saga has finished. A transfer this account does not remember
    /// is ignored without a write.
    ///
    /// # Errors
    ///
    /// [`BankError::Persist`] if the settlement could not be made durable; the transfer is then
    /// still remembered, which is harmless.
    pub async fn settle(
        &mut self,
        ctx: &GrainContext<Self>,
        transfer: String,
    ) -> Result<(), BankError> {
        if self.unsettled.contains_key(&transfer) {
            ctx.persist(self, [AccountEvent::Settled { transfer }])
                .await?;
        }
        Ok(())
    }

    /// The balance; 0 if the account is not open.
    pub async fn balance(&self) -> u64 {
        self.balance
    }

    /// The balance and the transfers in flight through this account.
    pub async fn statement(&self) -> Statement {
        Statement {
            open: self.open,
            balance: self.balance,
            unsettled: self.unsettled.keys().cloned().collect(),
        }
    }

    fn check_open(&self, ctx: &GrainContext<Self>) -> Result<(), BankError> {
        if self.open {
            Ok(())
        } else {
            Err(BankError::NotOpen {
                account: account_name(ctx),
            })
        }
    }

    fn applied(&self, transfer: &str) -> Legs {
        self.unsettled.get(transfer).copied().unwrap_or_default()
    }

    fn legs(&mut self, transfer: &str) -> &mut Legs {
        self.unsettled.entry(transfer.to_owned()).or_default()
    }
}

/// The account's key, as callers name it.
fn account_name(ctx: &GrainContext<Account>) -> String {
    crate::key_text(&ctx.id().key)
}

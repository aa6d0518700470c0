//! The errors a caller or a silo builder can get, each saying what happened and to which grain.

use std::fmt;
use std::time::Duration;

use crate::id::{GrainId, GrainKind};

/// Why a call to a grain did not produce the method's return value.
///
/// Every variant names the grain and the method, so that a log line alone tells what failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The deadline passed before the reply arrived. If the message was still queued then, it is
    /// dropped unexecuted; if its turn had already started, the turn runs to its end.
    #[error("call to {grain}.{method} timed out after {after:?}")]
    Timeout {
        /// The grain called.
        grain: GrainId,
        /// The method called.
        method: &'static str,
        /// The deadline the call had.
        after: Duration,
    },
    /// The method panicked. The activation was discarded; the next call re-activates the grain.
    #[error("grain {grain} panicked in {method}: {message}")]
    Panicked {
        /// The grain called.
        grain: GrainId,
        /// The method called.
        method: &'static str,
        /// The panic message.
        message: String,
    },
    /// The grain could not be activated: its state could not be recovered from storage, or its
    /// `on_activate` hook panicked. The call was not run.
    #[error("activation of {grain} failed, {method} was not executed: {message}")]
    ActivationFailed {
        /// The grain called.
        grain: GrainId,
        /// The method called.
        method: &'static str,
        /// What went wrong: the storage error or the hook's panic message.
        message: String,
    },
    /// The grain's mailbox held its full capacity of messages; this one was not queued.
    #[error("mailbox of {grain} is full ({capacity} messages), {method} was not delivered")]
    MailboxFull {
        /// The grain called.
        grain: GrainId,
        /// The method called.
        method: &'static str,
        /// The mailbox capacity of the grain's type.
        capacity: usize,
    },
    /// The silo is shutting down and accepts no new work for this grain.
    #[error("silo is shutting down, call to {grain}.{method} was not accepted")]
    ShuttingDown {
        /// The grain called.
        grain: GrainId,
        /// The method called.
        method: &'static str,
    },
    /// The call would wait on a turn that is itself waiting on this call.
    #[error("call to {grain}.{method} would deadlock: {chain}")]
    Deadlock {
        /// The grain called.
        grain: GrainId,
        /// The method called.
        method: &'static str,
        /// The chain of waiting calls, as `A -> B -> A`.
        chain: String,
    },
    /// The silo that owns the grain could not be reached, or it is down and holds the grain's
    /// state, so the grain cannot run anywhere else without losing it. Retry later.
    #[error("{grain} is unavailable, {method} was not executed: {reason}")]
    Unavailable {
        /// The grain called.
        grain: GrainId,
        /// The method called.
        method: &'static str,
        /// Which silo, and why it cannot take the call.
        reason: String,
    },
    /// The connection to the silo running the call closed after the call was sent and before its
    /// reply arrived: the call may have run there, or not. Sending it again is safe only if the
    /// method is idempotent.
    #[error("call to {grain}.{method} was interrupted and may or may not have run: {reason}")]
    Interrupted {
        /// The grain called.
        grain: GrainId,
        /// The method called.
        method: &'static str,
        /// Which connection closed, and why.
        reason: String,
    },
    /// A silo refused the call as malformed: it does not know the kind or the method (a silo of
    /// another version), or the arguments or the reply could not be decoded.
    #[error("call to {grain}.{method} was rejected: {reason}")]
    Rejected {
        /// The grain called.
        grain: GrainId,
        /// The method called.
        method: &'static str,
        /// What the silo could not accept.
        reason: String,
    },
    /// No grain type of this kind was registered on the silo.
    #[error(
        "grain kind `{kind}` is not registered on this silo: add `.register::<{kind}>()` to the silo builder"
    )]
    Unregistered {
        /// The kind that was called.
        kind: GrainKind,
    },
}

/// Why a silo could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SiloError {
    /// Two registered grain types use the same kind name.
    #[error(
        "grain kind `{kind}` is registered twice: each grain type needs its own name, set one with #[grain(kind = \"...\")]"
    )]
    DuplicateKind {
        /// The kind name used twice.
        kind: GrainKind,
    },
    /// A setting has a value the silo cannot run with.
    #[error("invalid silo setting `{setting}`: {reason}")]
    InvalidConfig {
        /// The setting's name.
        setting: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// A journaled or persistent grain type was registered on a silo without storage.
    #[error(
        "grain kind `{kind}` keeps durable state but the silo has no storage: add `.storage(Storage::redb(dir)?)` to the silo builder"
    )]
    NoStorage {
        /// The durable grain kind.
        kind: GrainKind,
    },
    /// `start` was called outside a tokio runtime.
    #[error("a silo must be started inside a tokio runtime (call start() from async code)")]
    NoRuntime,
    /// The silo could not listen on its address.
    #[error("silo cannot listen on {address}: {reason}")]
    Bind {
        /// The address it tried.
        address: std::net::SocketAddr,
        /// The operating system's reason.
        reason: String,
    },
    /// The silo could not join the cluster's membership.
    #[error("silo cannot join the cluster: {0}")]
    Membership(String),
}

/// The message of a panic caught in a turn or a lifecycle hook.
///
/// Boxed so that a turn's outcome, `Result<(), Panicked>`, is one word: it is then returned in
/// registers, where a 24-byte `String` went through memory on every turn.
#[derive(Debug)]
pub(crate) struct Panicked(
    #[expect(
        clippy::box_collection,
        reason = "a thin pointer keeps the outcome one word"
    )]
    Box<String>,
);

impl Panicked {
    /// The message of the panic whose payload is `payload`.
    pub(crate) fn of(payload: &(dyn std::any::Any + Send)) -> Self {
        Self(Box::new(panic_message(payload)))
    }
}

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The text of a panic payload, for error messages.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

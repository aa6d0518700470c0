//! [`MembershipError`]: why membership could not start or a wait did not succeed.

use std::net::SocketAddr;
use std::time::Duration;

/// Why [`Membership`](super::Membership) could not start, or why a wait on its view ended
/// without the view the caller asked for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MembershipError {
    /// A configuration value is unusable; the message names the field and the rule it breaks.
    #[error("bad config: {0}")]
    BadConfig(String),
    /// A seed is not of the form `host:port`.
    #[error("invalid seed {seed:?}: {reason}")]
    InvalidSeed {
        /// The seed as given.
        seed: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The gossip UDP socket could not be bound (address in use, not local, no permission).
    #[error("cannot bind UDP address {addr}: {source}")]
    Bind {
        /// The gossip listen address.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The gossip server failed to start for a reason other than binding its socket.
    #[error("cannot start gossip on {addr}: {reason}")]
    Start {
        /// The gossip listen address.
        addr: SocketAddr,
        /// chitchat's description of the failure.
        reason: String,
    },
    /// [`Membership::wait_for`](super::Membership::wait_for) timed out.
    #[error("cluster view did not reach the expected state within {waited:?}; last view: {last}")]
    Timeout {
        /// How long the caller waited.
        waited: Duration,
        /// The last view seen, as `v<version> [name(status), ..]`.
        last: String,
    },
    /// The membership agent stopped, so the view will not change any more.
    #[error("membership agent stopped")]
    Stopped,
}

//! [`Peers`]: the links this side keeps to each silo it calls, re-established with backoff.
//!
//! A link that closed after it had connected is replaced at once, on the next call. A link that
//! never connected counts as a failed attempt: calls to that peer then fail fast with the reason
//! until the backoff (doubling from 50 ms up to 5 s) has passed, so that a dead silo costs its
//! callers no connect timeouts.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use dashmap::DashMap;
use tokio::time::Instant;

use super::TransportSettings;
use super::link::{Learn, Link};

const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

enum Lane {
    Empty,
    /// A link, and the backoff that applies if it closes without ever connecting.
    Open {
        link: Arc<Link>,
        backoff: Duration,
    },
    BackingOff {
        until: Instant,
        backoff: Duration,
        reason: String,
    },
}

/// The lanes (connections) to one peer.
struct Peer {
    lanes: Vec<Mutex<Lane>>,
}

/// The links to every peer this side has called.
pub(crate) struct Peers {
    settings: Arc<TransportSettings>,
    peers: DashMap<SocketAddr, Arc<Peer>>,
    /// Takes the owners that replies name.
    learn: Learn,
}

impl Peers {
    pub(crate) fn new(settings: Arc<TransportSettings>, learn: Learn) -> Self {
        Self {
            settings,
            peers: DashMap::new(),
            learn,
        }
    }

    /// The largest frame this side sends or accepts.
    pub(crate) fn max_frame(&self) -> usize {
        self.settings.max_frame
    }

    /// A link to `addr` for calls that hash to `lane`, or why the peer cannot be reached now.
    pub(crate) fn link(&self, addr: SocketAddr, lane: u64) -> Result<Arc<Link>, String> {
        let peer = match self.peers.get(&addr) {
            Some(peer) => Arc::clone(&peer),
            None => Arc::clone(&self.peers.entry(addr).or_insert_with(|| {
                Arc::new(Peer {
                    lanes: (0..self.settings.links_per_peer.max(1))
                        .map(|_| Mutex::new(Lane::Empty))
                        .collect(),
                })
            })),
        };
        let index = (lane % peer.lanes.len() as u64) as usize;
        let mut slot = peer.lanes[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let backoff = match &*slot {
            Lane::Open { link, .. } if !link.is_closed() => return Ok(Arc::clone(link)),
            Lane::Open { link, backoff } if !link.was_connected() => {
                let reason = link.closed_reason();
                *slot = Lane::BackingOff {
                    until: Instant::now() + *backoff,
                    backoff: *backoff,
                    reason: reason.clone(),
                };
                return Err(reason);
            }
            Lane::BackingOff { until, reason, .. } if Instant::now() < *until => {
                return Err(reason.clone());
            }
            Lane::BackingOff { backoff, .. } => (*backoff * 2).min(MAX_BACKOFF),
            Lane::Open { .. } | Lane::Empty => FIRST_BACKOFF,
        };
        let link = Arc::new(Link::open(
            addr,
            Arc::clone(&self.settings),
            Arc::clone(&self.learn),
        ));
        *slot = Lane::Open {
            link: Arc::clone(&link),
            backoff,
        };
        Ok(link)
    }

    /// Closes the links to `addr`, failing the asks still waiting on them.
    pub(crate) fn forget(&self, addr: &SocketAddr) {
        self.peers.remove(addr);
    }
}

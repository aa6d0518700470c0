//! [`Router`]: sends each call to the silo that owns its grain, and takes calls from other silos.
//!
//! Every silo and client routes with its own [`Directory`], built from its cluster view. Views
//! converge but are not updated everywhere at once, so a call can reach a silo that no longer (or
//! not yet) owns its grain: that silo forwards it once to the owner by its own view. A call that
//! was already forwarded and still lands on a non-owner is answered with
//! [`Fault::Unavailable`] rather than run, since running it there could create a second
//! activation.

use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::directory::{Directory, Member};
use super::handoff::Handoff;
use crate::call::{CallMeta, Fault};
use crate::id::GrainId;
use crate::silo::SiloShared;
use crate::transport::TransportSettings;
use crate::transport::frame::RequestHead;
use crate::transport::link::Unsent;
use crate::transport::listener::Inbound;
use crate::transport::peers::Peers;
use crate::wire_call::RemoteReply;

/// Where a call goes.
pub(crate) enum Destination {
    /// This silo owns the grain.
    Here,
    /// Another silo owns it; `lane` picks the connection, the same for all calls to one grain.
    There { owner: Member, lane: u64 },
    /// No silo is active, so no one owns it.
    Unplaced,
}

/// Routes calls by the directory of one silo or client.
pub(crate) struct Router {
    name: String,
    /// The deadline of asks made through refs that have no catalog to take it from.
    ask_timeout: Duration,
    directory: RwLock<Arc<Directory>>,
    peers: Peers,
    /// The silo whose catalogs run the calls owned here; dangling for a client.
    silo: Weak<SiloShared>,
    handoff: Handoff,
    /// This router, for the tasks it spawns.
    this: Weak<Router>,
}

impl Router {
    /// A router for the silo (or client) named in `settings`.
    pub(crate) fn new(
        settings: TransportSettings,
        ask_timeout: Duration,
        silo: Weak<SiloShared>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|this| Self {
            name: settings.name.clone(),
            ask_timeout,
            directory: RwLock::new(Arc::new(Directory::empty())),
            peers: Peers::new(Arc::new(settings)),
            silo,
            handoff: Handoff::default(),
            this: this.clone(),
        })
    }

    /// Where this silo's grain state is held and how it moves.
    pub(crate) fn handoff(&self) -> &Handoff {
        &self.handoff
    }

    /// The silo this router serves, while it exists.
    pub(crate) fn silo(&self) -> Option<Arc<SiloShared>> {
        self.silo.upgrade()
    }

    /// This side's name in the cluster.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The default deadline of asks.
    pub(crate) fn ask_timeout(&self) -> Duration {
        self.ask_timeout
    }

    /// The directory calls are routed by now.
    pub(crate) fn directory(&self) -> Arc<Directory> {
        Arc::clone(
            &self
                .directory
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Routes by `directory` from now on.
    pub(crate) fn set_directory(&self, directory: Directory) {
        *self
            .directory
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(directory);
    }

    /// Closes the links to a silo that left the cluster, failing the asks still waiting on it.
    pub(crate) fn forget(&self, address: &SocketAddr) {
        self.peers.forget(address);
    }

    /// Where a call to `grain` goes.
    pub(crate) fn destination(&self, grain: &GrainId) -> Destination {
        let directory = self
            .directory
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        match directory.place(grain) {
            (_, None) => Destination::Unplaced,
            (_, Some(owner)) if owner.name == self.name => Destination::Here,
            (lane, Some(owner)) => Destination::There {
                owner: owner.clone(),
                lane,
            },
        }
    }

    /// Sends a call to the silo at `address`.
    pub(crate) fn send(
        &self,
        address: SocketAddr,
        lane: u64,
        head: RequestHead,
        payload: Bytes,
        reply: Option<RemoteReply>,
    ) -> Result<(), Unsent> {
        match self.peers.link(address, lane) {
            Ok(link) => link.call(head, payload, reply),
            Err(reason) => Err(Unsent { reason, reply }),
        }
    }

    /// The reason a call to `grain` finds no silo.
    pub(crate) fn unplaced(&self) -> String {
        format!(
            "no silo is active in the cluster view {} of {}",
            self.directory().version(),
            self.name
        )
    }

    /// Runs a call that this silo owns on its catalog of the grain's kind.
    fn run_here(&self, head: RequestHead, payload: Bytes, reply: Option<RemoteReply>) {
        let Some(silo) = self.silo.upgrade() else {
            return answer(reply, Fault::ShuttingDown);
        };
        let Some(catalog) = silo.kind_catalog(&head.grain.kind) else {
            let reason = format!(
                "silo {} hosts no grain kind `{}`",
                self.name, head.grain.kind
            );
            return answer(reply, Fault::Rejected(reason));
        };
        let meta = CallMeta::remote(
            head.deadline_us
                .map(|us| Instant::now() + Duration::from_micros(us)),
            head.correlation,
        );
        catalog.deliver_wire(head.grain.key, &head.method, &payload, meta, reply);
    }
}

impl Inbound for Router {
    fn request(&self, mut head: RequestHead, payload: Bytes, reply: Option<RemoteReply>) {
        if head.method.starts_with('$') {
            return match self.this.upgrade() {
                Some(router) => router.serve_control(head, payload, reply),
                None => answer(reply, Fault::ShuttingDown),
            };
        }
        match self.destination(&head.grain) {
            Destination::Here => self.run_here(head, payload, reply),
            Destination::There { owner, lane } if !head.forwarded => {
                head.forwarded = true;
                if let Err(unsent) = self.send(owner.address, lane, head, payload, reply) {
                    answer(unsent.reply, Fault::Unavailable(unsent.reason));
                }
            }
            Destination::There { owner, .. } => {
                let reason = format!(
                    "{} was forwarded to silo {}, whose cluster view {} places it on {}: the views are settling, retry",
                    head.grain,
                    self.name,
                    self.directory().version(),
                    owner.name
                );
                answer(reply, Fault::Unavailable(reason));
            }
            Destination::Unplaced => answer(reply, Fault::Unavailable(self.unplaced())),
        }
    }
}

fn answer(reply: Option<RemoteReply>, fault: Fault) {
    if let Some(reply) = reply {
        reply(Err(fault));
    }
}

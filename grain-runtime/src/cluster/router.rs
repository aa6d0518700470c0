//! [`Router`]: sends each call to the silo that owns its grain, and takes calls from other silos.
//!
//! Every silo and client routes with its own [`Directory`], built from its cluster view. Views
//! converge but are not updated everywhere at once, so a call can reach a silo that no longer (or
//! not yet) owns its grain: that silo forwards it once to the owner by its own view. A call that
//! was already forwarded and still lands on a non-owner is answered with [`Fault::Refused`]
//! rather than run, since running it there could create a second activation; the caller sends
//! it again once the views have had time to settle.

use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::directory::{Directory, Member};
use super::directory_of;
use super::handoff::Handoff;
use crate::call::{CallMeta, Fault};
use crate::id::GrainId;
use crate::membership::{ClusterView, SiloInfo};
use crate::reference::RefHome;
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

    /// Where refs in the replies this router receives are resolved: its silo, or itself on a
    /// client.
    pub(crate) fn ref_home(self: &Arc<Self>) -> RefHome {
        if self.silo.strong_count() > 0 {
            RefHome::Silo(self.silo.clone())
        } else {
            RefHome::Client(Arc::clone(self))
        }
    }

    /// This side's name in the cluster.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The largest frame this side sends or accepts.
    pub(crate) fn max_frame(&self) -> usize {
        self.peers.max_frame()
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

    /// Routes by `view` from now on, and closes the links to the silos of `previous` that are
    /// not in it, failing the asks still waiting on them.
    pub(crate) fn follow_view(&self, previous: &ClusterView, view: &ClusterView) {
        self.set_directory(directory_of(view));
        let gone = |old: &&SiloInfo| view.members.iter().all(|new| new.address != old.address);
        for silo in previous.members.iter().filter(gone) {
            self.peers.forget(&silo.address);
        }
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

    /// Sends a call like [`send`](Self::send); if the call is [refused](Fault::Refused) while
    /// the cluster settles, it is routed and sent again after a backoff, until `deadline` is
    /// near or [`RETRY_FOR`] has passed, and only then is the caller told.
    pub(crate) fn send_retrying(
        self: &Arc<Self>,
        address: SocketAddr,
        lane: u64,
        head: RequestHead,
        payload: Bytes,
        reply: Option<RemoteReply>,
        deadline: Option<Instant>,
    ) -> Result<(), Unsent> {
        let reply = match (reply, deadline) {
            (Some(reply), Some(deadline)) => {
                let give_up = (Instant::now() + RETRY_FOR)
                    .min(deadline.checked_sub(RETRY_MARGIN).unwrap_or(deadline));
                let resend = Resend {
                    router: Arc::downgrade(self),
                    head: head.clone(),
                    payload: payload.clone(),
                    deadline,
                    give_up,
                    delay: FIRST_RETRY,
                };
                Some(retrying(resend, reply))
            }
            (reply, _) => reply,
        };
        self.send(address, lane, head, payload, reply)
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
                answer(reply, Fault::Refused(reason));
            }
            Destination::Unplaced => answer(reply, Fault::Unavailable(self.unplaced())),
        }
    }
}

/// How long a refused call is sent again, at most, before its caller is told.
pub(crate) const RETRY_FOR: Duration = Duration::from_secs(2);
/// The wait before the first resend; it doubles up to [`MAX_RETRY_DELAY`].
pub(crate) const FIRST_RETRY: Duration = Duration::from_millis(10);
pub(crate) const MAX_RETRY_DELAY: Duration = Duration::from_millis(200);
/// Resending stops this long before the call's deadline, so that the caller gets the refusal
/// rather than a timeout.
const RETRY_MARGIN: Duration = Duration::from_millis(50);

/// What it takes to send a refused call again.
struct Resend {
    router: Weak<Router>,
    head: RequestHead,
    payload: Bytes,
    deadline: Instant,
    give_up: Instant,
    delay: Duration,
}

/// Wraps `reply` so that a refusal sends the call again instead of reaching the caller, while
/// there is time.
fn retrying(resend: Resend, reply: RemoteReply) -> RemoteReply {
    Box::new(move |result| match result {
        Err(Fault::Refused(reason)) if Instant::now() + resend.delay < resend.give_up => {
            tokio::spawn(async move {
                tokio::time::sleep(resend.delay).await;
                let Some(router) = resend.router.upgrade() else {
                    return reply(Err(Fault::Refused(reason)));
                };
                let mut head = resend.head.clone();
                let left = resend.deadline.saturating_duration_since(Instant::now());
                head.deadline_us = Some(u64::try_from(left.as_micros()).unwrap_or(u64::MAX));
                head.forwarded = false;
                let payload = resend.payload.clone();
                let next = Resend {
                    delay: (resend.delay * 2).min(MAX_RETRY_DELAY),
                    ..resend
                };
                router.request(head, payload, Some(retrying(next, reply)));
            });
        }
        other => reply(other),
    })
}

fn answer(reply: Option<RemoteReply>, fault: Fault) {
    if let Some(reply) = reply {
        reply(Err(fault));
    }
}

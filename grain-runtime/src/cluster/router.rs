//! [`Router`]: sends each call to the silo that owns its grain, and takes calls from other silos.
//!
//! Every silo and client routes with its own [`Directory`], built from its cluster view. Views
//! converge but are not updated everywhere at once, so a call can reach a silo that no longer (or
//! not yet) owns its grain: that silo forwards it once to the owner by its own view. A call that
//! was already forwarded and still lands on a non-owner is answered with [`Fault::Refused`]
//! rather than run, since running it there could create a second activation; the caller sends
//! it again once the views have had time to settle.
//!
//! The reply to a forwarded call names the owner, and the caller sends the grain's next calls
//! there directly (see [`Owners`]) until its own view changes.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::directory::{Directory, Member};
use super::directory_of;
use super::handoff::Handoff;
use super::owners::Owners;
use crate::call::{CallMeta, Fault};
use crate::id::GrainId;
use crate::membership::{ClusterView, SiloInfo};
use crate::reference::RefHome;
use crate::silo::SiloShared;
use crate::transport::TransportSettings;
use crate::transport::frame::{OwnerHint, RequestHead};
use crate::transport::link::Unsent;
use crate::transport::listener::{Inbound, Replier};
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
    /// Owners learned from the replies to forwarded calls, ahead of this side's view.
    owners: Owners,
    /// Calls that arrived for a grain another silo owns and were passed on to it.
    forwarded: AtomicU64,
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
        Arc::new_cyclic(|this: &Weak<Router>| {
            let learner = this.clone();
            let learn = Arc::new(move |hint: OwnerHint| {
                if let Some(router) = learner.upgrade() {
                    router.learn_owner(hint);
                }
            });
            Self {
                name: settings.name.clone(),
                ask_timeout,
                directory: RwLock::new(Arc::new(Directory::empty())),
                owners: Owners::default(),
                forwarded: AtomicU64::new(0),
                peers: Peers::new(Arc::new(settings), learn),
                silo,
                handoff: Handoff::default(),
                this: this.clone(),
            }
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

    /// Calls that arrived here for a grain another silo owns and were passed on to it.
    pub(crate) fn forwarded(&self) -> u64 {
        self.forwarded.load(Ordering::Relaxed)
    }

    /// Routes by `directory` from now on. If it places grains on other silos than the last
    /// one did, the owners learned under the last one are dropped: the new view may know better.
    pub(crate) fn set_directory(&self, directory: Directory) {
        let mut current = self
            .directory
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if !current.same_owners(&directory) {
            self.owners.clear();
        }
        *current = Arc::new(directory);
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

    /// Where a call to `grain` goes by this side's view: who owns it here, whatever was learned.
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

    /// Takes the owner named by the reply to a forwarded call, for a grain this side's view
    /// places on another silo: a grain it runs itself, or cannot place, needs no entry (and
    /// [`dispatch`](Self::dispatch) only ever sends grains placed elsewhere). An owner that the
    /// view names already, or this side itself, replaces what was learned with nothing.
    fn learn_owner(&self, hint: OwnerHint) {
        let Destination::There { owner, .. } = self.destination(&hint.grain) else {
            return;
        };
        if hint.silo == self.name || hint.silo == owner.name {
            self.owners.forget(&hint.grain);
        } else {
            let owner = Member {
                name: hint.silo,
                address: hint.address,
            };
            self.owners.learn(hint.grain, owner);
        }
    }

    /// Sends a call from this side to `owner`, the grain's owner by its view, unless it learned
    /// another owner for the grain. A learned owner that cannot be reached is dropped, and the
    /// call goes to `owner`.
    fn dispatch(
        &self,
        owner: &Member,
        lane: u64,
        head: RequestHead,
        payload: Bytes,
        reply: Option<RemoteReply>,
    ) -> Result<(), Unsent> {
        let reply = match self.owners.get(&head.grain) {
            Some(learned) => {
                match self.send(learned.address, lane, head.clone(), payload.clone(), reply) {
                    Ok(()) => return Ok(()),
                    Err(unsent) => {
                        self.owners.forget(&head.grain);
                        unsent.reply
                    }
                }
            }
            None => reply,
        };
        self.send(owner.address, lane, head, payload, reply)
    }

    /// Routes a call from this side afresh by its view: runs it here, or dispatches it.
    fn route(
        &self,
        head: RequestHead,
        payload: Bytes,
        reply: Option<RemoteReply>,
    ) -> Result<(), Unsent> {
        match self.destination(&head.grain) {
            Destination::Here => {
                self.run_here(head, payload, reply);
                Ok(())
            }
            Destination::There { owner, lane } => self.dispatch(&owner, lane, head, payload, reply),
            Destination::Unplaced => Err(Unsent {
                reason: self.unplaced(),
                reply,
            }),
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

    /// Sends a call from this side to `owner`, the grain's owner by its view (see
    /// [`dispatch`](Self::dispatch)); if the call is [refused](Fault::Refused) while the cluster
    /// settles, it is routed and sent again after a backoff, until `deadline` is near or
    /// [`RETRY_FOR`] has passed, and only then is the caller told.
    pub(crate) fn send_retrying(
        self: &Arc<Self>,
        owner: &Member,
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
        self.dispatch(owner, lane, head, payload, reply)
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
    fn request(&self, mut head: RequestHead, payload: Bytes, replier: Option<Replier>) {
        if head.method.starts_with('$') {
            let reply = replier.map(Replier::into_reply);
            return match self.this.upgrade() {
                Some(router) => router.serve_control(head, payload, reply),
                None => answer(reply, Fault::ShuttingDown),
            };
        }
        match self.destination(&head.grain) {
            Destination::Here => self.run_here(head, payload, replier.map(Replier::into_reply)),
            Destination::There { owner, lane } if !head.forwarded => {
                head.forwarded = true;
                self.forwarded.fetch_add(1, Ordering::Relaxed);
                let reply = replier.map(|replier| {
                    let hint = OwnerHint {
                        grain: head.grain.clone(),
                        silo: owner.name.clone(),
                        address: owner.address,
                    };
                    replier.passed_to(hint).into_reply()
                });
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
                answer(replier.map(Replier::into_reply), Fault::Refused(reason));
            }
            Destination::Unplaced => answer(
                replier.map(Replier::into_reply),
                Fault::Unavailable(self.unplaced()),
            ),
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
/// there is time. A call refused, unavailable or interrupted also drops the owner learned for
/// its grain.
fn retrying(resend: Resend, reply: RemoteReply) -> RemoteReply {
    Box::new(move |result| {
        if let Err(Fault::Refused(_) | Fault::Unavailable(_) | Fault::Interrupted(_)) = &result
            && let Some(router) = resend.router.upgrade()
        {
            router.owners.forget(&resend.head.grain);
        }
        match result {
            Err(Fault::Refused(reason)) if Instant::now() + resend.delay < resend.give_up => {
                tokio::spawn(resend_later(resend, reply, reason));
            }
            other => reply(other),
        }
    })
}

/// Sends a refused call again after its backoff, routed afresh.
async fn resend_later(resend: Resend, reply: RemoteReply, reason: String) {
    tokio::time::sleep(resend.delay).await;
    let Some(router) = resend.router.upgrade() else {
        return reply(Err(Fault::Refused(reason)));
    };
    let mut head = resend.head.clone();
    let left = resend.deadline.saturating_duration_since(Instant::now());
    head.deadline_us = Some(u64::try_from(left.as_micros()).unwrap_or(u64::MAX));
    let payload = resend.payload.clone();
    let next = Resend {
        delay: (resend.delay * 2).min(MAX_RETRY_DELAY),
        ..resend
    };
    if let Err(unsent) = router.route(head, payload, Some(retrying(next, reply))) {
        answer(unsent.reply, Fault::Unavailable(unsent.reason));
    }
}

fn answer(reply: Option<RemoteReply>, fault: Fault) {
    if let Some(reply) = reply {
        reply(Err(fault));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::GrainKind;

    fn member(name: &str, port: u16) -> Member {
        Member {
            name: name.to_string(),
            address: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    fn hint(grain: &GrainId, owner: &Member) -> OwnerHint {
        OwnerHint {
            grain: grain.clone(),
            silo: owner.name.clone(),
            address: owner.address,
        }
    }

    /// A router named `me` whose directory holds `members`, and a grain each of them owns.
    fn router(members: &[Member]) -> (Arc<Router>, Vec<GrainId>) {
        let settings = TransportSettings::new("test", "me");
        let router = Router::new(settings, Duration::from_secs(1), Weak::new());
        router.set_directory(Directory::new(1, members.to_vec()));
        let owned_by = |member: &Member| {
            (0u64..)
                .map(|key| GrainId::new(GrainKind::from_static("Counter"), key))
                .find(|grain| router.directory().place(grain).1 == Some(member))
                .unwrap()
        };
        let grains = members.iter().map(owned_by).collect();
        (router, grains)
    }

    #[test]
    fn a_learned_owner_routes_until_the_view_changes_owners() {
        let (a, b, c) = (member("a", 1), member("b", 2), member("c", 3));
        let (router, grains) = router(&[a.clone(), b.clone()]);
        router.learn_owner(hint(&grains[0], &c));
        assert_eq!(router.owners.get(&grains[0]), Some(c.clone()));
        assert_eq!(router.owners.get(&grains[1]), None);
        router.set_directory(Directory::new(7, vec![b.clone(), a.clone()]));
        assert_eq!(
            router.owners.get(&grains[0]),
            Some(c.clone()),
            "the same owners under another version keep what was learned"
        );
        router.set_directory(Directory::new(8, vec![a, b, c]));
        assert_eq!(router.owners.get(&grains[0]), None);
    }

    #[test]
    fn only_owners_the_view_does_not_name_are_learned() {
        let (a, b, c) = (member("a", 1), member("b", 2), member("c", 3));
        let (router, grains) = router(&[a.clone(), b.clone(), member("me", 4)]);
        router.learn_owner(hint(&grains[0], &c));
        router.learn_owner(hint(&grains[0], &a));
        assert_eq!(router.owners.get(&grains[0]), None, "the view names a");
        router.learn_owner(hint(&grains[1], &member("me", 4)));
        assert_eq!(router.owners.get(&grains[1]), None, "never itself");
        router.learn_owner(hint(&grains[2], &b));
        assert_eq!(
            router.owners.get(&grains[2]),
            None,
            "a grain its view places here runs here"
        );
    }

    #[tokio::test]
    async fn an_unreachable_learned_owner_is_dropped_for_the_view() {
        let (a, c) = (member("a", 1), member("c", 3));
        let (router, grains) = router(std::slice::from_ref(&a));
        router.learn_owner(hint(&grains[0], &c));
        let refused = Arc::new(std::sync::Mutex::new(None));
        let seen = Arc::clone(&refused);
        let reply: RemoteReply = Box::new(move |result| *seen.lock().unwrap() = Some(result));
        let head = RequestHead {
            id: 0,
            grain: grains[0].clone(),
            method: "add".into(),
            deadline_us: Some(100_000),
            correlation: 0,
            forwarded: false,
        };
        let deadline = Instant::now() + Duration::from_millis(100);
        let _ = router.send_retrying(&a, 0, head, Bytes::new(), Some(reply), Some(deadline));
        for _ in 0..500 {
            if refused.lock().unwrap().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let result = refused.lock().unwrap().take();
        assert!(
            matches!(result, Some(Err(Fault::Unavailable(_)))),
            "{result:?}"
        );
        assert_eq!(router.owners.get(&grains[0]), None);
    }
}

//! [`VirtualActorRef`]: the handle through which every call to a grain starts.

use std::cell::RefCell;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tokio::time::Instant;

use crate::activation::{Catalog, Envelope, Lending, Undelivered};
use crate::call::{self, CallMeta, Fault, TURN};
use crate::cluster::{Destination, Member, Router};
use crate::error::CallError;
use crate::grain::{Grain, GrainMethods};
use crate::id::{GrainId, GrainKey, GrainKind};
use crate::silo::SiloShared;
use crate::transport::frame::RequestHead;
use crate::wire_call::RemoteReply;

/// The identity of a grain plus the way to reach it; what the generated methods send through.
#[doc(hidden)]
pub struct RefCore<G: Grain> {
    id: GrainId,
    /// This silo's activations of `G`, if it hosts the kind.
    catalog: Option<Arc<Catalog<G>>>,
    /// Routes calls to the owning silo, on a cluster member or a client.
    router: Option<Arc<Router>>,
}

impl<G: Grain> RefCore<G> {
    pub(crate) fn new(
        key: GrainKey,
        catalog: Option<Arc<Catalog<G>>>,
        router: Option<Arc<Router>>,
    ) -> Self {
        Self {
            id: GrainId::new(GrainKind::from_static(G::KIND), key),
            catalog,
            router,
        }
    }

    /// The grain's identity.
    pub fn id(&self) -> &GrainId {
        &self.id
    }

    pub(crate) fn default_ask_timeout(&self) -> Duration {
        match (&self.catalog, &self.router) {
            (Some(catalog), _) => catalog.settings().ask_timeout,
            (None, Some(router)) => router.ask_timeout(),
            (None, None) => Duration::ZERO,
        }
    }

    /// Sends a call without waiting for its result.
    pub fn tell(&self, call: G::Call) -> Result<(), CallError> {
        self.send(call, false, false, &mut |_, _| {}).map(drop)
    }

    /// Sends a call to the grain's activation, on this silo (activating it if needed) or on the
    /// silo that owns it. An ask that may `lend` and finds its local activation idle may get the
    /// call or the turn loop back to run itself; a call sent from a timer never does. `attach`
    /// binds the reply slot of an ask and stamps its deadline, unless the call itself is handed
    /// back: a turn its asker runs needs neither.
    // Inlined into an ask's poll (see `AskFuture::send`).
    #[inline(always)]
    pub(crate) fn send(
        &self,
        mut call: G::Call,
        ask: bool,
        lend: bool,
        attach: &mut dyn FnMut(&mut G::Call, &mut CallMeta),
    ) -> Result<Option<Lending<'_, G>>, CallError> {
        let method = G::__method(&call);
        if let Some(router) = &self.router {
            match router.destination(&self.id) {
                Destination::Here => {}
                Destination::There { owner, lane } => {
                    let mut meta = call::outgoing(&self.id, method, G::__interleaves(&call), ask)?;
                    attach(&mut call, &mut meta);
                    return self
                        .send_to(router, &owner, lane, call, meta)
                        .map(|()| None);
                }
                Destination::Unplaced => {
                    return Err(CallError::Unavailable {
                        grain: self.id.clone(),
                        method,
                        reason: router.unplaced(),
                    });
                }
            }
        }
        let Some(catalog) = &self.catalog else {
            return Err(CallError::Unregistered {
                kind: self.id.kind.clone(),
            });
        };
        let meta = call::outgoing(&self.id, method, G::__interleaves(&call), ask)?;
        let lend = ask && lend && meta.timer_of.is_none();
        catalog
            .deliver(&self.id.key, Envelope { call, meta }, lend, attach)
            .map_err(|(undelivered, _)| match undelivered {
                Undelivered::MailboxFull(capacity) => CallError::MailboxFull {
                    grain: self.id.clone(),
                    method,
                    capacity,
                },
                Undelivered::ShuttingDown => CallError::ShuttingDown {
                    grain: self.id.clone(),
                    method,
                },
            })
    }

    /// Encodes a call and sends it to the silo `owner`.
    fn send_to(
        &self,
        router: &Arc<Router>,
        owner: &Member,
        lane: u64,
        call: G::Call,
        meta: CallMeta,
    ) -> Result<(), CallError> {
        send_remote::<G>(router, &self.id, owner, lane, call, &meta).map_err(|unsent| {
            unsent
                .fault
                .into_call_error(self.id.clone(), unsent.method, Duration::ZERO)
        })
    }
}

/// A call that could not be sent to another silo, with its reply slot so that the caller can
/// still be told.
pub(crate) struct Unrouted {
    pub(crate) method: &'static str,
    pub(crate) fault: Fault,
    pub(crate) reply: Option<RemoteReply>,
}

/// Encodes a call to `grain` and sends it to the silo `owner` (or to the owner the router
/// learned for it), sending it again while the cluster settles (see [`Router::send_retrying`]).
pub(crate) fn send_remote<G: Grain>(
    router: &Arc<Router>,
    grain: &GrainId,
    owner: &Member,
    lane: u64,
    call: G::Call,
    meta: &CallMeta,
) -> Result<(), Unrouted> {
    let wire = G::__to_wire(call);
    let payload = match wire.payload {
        Ok(payload) => payload,
        Err(e) => {
            return Err(Unrouted {
                method: wire.method,
                fault: Fault::Rejected(format!("the arguments cannot be encoded: {e}")),
                reply: wire.reply,
            });
        }
    };
    let head = RequestHead {
        id: 0,
        grain: grain.clone(),
        method: wire.method.to_string(),
        deadline_us: meta.deadline.map(|deadline| {
            let left = deadline.saturating_duration_since(Instant::now());
            u64::try_from(left.as_micros()).unwrap_or(u64::MAX)
        }),
        correlation: meta.correlation,
        forwarded: false,
    };
    let reply = wire.reply.map(|reply| -> RemoteReply {
        let home = router.ref_home();
        Box::new(move |result| decoding_for(home, || reply(result)))
    });
    router
        .send_retrying(owner, lane, head, payload.into(), reply, meta.deadline)
        .map_err(|unsent| Unrouted {
            method: wire.method,
            fault: Fault::Unavailable(unsent.reason),
            reply: unsent.reply,
        })
}

impl<G: Grain> Clone for RefCore<G> {
    fn clone(&self) -> Self {
        Self {
            id: self.id.clone(),
            catalog: self.catalog.clone(),
            router: self.router.clone(),
        }
    }
}

/// A cheap, cloneable, serializable handle to one grain.
///
/// The grain always "exists": calling a method activates it on first use. Ask methods are
/// called on the ref directly (`counter.add(1).await?`); tells go through [`tell`](Self::tell).
/// Cloning copies the id and one reference-counted pointer.
///
/// # Examples
///
/// ```
/// # use grain_runtime::prelude::*;
/// #[grain]
/// #[derive(Default)]
/// pub struct Counter { value: u64 }
///
/// #[grain]
/// impl Counter {
///     pub async fn add(&mut self, n: u64) -> u64 { self.value += n; self.value }
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let silo = Silo::builder().register::<Counter>().start().await?;
/// let alice = silo.grain::<Counter>("alice");
/// assert_eq!(alice.add(5).await?, 5);
/// alice.tell().add(1)?;
/// assert_eq!(alice.add(0).await?, 6);
/// # Ok(()) }
/// ```
pub struct VirtualActorRef<G: Grain> {
    methods: G::Methods,
    _grain: PhantomData<fn() -> G>,
}

impl<G: Grain> VirtualActorRef<G> {
    pub(crate) fn from_core(core: RefCore<G>) -> Self {
        Self {
            methods: G::Methods::from_core(core),
            _grain: PhantomData,
        }
    }

    /// The identity of the grain this ref addresses.
    pub fn id(&self) -> &GrainId {
        self.methods.core().id()
    }

    /// The fire-and-forget form of the grain's methods: each returns once the message is queued.
    ///
    /// # Errors
    ///
    /// Each method fails if the mailbox is full, the silo is shutting down, or the kind is not registered.
    pub fn tell(&self) -> G::Tell<'_> {
        G::Tell::from(self.methods.core())
    }

    pub(crate) fn core(&self) -> &RefCore<G> {
        self.methods.core()
    }
}

impl<G: Grain> Deref for VirtualActorRef<G> {
    type Target = G::Methods;

    fn deref(&self) -> &G::Methods {
        &self.methods
    }
}

impl<G: Grain> Clone for VirtualActorRef<G> {
    fn clone(&self) -> Self {
        Self {
            methods: self.methods.clone(),
            _grain: PhantomData,
        }
    }
}

impl<G: Grain> fmt::Debug for VirtualActorRef<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VirtualActorRef({})", self.id())
    }
}

impl<G: Grain> PartialEq for VirtualActorRef<G> {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl<G: Grain> Eq for VirtualActorRef<G> {}

impl<G: Grain> Hash for VirtualActorRef<G> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id().hash(state);
    }
}

impl<G: Grain> Serialize for VirtualActorRef<G> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.id().key.serialize(serializer)
    }
}

/// Where refs that arrive over the network are resolved: on the silo or client that decodes the
/// call or reply carrying them, so that calls through them route from there.
#[derive(Clone)]
pub(crate) enum RefHome {
    /// A silo: refs reach its catalogs for the grains it owns, and its router for the rest.
    Silo(Weak<SiloShared>),
    /// A client: refs route through its router.
    Client(Arc<Router>),
}

impl RefHome {
    fn resolve<G: Grain>(self, key: GrainKey) -> VirtualActorRef<G> {
        match self {
            RefHome::Silo(silo) => crate::silo::resolve::<G>(&silo, key),
            RefHome::Client(router) => {
                VirtualActorRef::from_core(RefCore::new(key, None, Some(router)))
            }
        }
    }
}

thread_local! {
    /// Set while a call or reply that arrived over the network is decoded.
    static DECODING_FOR: RefCell<Option<RefHome>> = const { RefCell::new(None) };
}

/// Runs `decode`, which decodes a call or reply that arrived over the network, with the refs in
/// it resolved against `home`.
pub(crate) fn decoding_for<T>(home: RefHome, decode: impl FnOnce() -> T) -> T {
    struct Restore(Option<RefHome>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            DECODING_FOR.with(|current| *current.borrow_mut() = previous);
        }
    }
    let _restore = Restore(DECODING_FOR.with(|current| current.replace(Some(home))));
    decode()
}

/// A ref carries only its key on the wire. It is resolved against the silo or client decoding
/// the call or reply it arrived in, or else against the silo of the running turn.
impl<'de, G: Grain> Deserialize<'de> for VirtualActorRef<G> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let key = GrainKey::deserialize(deserializer)?;
        let home = DECODING_FOR
            .with(|current| current.borrow().clone())
            .or_else(|| {
                TURN.try_with(|turn| RefHome::Silo(crate::silo::silo_at(turn.silo)))
                    .ok()
            })
            .ok_or_else(|| {
                D::Error::custom(format!(
                    "a VirtualActorRef<{}> can only be deserialized inside a grain turn, or in a \
                     call or reply that a silo or client received, where its silo is known",
                    G::KIND
                ))
            })?;
        Ok(home.resolve::<G>(key))
    }
}

//! [`Link`]: one outbound connection to a silo, carrying many calls at once.
//!
//! A link is usable as soon as it is created: calls queue while it connects and shakes hands,
//! and each ask waits in the pending table under its request id until its reply frame arrives.
//! When the connection fails or closes, every pending ask is answered with
//! [`Fault::Unavailable`], so no caller waits for its deadline on a dead socket.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures::StreamExt as _;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio_util::codec::FramedRead;

use super::frame::{FrameCodec, Head, OwnerHint, RequestHead};
use super::writer::{Outgoing, Queue, write_frames};
use super::{TransportSettings, read_head, send_head};
use crate::call::Fault;
use crate::wire_call::RemoteReply;

/// Asks waiting for their replies, and whether the link can still take more.
struct Pending {
    calls: HashMap<u64, RemoteReply>,
    /// Why the link stopped, once it has.
    closed: Option<String>,
}

struct Shared {
    peer: SocketAddr,
    pending: Mutex<Pending>,
    /// Set once the handshake succeeded.
    connected: AtomicBool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn answer(&self, id: u64, result: Result<Vec<u8>, Fault>) {
        let reply = self.lock().calls.remove(&id);
        if let Some(reply) = reply {
            reply(result);
        }
    }

    /// Marks the link closed and fails every pending ask.
    fn close(&self, reason: String) {
        let calls = {
            let mut pending = self.lock();
            if pending.closed.is_none() {
                pending.closed = Some(reason.clone());
            }
            std::mem::take(&mut pending.calls)
        };
        if !calls.is_empty() {
            tracing::debug!(peer = %self.peer, failed = calls.len(), %reason, "link closed");
        }
        for (_, reply) in calls {
            reply(Err(Fault::Unavailable(reason.clone())));
        }
    }
}

/// Where a link passes the owners that replies name (see [`OwnerHint`]).
pub(crate) type Learn = Arc<dyn Fn(OwnerHint) + Send + Sync>;

/// A call the link could not take: why, and the reply slot, so that its caller can be told.
pub(crate) struct Unsent {
    pub(crate) reason: String,
    pub(crate) reply: Option<RemoteReply>,
}

/// One multiplexed connection to a peer.
pub(crate) struct Link {
    shared: Arc<Shared>,
    queue: Queue,
    next_id: AtomicU64,
    task: AbortHandle,
}

impl Link {
    /// Starts connecting to `peer`; calls made before the connection is up wait for it.
    pub(crate) fn open(peer: SocketAddr, settings: Arc<TransportSettings>, learn: Learn) -> Self {
        let shared = Arc::new(Shared {
            peer,
            pending: Mutex::new(Pending {
                calls: HashMap::new(),
                closed: None,
            }),
            connected: AtomicBool::new(false),
        });
        let (queue, outgoing) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(Arc::clone(&shared), outgoing, settings, learn)).abort_handle();
        Self {
            shared,
            queue,
            next_id: AtomicU64::new(1),
            task,
        }
    }

    /// Sends a call; for an ask, `reply` receives the encoded result or the fault that replaced it.
    pub(crate) fn call(
        &self,
        mut head: RequestHead,
        payload: Bytes,
        reply: Option<RemoteReply>,
    ) -> Result<(), Unsent> {
        if let Some(reply) = reply {
            head.id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let mut pending = self.shared.lock();
            if let Some(reason) = &pending.closed {
                return Err(Unsent {
                    reason: reason.clone(),
                    reply: Some(reply),
                });
            }
            pending.calls.insert(head.id, reply);
        }
        let id = head.id;
        let is_ask = head.is_ask();
        let sent = self.queue.send(Outgoing {
            head: Head::Request(head),
            payload,
        });
        if sent.is_ok() {
            return Ok(());
        }
        let reply = if is_ask {
            self.shared.lock().calls.remove(&id)
        } else {
            None
        };
        Err(Unsent {
            reason: self.closed_reason(),
            reply,
        })
    }

    /// Whether the link has stopped; a new one must be opened to reach the peer.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.lock().closed.is_some()
    }

    /// Whether the handshake ever succeeded: a link that closed without connecting counts as a
    /// failed attempt for the reconnection backoff.
    pub(crate) fn was_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Acquire)
    }

    /// Why the link stopped, or a generic reason if it has not.
    pub(crate) fn closed_reason(&self) -> String {
        self.shared
            .lock()
            .closed
            .clone()
            .unwrap_or_else(|| format!("connection to {} closed", self.shared.peer))
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
        self.shared
            .close(format!("connection to {} was closed", self.shared.peer));
    }
}

/// Connects, shakes hands, then reads replies while a second task writes the queued calls.
async fn run(
    shared: Arc<Shared>,
    outgoing: mpsc::UnboundedReceiver<Outgoing>,
    settings: Arc<TransportSettings>,
    learn: Learn,
) {
    let peer = shared.peer;
    let stream = match connect(peer, &settings).await {
        Ok(stream) => stream,
        Err(reason) => {
            shared.close(reason);
            return;
        }
    };
    let (read, write) = stream.into_split();
    let mut frames = FramedRead::new(read, FrameCodec::new(settings.max_frame));
    let mut write = write;
    if let Err(reason) = greet(&mut frames, &mut write, &settings, peer).await {
        shared.close(reason);
        return;
    }
    shared.connected.store(true, Ordering::Release);
    let writer_shared = Arc::clone(&shared);
    let busy_shared = Arc::clone(&shared);
    let writer = tokio::spawn(write_frames(
        write,
        outgoing,
        settings.max_frame,
        // Another ask besides the one being written is waiting for its reply.
        move || busy_shared.lock().calls.len() > 1,
        move |head, reason| {
            if let Head::Request(request) = head
                && request.is_ask()
            {
                writer_shared.answer(request.id, Err(Fault::Rejected(reason)));
            }
            None
        },
    ));
    let reason = loop {
        match frames.next().await {
            Some(Ok(frame)) => match frame.head {
                Head::Reply { id, fault, owner } => {
                    if let Some(owner) = owner {
                        learn(owner);
                    }
                    shared.answer(
                        id,
                        match fault {
                            None => Ok(frame.payload.to_vec()),
                            Some(fault) => Err(fault),
                        },
                    );
                }
                Head::Refused { reason } => {
                    break format!("silo at {peer} closed the connection: {reason}");
                }
                other => break format!("silo at {peer} sent an unexpected frame: {other:?}"),
            },
            Some(Err(e)) => break format!("connection to silo at {peer} failed: {e}"),
            None => break format!("silo at {peer} closed the connection"),
        }
    };
    writer.abort();
    shared.close(reason);
}

/// Introduces this side and waits for the peer's greeting.
async fn greet(
    frames: &mut FramedRead<OwnedReadHalf, FrameCodec>,
    write: &mut OwnedWriteHalf,
    settings: &TransportSettings,
    peer: SocketAddr,
) -> Result<(), String> {
    let hello = Head::Hello {
        cluster: settings.cluster.clone(),
        from: settings.name.clone(),
    };
    send_head(write, &hello, settings.max_frame)
        .await
        .map_err(|e| format!("cannot greet silo at {peer}: {e}"))?;
    match read_head(frames, settings.handshake_timeout).await {
        Ok(Head::Hello { .. }) => Ok(()),
        Ok(Head::Refused { reason }) => {
            Err(format!("silo at {peer} refused the connection: {reason}"))
        }
        Ok(other) => Err(format!(
            "silo at {peer} answered the greeting with {other:?}"
        )),
        Err(e) => Err(format!("no greeting from silo at {peer}: {e}")),
    }
}

async fn connect(peer: SocketAddr, settings: &TransportSettings) -> Result<TcpStream, String> {
    let stream = tokio::time::timeout(settings.connect_timeout, TcpStream::connect(peer))
        .await
        .map_err(|_| {
            format!(
                "cannot connect to silo at {peer}: no answer within {:?}",
                settings.connect_timeout
            )
        })?
        .map_err(|e| format!("cannot connect to silo at {peer}: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("cannot configure the connection to {peer}: {e}"))?;
    Ok(stream)
}

//! [`Link`]: one outbound connection to a silo, carrying many calls at once.
//!
//! A link is usable as soon as it is created: calls queue while it connects and shakes hands,
//! and each ask waits in the pending table under its request id until its reply frame arrives.
//! When the connection fails or closes, every pending ask is answered at once, so no caller
//! waits for its deadline on a dead socket: with [`Fault::Unavailable`] if the connection never
//! got past the handshake, so nothing was sent, else with [`Fault::Interrupted`], since the call
//! may have run.
//!
//! A link that is dropped (its silo left the view, or it was replaced) stops taking calls, but
//! the asks it already sent keep the connection until they are answered or their deadlines
//! pass: the peer may still be running them. So does a link whose peer refuses further calls
//! (it is shutting down, or found a bad frame): the peer answers what it read before it closes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Notify, mpsc};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_util::codec::FramedRead;

use super::frame::{FrameCodec, Head, OwnerHint, RequestHead};
use super::writer::{Outgoing, Queue, write_frames};
use super::{TransportSettings, read_head, send_head};
use crate::call::Fault;
use crate::wire_call::RemoteReply;

/// Asks waiting for their replies, and whether the link can still take more.
struct Pending {
    calls: HashMap<u64, RemoteReply>,
    /// The latest deadline of the asks sent: a released link waits for answers until then.
    latest_deadline: Instant,
    /// Why the link stopped, once it has.
    closed: Option<String>,
    /// Set when the link was dropped with asks still waiting for their replies.
    released: bool,
}

struct Shared {
    peer: SocketAddr,
    pending: Mutex<Pending>,
    /// Set once the handshake succeeded.
    connected: AtomicBool,
    /// Signalled when the link is released.
    release: Notify,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Answers ask `id`. Returns whether the link is released and has no ask left to answer.
    fn answer(&self, id: u64, result: Result<Vec<u8>, Fault>) -> bool {
        let (reply, done) = {
            let mut pending = self.lock();
            let reply = pending.calls.remove(&id);
            (reply, pending.released && pending.calls.is_empty())
        };
        if let Some(reply) = reply {
            reply(result);
        }
        done
    }

    /// Marks the link released if asks still wait on it; returns whether none does, so that it
    /// can close at once.
    fn release(&self) -> bool {
        let mut pending = self.lock();
        if pending.calls.is_empty() {
            return true;
        }
        pending.released = true;
        drop(pending);
        self.release.notify_one();
        false
    }

    /// Stops taking calls, for `reason`, while the asks already sent wait for their replies.
    /// Returns whether none waits, so that the connection can close at once.
    fn refused(&self, reason: String) -> bool {
        let mut pending = self.lock();
        pending.closed.get_or_insert(reason);
        pending.calls.is_empty()
    }

    /// Waits until the link is released and the deadlines of the asks it sent have passed.
    async fn release_expired(&self) -> String {
        self.release.notified().await;
        let until = self.lock().latest_deadline;
        tokio::time::sleep_until(until).await;
        format!(
            "connection to {} was closed, and its replies did not come before their deadlines",
            self.peer
        )
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
        if calls.is_empty() {
            return;
        }
        // Calls are written only once the handshake is done.
        let sent = self.connected.load(Ordering::Acquire);
        tracing::debug!(peer = %self.peer, failed = calls.len(), sent, %reason, "link closed");
        for (_, reply) in calls {
            let reason = reason.clone();
            reply(Err(if sent {
                Fault::Interrupted(reason)
            } else {
                Fault::Unavailable(reason)
            }));
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
                latest_deadline: Instant::now(),
                closed: None,
                released: false,
            }),
            connected: AtomicBool::new(false),
            release: Notify::new(),
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
            let deadline = Instant::now() + Duration::from_micros(head.deadline_us.unwrap_or(0));
            let mut pending = self.shared.lock();
            if let Some(reason) = &pending.closed {
                return Err(Unsent {
                    reason: reason.clone(),
                    reply: Some(reply),
                });
            }
            pending.calls.insert(head.id, reply);
            pending.latest_deadline = pending.latest_deadline.max(deadline);
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

/// Closes the queue, so that the writer sends what is queued and stops. The connection stays up
/// for the asks already sent (see [`Shared::release`]).
impl Drop for Link {
    fn drop(&mut self) {
        if self.shared.release() {
            self.task.abort();
            self.shared
                .close(format!("connection to {} was closed", self.shared.peer));
        }
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
    let expired = shared.release_expired();
    tokio::pin!(expired);
    let mut refused = None;
    let reason = loop {
        let next = tokio::select! {
            next = frames.next() => next,
            reason = &mut expired => break reason,
        };
        match next {
            Some(Ok(frame)) => match frame.head {
                Head::Reply { id, fault, owner } => {
                    if let Some(owner) = owner {
                        learn(owner);
                    }
                    let result = match fault {
                        None => Ok(frame.payload.to_vec()),
                        Some(fault) => Err(fault),
                    };
                    if shared.answer(id, result) {
                        break format!("connection to {peer} was closed");
                    }
                }
                // The peer reads no more calls, but answers those it read before it closes. Stopping
                // the writer makes calls sent from now on fail instead of going unread.
                Head::Refused { reason } => {
                    writer.abort();
                    let reason = format!("silo at {peer} closed the connection: {reason}");
                    if shared.refused(reason.clone()) {
                        break reason;
                    }
                    refused = Some(reason);
                }
                other => break format!("silo at {peer} sent an unexpected frame: {other:?}"),
            },
            Some(Err(e)) => break format!("connection to silo at {peer} failed: {e}"),
            None => {
                break refused.unwrap_or_else(|| format!("silo at {peer} closed the connection"));
            }
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

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use tokio::io::AsyncWriteExt as _;
    use tokio::net::TcpListener;
    use tokio::sync::oneshot;

    use super::*;
    use crate::id::{GrainId, GrainKey, GrainKind};
    use crate::transport::frame::{self, DEFAULT_MAX_FRAME};

    const CLUSTER: &str = "links";

    fn settings() -> Arc<TransportSettings> {
        Arc::new(TransportSettings::new(CLUSTER, "caller"))
    }

    fn ask(deadline: Duration) -> RequestHead {
        RequestHead {
            id: 0,
            grain: GrainId::new(GrainKind::from_static("Counter"), GrainKey::from("alice")),
            method: "add".into(),
            deadline_us: Some(deadline.as_micros() as u64),
            correlation: 1,
            forwarded: false,
        }
    }

    /// Where the answer to an ask sent by [`send`] arrives.
    type Answer = oneshot::Receiver<Result<Vec<u8>, Fault>>;

    /// Sends an ask over `link`; the receiver gets its answer.
    fn send(link: &Link, deadline: Duration) -> Answer {
        let (tx, rx) = oneshot::channel();
        let reply: RemoteReply = Box::new(move |result| {
            let _ = tx.send(result);
        });
        if link
            .call(ask(deadline), Bytes::from_static(b"args"), Some(reply))
            .is_err()
        {
            panic!("the link refused the ask");
        }
        rx
    }

    /// A silo stand-in on an ephemeral port: it shakes hands and hands over the connection with
    /// the id of the first request it reads.
    async fn peer() -> (SocketAddr, oneshot::Receiver<(u64, TcpStream)>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (read, mut write) = stream.into_split();
            let mut frames = FramedRead::new(read, FrameCodec::new(DEFAULT_MAX_FRAME));
            let timeout = Duration::from_secs(5);
            assert!(matches!(
                read_head(&mut frames, timeout).await,
                Ok(Head::Hello { .. })
            ));
            let hello = Head::Hello {
                cluster: CLUSTER.into(),
                from: "peer".into(),
            };
            send_head(&mut write, &hello, DEFAULT_MAX_FRAME)
                .await
                .unwrap();
            let Ok(Head::Request(request)) = read_head(&mut frames, timeout).await else {
                panic!("expected a request");
            };
            let read = frames.into_inner();
            let _ = tx.send((request.id, read.reunite(write).unwrap()));
        });
        (addr, rx)
    }

    fn reply(id: u64) -> Head {
        Head::Reply {
            id,
            fault: None,
            owner: None,
        }
    }

    /// Writes `frames` to `connection` as the peer.
    async fn write(connection: &mut TcpStream, frames: &[(Head, &[u8])]) {
        let mut out = BytesMut::new();
        for (head, payload) in frames {
            frame::encode(head, payload, DEFAULT_MAX_FRAME, &mut out).unwrap();
        }
        connection.write_all(&out).await.unwrap();
    }

    fn link_to(addr: SocketAddr) -> Link {
        Link::open(addr, settings(), Arc::new(|_| {}))
    }

    /// A link to a [`peer`] with one ask on it, due in `deadline`, which the peer has read.
    async fn ask_read_by_peer(deadline: Duration) -> (Link, Answer, u64, TcpStream) {
        let (addr, accepted) = peer().await;
        let link = link_to(addr);
        let answer = send(&link, deadline);
        let (id, connection) = accepted.await.unwrap();
        (link, answer, id, connection)
    }

    /// The reason of an `Interrupted` answer.
    fn interrupted(answer: Result<Vec<u8>, Fault>) -> String {
        match answer {
            Err(Fault::Interrupted(reason)) => reason,
            other => panic!("expected Interrupted, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_ask_whose_connection_drops_after_it_was_sent_may_have_run() {
        let (_link, answer, _, connection) = ask_read_by_peer(Duration::from_secs(5)).await;
        drop(connection);
        let reason = interrupted(answer.await.unwrap());
        assert!(reason.contains("closed"), "{reason}");
    }

    #[tokio::test]
    async fn an_ask_to_a_silo_that_cannot_be_reached_was_not_sent() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let link = link_to(addr);
        match send(&link, Duration::from_secs(5)).await.unwrap() {
            Err(Fault::Unavailable(reason)) => {
                assert!(reason.contains("cannot connect"), "{reason}");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_dropped_link_still_delivers_the_replies_to_asks_it_sent() {
        let (link, answer, id, mut connection) = ask_read_by_peer(Duration::from_secs(5)).await;
        drop(link);
        write(&mut connection, &[(reply(id), b"42")]).await;
        assert_eq!(answer.await.unwrap(), Ok(b"42".to_vec()));
    }

    #[tokio::test]
    async fn a_peer_that_refuses_further_calls_still_answers_the_asks_it_read() {
        let (link, answer, id, mut connection) = ask_read_by_peer(Duration::from_secs(5)).await;
        let refused = Head::Refused {
            reason: "the silo is shutting down".into(),
        };
        write(&mut connection, &[(refused, b""), (reply(id), b"42")]).await;
        assert_eq!(answer.await.unwrap(), Ok(b"42".to_vec()));
        assert!(link.is_closed(), "a refused link takes no more calls");
        match link.call(
            ask(Duration::from_secs(5)),
            Bytes::new(),
            Some(Box::new(|_| {})),
        ) {
            Err(unsent) => assert!(unsent.reason.contains("shutting down"), "{}", unsent.reason),
            Ok(()) => panic!("a refused link took a call"),
        }
    }

    #[tokio::test]
    async fn a_dropped_link_gives_up_on_its_asks_once_their_deadlines_pass() {
        let (link, answer, _, _connection) = ask_read_by_peer(Duration::from_millis(100)).await;
        drop(link);
        let answer = tokio::time::timeout(Duration::from_secs(10), answer)
            .await
            .expect("the released link kept waiting past the ask's deadline");
        let reason = interrupted(answer.unwrap());
        assert!(reason.contains("deadlines"), "{reason}");
    }
}

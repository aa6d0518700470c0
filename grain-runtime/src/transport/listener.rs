//! The accepting side of the transport: reads calls from connections and hands them to an
//! [`Inbound`] handler, writing each reply back on the connection the call came in on.
//!
//! A connection that sends something that is not a frame (oversized, another version, a garbled
//! head) or a frame out of place is told why and closed; the silo and its other connections go on.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use futures::StreamExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use super::frame::{FrameCodec, Head, OwnerHint, RequestHead};
use super::writer::{Outgoing, Queue, write_frames};
use super::{TransportSettings, read_head, send_head};
use crate::call::Fault;
use crate::wire_call::RemoteReply;

/// What a listener does with the calls it receives.
pub(crate) trait Inbound: Send + Sync + 'static {
    /// Runs or forwards one call; `reply` (absent for a tell) must eventually be answered.
    fn request(&self, head: RequestHead, payload: Bytes, reply: Option<Replier>);
}

/// Accepts connections until `stop` is cancelled, which also closes every connection accepted.
pub(crate) async fn listen(
    listener: TcpListener,
    settings: Arc<TransportSettings>,
    inbound: Arc<dyn Inbound>,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                tokio::spawn(serve(
                    stream,
                    peer,
                    Arc::clone(&settings),
                    Arc::clone(&inbound),
                    stop.clone(),
                ));
            }
            Err(e) => {
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// Serves one connection: greeting, then calls until it closes or misbehaves.
async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    settings: Arc<TransportSettings>,
    inbound: Arc<dyn Inbound>,
    stop: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut frames = FramedRead::new(read, FrameCodec::new(settings.max_frame));
    let from = match read_head(&mut frames, settings.handshake_timeout).await {
        Ok(Head::Hello { cluster, from }) if cluster == settings.cluster => from,
        Ok(Head::Hello { cluster, from }) => {
            let reason = format!(
                "{from} belongs to cluster `{cluster}`, this silo to `{}`",
                settings.cluster
            );
            refuse(&mut write, &reason, &settings, peer).await;
            return;
        }
        Ok(other) => {
            let reason = format!("expected a greeting, got {other:?}");
            refuse(&mut write, &reason, &settings, peer).await;
            return;
        }
        Err(e) => {
            tracing::debug!(%peer, error = %e, "connection closed before its greeting");
            let head = Head::Refused {
                reason: format!("expected a greeting: {e}"),
            };
            let _ = send_head(&mut write, &head, settings.max_frame).await;
            return;
        }
    };
    let hello = Head::Hello {
        cluster: settings.cluster.clone(),
        from: settings.name.clone(),
    };
    if send_head(&mut write, &hello, settings.max_frame)
        .await
        .is_err()
    {
        return;
    }
    tracing::debug!(%peer, %from, "connection accepted");
    let (queue, outgoing) = mpsc::unbounded_channel();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let busy = Arc::clone(&in_flight);
    let writer = tokio::spawn(write_frames(
        write,
        outgoing,
        settings.max_frame,
        move || busy.load(Ordering::Relaxed) > 0,
        |head, reason| match head {
            Head::Reply { id, .. } => Some(Head::Reply {
                id: *id,
                fault: Some(Fault::Rejected(format!(
                    "the reply cannot be sent: {reason}"
                ))),
                owner: None,
            }),
            _ => None,
        },
    ));
    let reason = loop {
        let next = tokio::select! {
            () = stop.cancelled() => break Some("the silo is shutting down".to_string()),
            next = frames.next() => next,
        };
        match next {
            Some(Ok(frame)) => match frame.head {
                Head::Request(head) => {
                    let reply = head.is_ask().then(|| Replier {
                        queue: queue.clone(),
                        id: head.id,
                        in_flight: InFlight::new(&in_flight),
                        owner: None,
                    });
                    inbound.request(head, frame.payload, reply);
                }
                other => break Some(format!("unexpected frame {other:?}")),
            },
            Some(Err(e)) => break Some(e.to_string()),
            None => break None,
        }
    };
    if let Some(reason) = reason {
        if !stop.is_cancelled() {
            tracing::warn!(%peer, %from, %reason, "closing a connection that sent a bad frame");
        }
        let _ = queue.send(Outgoing {
            head: Head::Refused { reason },
            payload: Bytes::new(),
        });
    }
    drop(queue);
    let _ = writer.await;
}

/// Counts an ask of a connection whose reply is not queued yet, until dropped.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(count))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The reply slot of one ask: queues its reply frame on the connection the ask came in on.
pub(crate) struct Replier {
    queue: Queue,
    id: u64,
    in_flight: InFlight,
    owner: Option<OwnerHint>,
}

impl Replier {
    /// Tells the caller, with the reply, that `owner` owns the grain: the call was passed on to
    /// it. A reply that says the call did not run there (refused, unavailable) does not carry it.
    pub(crate) fn passed_to(mut self, owner: OwnerHint) -> Self {
        self.owner = Some(owner);
        self
    }

    /// The slot as the runtime answers calls.
    pub(crate) fn into_reply(self) -> RemoteReply {
        Box::new(move |result| {
            let Self {
                queue,
                id,
                in_flight,
                owner,
            } = self;
            drop(in_flight);
            let (fault, payload) = match result {
                Ok(value) => (None, Bytes::from(value)),
                Err(fault) => (Some(fault), Bytes::new()),
            };
            let ran_there = !matches!(
                fault,
                Some(
                    Fault::Refused(_)
                        | Fault::Unavailable(_)
                        | Fault::Interrupted(_)
                        | Fault::ShuttingDown
                )
            );
            let owner = owner.filter(|_| ran_there);
            let _ = queue.send(Outgoing {
                head: Head::Reply { id, fault, owner },
                payload,
            });
        })
    }
}

async fn refuse(
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    reason: &str,
    settings: &TransportSettings,
    peer: SocketAddr,
) {
    tracing::warn!(%peer, %reason, "refusing a connection");
    let head = Head::Refused {
        reason: reason.to_string(),
    };
    let _ = send_head(write, &head, settings.max_frame).await;
}

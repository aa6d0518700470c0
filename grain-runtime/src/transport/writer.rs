//! The sending half of a connection: frames queued by any task, written in batches.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::frame::{self, Head};

/// A frame waiting to be written.
pub(crate) struct Outgoing {
    pub(crate) head: Head,
    pub(crate) payload: Bytes,
}

/// Frames queued for one connection.
pub(crate) type Queue = mpsc::UnboundedSender<Outgoing>;

/// Writes queued frames until the queue closes or the socket fails.
///
/// Every frame queued while a write is in progress goes out in the next write, so that many
/// small calls share one syscall. When `busy` says more frames are due soon (other calls are in
/// flight on the connection), the writer yields once before writing: the tasks already woken on
/// its worker then queue their frames into the same write, instead of waking the writer again
/// for one frame per syscall. A frame that cannot be encoded (it exceeds `limit`) is handed to
/// `unsendable`, which may return a head to send in its place.
pub(crate) async fn write_frames(
    mut socket: impl AsyncWrite + Unpin,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    limit: usize,
    busy: impl Fn() -> bool,
    mut unsendable: impl FnMut(&Head, String) -> Option<Head>,
) -> std::io::Result<()> {
    /// A batch stops growing here, so that one burst does not hold a huge buffer.
    const BATCH_BYTES: usize = 256 * 1024;
    let mut buffer = BytesMut::with_capacity(16 * 1024);
    while let Some(first) = queue.recv().await {
        let mut next = Some(first);
        let mut yielded = false;
        loop {
            while let Some(outgoing) = next.take() {
                if let Err(reason) =
                    frame::encode(&outgoing.head, &outgoing.payload, limit, &mut buffer)
                    && let Some(substitute) = unsendable(&outgoing.head, reason)
                    && let Err(reason) = frame::encode(&substitute, &[], limit, &mut buffer)
                {
                    tracing::error!(%reason, "cannot encode a substitute frame");
                }
                if buffer.len() < BATCH_BYTES {
                    next = queue.try_recv().ok();
                }
            }
            if yielded || buffer.len() >= BATCH_BYTES || !busy() {
                break;
            }
            tokio::task::yield_now().await;
            yielded = true;
            next = queue.try_recv().ok();
        }
        socket.write_all(&buffer).await?;
        buffer.clear();
    }
    socket.shutdown().await
}

//! The silo transport: how calls and replies travel between silos and clients.
//!
//! Each silo listens on one TCP address ([`listener`]). A caller reaches a peer through a small
//! pool of multiplexed [`link::Link`]s ([`peers`]); calls and replies are [`frame`]s, written in
//! batches ([`writer`]).

pub(crate) mod frame;
pub(crate) mod link;
pub(crate) mod listener;
pub(crate) mod peers;
pub(crate) mod wire;
pub(crate) mod writer;

use std::time::Duration;

use bytes::BytesMut;
use futures::StreamExt as _;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::FramedRead;

use frame::{FrameCodec, Head};

/// How a silo or client talks to its peers.
#[derive(Debug, Clone)]
pub(crate) struct TransportSettings {
    /// The cluster's name: connections from other clusters are refused.
    pub(crate) cluster: String,
    /// This side's name, sent in the greeting.
    pub(crate) name: String,
    /// The largest frame sent or accepted.
    pub(crate) max_frame: usize,
    /// How long opening a connection may take.
    pub(crate) connect_timeout: Duration,
    /// How long the greeting may take once connected.
    pub(crate) handshake_timeout: Duration,
    /// Connections kept to each peer; one grain's calls always share one, keeping their order.
    pub(crate) links_per_peer: usize,
}

impl TransportSettings {
    /// Defaults for a member of `cluster` named `name`.
    pub(crate) fn new(cluster: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            cluster: cluster.into(),
            name: name.into(),
            max_frame: frame::DEFAULT_MAX_FRAME,
            connect_timeout: Duration::from_secs(2),
            handshake_timeout: Duration::from_secs(2),
            links_per_peer: 2,
        }
    }
}

/// Writes one frame with an empty payload, outside the batched writer: used by the handshake.
async fn send_head(
    socket: &mut (impl AsyncWrite + Unpin),
    head: &Head,
    limit: usize,
) -> std::io::Result<()> {
    let mut buffer = BytesMut::new();
    frame::encode(head, &[], limit, &mut buffer).map_err(std::io::Error::other)?;
    socket.write_all(&buffer).await
}

/// Reads one frame's head, waiting at most `timeout`.
async fn read_head<R: AsyncRead + Unpin>(
    frames: &mut FramedRead<R, FrameCodec>,
    timeout: Duration,
) -> Result<Head, String> {
    match tokio::time::timeout(timeout, frames.next()).await {
        Err(_) => Err(format!("nothing within {timeout:?}")),
        Ok(None) => Err("the connection closed".to_string()),
        Ok(Some(Err(e))) => Err(e.to_string()),
        Ok(Some(Ok(frame))) => Ok(frame.head),
    }
}

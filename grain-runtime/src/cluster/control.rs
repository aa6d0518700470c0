//! Requests about the cluster rather than a grain, between silos and from clients: the
//! [`Handoff`](super::handoff::Handoff) protocol and the cluster view. Their method names start
//! with `$`, which no grain method can.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::oneshot;

use super::Router;
use super::handoff::FetchRequest;
use crate::call::Fault;
use crate::id::{GrainId, GrainKind};
use crate::placement::grain_point;
use crate::transport::frame::RequestHead;
use crate::transport::wire;

/// Asks another silo for a grain's state; the payload is a `FetchRequest`.
pub(crate) const FETCH: &str = "$fetch";
/// Tells the lender that the borrower's import is durable; the payload names the borrower.
pub(crate) const RELEASE: &str = "$release";
/// Pushes a piece of a grain's state to its new owner; the payload is the piece.
pub(crate) const ACCEPT: &str = "$accept";
/// Asks the lender of a grain's state for its next piece; the payload is the offset.
pub(crate) const PIECE: &str = "$piece";
/// Asks a silo for its cluster view.
pub(crate) const VIEW: &str = "$view";
/// An operator gives up the state held by a down silo; the payload names it.
pub(crate) const MARK_LOST: &str = "$mark-lost";
/// Asks which incarnations of a silo may hold grain state; the payload names the silo.
pub(crate) const INCARNATIONS: &str = "$incarnations";

/// The id that requests about the whole cluster (its view, marking a silo lost) are sent
/// about; it names no grain.
pub(crate) fn cluster_request() -> GrainId {
    GrainId::new(GrainKind::from_static("$cluster"), 0u64)
}

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

impl Router {
    /// Sends request `method` about `grain` to the silo at `address` and decodes its
    /// answer.
    pub(crate) async fn control<T: serde::de::DeserializeOwned>(
        &self,
        address: SocketAddr,
        grain: &GrainId,
        method: &str,
        body: &(impl Serialize + ?Sized),
    ) -> Result<T, String> {
        let mut payload = Vec::new();
        wire::encode_into(body, &mut payload).map_err(|e| e.to_string())?;
        let head = RequestHead {
            id: 0,
            grain: grain.clone(),
            method: method.to_owned(),
            deadline_us: Some(REQUEST_TIMEOUT.as_micros() as u64),
            correlation: 0,
            forwarded: false,
        };
        let (tx, rx) = oneshot::channel();
        let reply = Box::new(move |result: Result<Vec<u8>, Fault>| {
            let _ = tx.send(result);
        });
        self.send(
            address,
            grain_point(grain),
            head,
            payload.into(),
            Some(reply),
        )
        .map_err(|unsent| unsent.reason)?;
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, rx)
            .await
            .map_err(|_| format!("no answer within {REQUEST_TIMEOUT:?}"))?
            .map_err(|_| "the connection closed".to_string())?
            .map_err(|fault| format!("{fault:?}"))?;
        wire::decode_prefix(&answer)
            .map(|(value, _)| value)
            .map_err(|e| e.to_string())
    }

    /// Runs a request that arrived from another silo, answering it when done.
    pub(crate) fn serve_control(
        self: &Arc<Self>,
        head: RequestHead,
        payload: bytes::Bytes,
        reply: Option<crate::wire_call::RemoteReply>,
    ) {
        let router = Arc::clone(self);
        tokio::spawn(async move {
            let answer = router.run_control(head, &payload).await;
            if let Some(reply) = reply {
                reply(answer);
            }
        });
    }

    async fn run_control(&self, head: RequestHead, payload: &[u8]) -> Result<Vec<u8>, Fault> {
        let rejected = |e: wire::WireError| Fault::Rejected(e.to_string());
        let grain = head.grain;
        let mut out = Vec::new();
        match head.method.as_str() {
            FETCH => {
                let (request, _): (FetchRequest, _) =
                    wire::decode_prefix(payload).map_err(rejected)?;
                let fetched = self.handoff().lend(self, grain, request).await?;
                wire::encode_into(&fetched, &mut out).map_err(rejected)?;
            }
            RELEASE => {
                let (by, _): (String, _) = wire::decode_prefix(payload).map_err(rejected)?;
                self.handoff().release(self, &grain, &by).await?;
                wire::encode_into(&(), &mut out).map_err(rejected)?;
            }
            ACCEPT => {
                let (piece, _) = wire::decode_prefix(payload).map_err(rejected)?;
                self.handoff().accept(self, grain, piece).await?;
                wire::encode_into(&(), &mut out).map_err(rejected)?;
            }
            PIECE => {
                let (offset, _): (u64, _) = wire::decode_prefix(payload).map_err(rejected)?;
                let piece = self.handoff().lent_piece(self, &grain, offset)?;
                wire::encode_into(&piece, &mut out).map_err(rejected)?;
            }
            VIEW => {
                wire::encode_into(&*self.handoff().view(), &mut out).map_err(rejected)?;
            }
            MARK_LOST => {
                let (name, _): (String, _) = wire::decode_prefix(payload).map_err(rejected)?;
                let marked = self.handoff().mark_lost(&name);
                wire::encode_into(&marked, &mut out).map_err(rejected)?;
            }
            INCARNATIONS => {
                let (name, _): (String, _) = wire::decode_prefix(payload).map_err(rejected)?;
                wire::encode_into(&self.handoff().may_hold(&name), &mut out).map_err(rejected)?;
            }
            other => {
                return Err(Fault::Rejected(format!(
                    "unknown cluster request `{other}`"
                )));
            }
        }
        Ok(out)
    }
}

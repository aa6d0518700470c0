//! [`Handoff`]: grain state follows ownership between silos that each keep it in their own store.
//!
//! A silo activating a durable grain it holds no state for asks every other live member for it
//! (`$fetch`). The member holding it deactivates its activation, marks its copy as lent and
//! sends it, in pieces that each fit in a frame (see [`transfer`]); the new owner imports it
//! durably and tells the lender to delete its copy (`$release`). A silo leaving gracefully
//! pushes the state it holds to the grains' new owners (`$accept`) before it says [`HandedOff`](crate::membership::SiloStatus::HandedOff). A member
//! that vanishes without saying so may have taken state with it ([`Knowledge`]): while it is
//! down, a grain whose state no live member holds is unavailable rather than activated empty,
//! until the member returns or an operator marks it lost.
//!
//! A silo that is itself acquiring a grain answers a `$fetch` for it with "busy". Of two silos
//! acquiring the same grain at once, the one with the larger name gives up and the other waits
//! for it, so exactly one of them proceeds and a history never forks.

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use dashmap::DashSet;
use futures::future::join_all;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;

mod knowledge;
mod transfer;

pub(crate) use knowledge::Knowledge;
use transfer::{Piece, Transfers};

use super::Router;
use super::control::{ACCEPT, FETCH, RELEASE};
use crate::call::Fault;
use crate::id::GrainId;
use crate::membership::{ClusterView, Incarnation, SiloInfo, SiloStatus};
use crate::persistence::custody::{Custody, GrainState};
use crate::persistence::{Storage, StoreError};
use crate::silo::SiloShared;

/// A store error as the fault a caller gets: the state cannot be had now.
fn unavailable(error: StoreError) -> Fault {
    Fault::Unavailable(error.to_string())
}

/// The silo's store, if it keeps grain state that must follow ownership.
fn local_custody(silo: &SiloShared) -> Option<Arc<dyn Custody>> {
    silo.storage()?.custody().cloned()
}

/// How long an acquiring silo waits for a busy peer before giving up.
const BUSY_WAIT: Duration = Duration::from_secs(2);

/// A member's answer to [`FETCH`].
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum Fetched {
    /// The first piece of the state, now lent to the asking silo; it reads the others with
    /// `$piece`.
    Held(Piece),
    /// This member holds nothing for the grain. It says which members it knows and which
    /// silos it considers down, so that an asker whose view is behind does not conclude that
    /// nobody holds the state.
    NotHere {
        known: Vec<String>,
        held: Vec<Incarnation>,
    },
    /// This member keeps a copy it lent to a silo that has not confirmed taking it; the copy
    /// ends at `last_seq`.
    Lent { last_seq: u64 },
    /// This member is acquiring the grain itself.
    Acquiring,
    /// This member is handing the grain's state to another silo.
    Moving,
}

/// A [`FETCH`] request.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct FetchRequest {
    /// The asking silo.
    pub(super) from: String,
    /// Give the asker a lent copy: set once every live member has answered that nobody else
    /// holds the state, so the lent copy is an orphan its borrower never took.
    pub(super) orphan: bool,
}

/// What one silo knows and does about where grain state is held.
#[derive(Default)]
pub(crate) struct Handoff {
    /// Grains this silo is acquiring.
    acquiring: DashSet<GrainId>,
    /// Grains whose state this silo is handing to another silo.
    pub(super) moving: DashSet<GrainId>,
    view: RwLock<Arc<ClusterView>>,
    custody: Mutex<Knowledge>,
    /// This silo's own knowledge, as it must be published in gossip.
    published: watch::Sender<Knowledge>,
    /// States crossing to or from this silo in pieces.
    transfers: Transfers,
}

impl Handoff {
    /// Takes a new view; returns the one it replaces.
    pub(crate) fn follow(&self, view: Arc<ClusterView>) -> Arc<ClusterView> {
        let previous = std::mem::replace(
            &mut *self.view.write().unwrap_or_else(PoisonError::into_inner),
            Arc::clone(&view),
        );
        let mut knowledge = self.knowledge();
        let before = knowledge.clone();
        knowledge.follow(&previous, &view);
        if *knowledge != before {
            self.published.send_replace(knowledge.clone());
        }
        previous
    }

    /// A receiver of this silo's knowledge each time it changes, to publish it.
    pub(crate) fn published(&self) -> watch::Receiver<Knowledge> {
        self.published.subscribe()
    }

    /// Gives up the state held by the down incarnations of silo `name`: their grains activate
    /// elsewhere from what the live members hold, or empty. Returns the incarnations given up.
    pub(crate) fn mark_lost(&self, name: &str) -> Vec<Incarnation> {
        let view = self.view();
        let mut knowledge = self.knowledge();
        let marked: Vec<Incarnation> = knowledge
            .held(&view)
            .into_iter()
            .filter(|down| down.name == name)
            .collect();
        for incarnation in &marked {
            tracing::warn!(%incarnation, "marked lost by an operator: the state it held is given up");
            knowledge.down.remove(incarnation);
            knowledge.lost.insert(incarnation.clone());
        }
        if !marked.is_empty() {
            self.published.send_replace(knowledge.clone());
        }
        marked
    }

    /// The view this silo follows.
    pub(crate) fn view(&self) -> Arc<ClusterView> {
        Arc::clone(&self.view.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The incarnations of silo `name` that may hold grain state, as this silo sees them: the
    /// down ones, and the one in its view if it took grains (active or leaving) and has not
    /// handed off. A silo restarting under `name` must bring the data directory of each of them,
    /// even one that crashed so recently that no view has dropped it yet.
    pub(crate) fn may_hold(&self, name: &str) -> Vec<Incarnation> {
        let mut found: Vec<Incarnation> = self
            .held()
            .into_iter()
            .filter(|down| down.name == name)
            .collect();
        if let Some(silo) = self.view().get(name)
            && matches!(silo.status, SiloStatus::Active | SiloStatus::Leaving)
        {
            found.push(silo.incarnation());
        }
        found
    }

    /// The incarnations that are down and may hold grain state.
    pub(crate) fn held(&self) -> Vec<Incarnation> {
        let view = self.view();
        self.knowledge().held(&view)
    }

    fn knowledge(&self) -> std::sync::MutexGuard<'_, Knowledge> {
        self.custody.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Brings the state of `grain` into this silo's store, from whichever live member holds
    /// it; succeeds at once if the store holds it already. The error says why it cannot be had.
    pub(crate) async fn acquire(
        &self,
        router: &Router,
        grain: &GrainId,
        storage: &Storage,
        custody: &Arc<dyn Custody>,
    ) -> Result<(), Fault> {
        if self.moving.contains(grain) {
            return Err(Fault::Refused(format!(
                "the state of {grain} is being handed to another silo; retry"
            )));
        }
        let lent_to = custody.lent_to(grain).await.map_err(unavailable)?;
        let last_seq = storage
            .journal()
            .last_seq(grain)
            .await
            .map_err(unavailable)?;
        if lent_to.is_none() && last_seq > 0 {
            return Ok(());
        }
        if !self.acquiring.insert(grain.clone()) {
            return Err(Fault::Refused(format!(
                "{grain} is already being acquired here; retry"
            )));
        }
        let own_lent = lent_to.map(|_| last_seq);
        let outcome = self.ask_members(router, grain, custody, own_lent).await;
        self.acquiring.remove(grain);
        outcome
    }

    /// Asks every other live member for the grain's state and imports it from the one that
    /// holds it. With no holder, the grain starts empty only if no member knows of a silo this
    /// one has not seen and none is down; an orphaned lent copy (here, `own_lent`, or at a
    /// member) is taken back instead, the newest one if there are several.
    async fn ask_members(
        &self,
        router: &Router,
        grain: &GrainId,
        custody: &Arc<dyn Custody>,
        own_lent: Option<u64>,
    ) -> Result<(), Fault> {
        let view = self.view();
        let me = router.name();
        let give_up = Instant::now() + BUSY_WAIT;
        // A silo that has handed off holds nothing any more, and is about to stop answering.
        let holds = |m: &&SiloInfo| m.name != me && m.status != SiloStatus::HandedOff;
        let mut asking: Vec<_> = view.members.iter().filter(holds).collect();
        let mut held = self.held();
        let mut failure = None;
        let mut lent = Vec::new();
        let request = FetchRequest {
            from: me.to_owned(),
            orphan: false,
        };
        while !asking.is_empty() {
            let asks = asking
                .iter()
                .map(|peer| router.control::<Fetched>(peer.address, grain, FETCH, &request));
            let answers = join_all(asks).await;
            let mut waiting = Vec::new();
            for (peer, answer) in asking.into_iter().zip(answers) {
                match answer {
                    Ok(Fetched::Held(state)) => {
                        return self.take(router, grain, custody, peer, state).await;
                    }
                    Ok(Fetched::NotHere { known, held: down }) => {
                        if let Some(unseen) = known
                            .iter()
                            .find(|name| *name != me && view.get(name).is_none())
                        {
                            failure.get_or_insert(Fault::Refused(format!(
                                "silo {} knows silo {unseen}, which silo {me} has not seen yet: the views are settling, retry",
                                peer.name
                            )));
                        }
                        held.extend(down);
                    }
                    Ok(Fetched::Lent { last_seq }) => lent.push((last_seq, peer)),
                    Ok(Fetched::Acquiring) if peer.name.as_str() < me => {
                        failure.get_or_insert(Fault::Refused(format!(
                            "silo {} is activating {grain} at the same time; retry",
                            peer.name
                        )));
                    }
                    Ok(Fetched::Acquiring | Fetched::Moving) if Instant::now() < give_up => {
                        waiting.push(peer);
                    }
                    Ok(Fetched::Acquiring | Fetched::Moving) => {
                        failure.get_or_insert(Fault::Refused(format!(
                            "silo {} is still moving the state of {grain}; retry",
                            peer.name
                        )));
                    }
                    Err(reason) => {
                        failure.get_or_insert(Fault::Unavailable(format!(
                            "cannot ask silo {}, which may hold the state of {grain}: {reason}",
                            peer.name
                        )));
                    }
                }
            }
            if !waiting.is_empty() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            asking = waiting;
        }
        if let Some(failure) = failure {
            return Err(failure);
        }
        if let Some(down) = held.first() {
            return Err(Fault::Unavailable(format!(
                "the state of {grain} may be held by silo {down}, which is down: calls fail until it returns or an operator marks it lost"
            )));
        }
        let newest = lent.into_iter().max_by_key(|(last_seq, _)| *last_seq);
        let theirs = newest.filter(|(theirs, _)| own_lent.is_none_or(|ours| *theirs > ours));
        if let Some((_, peer)) = theirs {
            let request = FetchRequest {
                from: me.to_owned(),
                orphan: true,
            };
            return match router
                .control::<Fetched>(peer.address, grain, FETCH, &request)
                .await
            {
                Ok(Fetched::Held(state)) => self.take(router, grain, custody, peer, state).await,
                Ok(other) => Err(Fault::Refused(format!(
                    "silo {} did not give up its orphaned copy of {grain} ({other:?}); retry",
                    peer.name
                ))),
                Err(reason) => Err(Fault::Unavailable(format!(
                    "cannot ask silo {}: {reason}",
                    peer.name
                ))),
            };
        }
        if own_lent.is_some() {
            tracing::warn!(%grain, "taking back a lent copy that no silo took");
            return custody.reclaim(grain).await.map_err(unavailable);
        }
        tracing::debug!(%grain, "no silo holds the grain's state; it starts empty");
        Ok(())
    }

    /// Imports state lent by `lender` and tells it to delete its copy.
    async fn take(
        &self,
        router: &Router,
        grain: &GrainId,
        custody: &Arc<dyn Custody>,
        lender: &SiloInfo,
        first: Piece,
    ) -> Result<(), Fault> {
        let state = transfer::receive(router, lender.address, grain, first).await?;
        custody.import(grain, state).await.map_err(unavailable)?;
        tracing::debug!(%grain, from = %lender.name, "took the grain's state");
        if let Err(reason) = router
            .control::<()>(lender.address, grain, RELEASE, router.name())
            .await
        {
            tracing::warn!(%grain, lender = %lender.name, "the lender keeps a lent copy: {reason}");
        }
        Ok(())
    }

    /// The answer of a member that holds nothing for a grain.
    fn not_here(&self) -> Fetched {
        let view = self.view();
        Fetched::NotHere {
            known: view.members.iter().map(|m| m.name.clone()).collect(),
            held: self.held(),
        }
    }

    /// Answers [`FETCH`]: deactivates the grain here and lends its state to the asker.
    pub(super) async fn lend(
        &self,
        router: &Router,
        grain: GrainId,
        request: FetchRequest,
    ) -> Result<Fetched, Fault> {
        if self.acquiring.contains(&grain) {
            return Ok(Fetched::Acquiring);
        }
        if !self.moving.insert(grain.clone()) {
            return Ok(Fetched::Moving);
        }
        let lent = self.lend_moving(router, &grain, &request).await;
        self.moving.remove(&grain);
        lent
    }

    async fn lend_moving(
        &self,
        router: &Router,
        grain: &GrainId,
        request: &FetchRequest,
    ) -> Result<Fetched, Fault> {
        let silo = router.silo().ok_or(Fault::ShuttingDown)?;
        if let Some(catalog) = silo.kind_catalog(&grain.kind) {
            catalog.deactivate(&grain.key).await;
        }
        let Some(custody) = local_custody(&silo) else {
            return Ok(self.not_here());
        };
        if let Some(state) = custody.export(grain).await.map_err(unavailable)? {
            custody
                .lend(grain, &request.from)
                .await
                .map_err(unavailable)?;
            tracing::debug!(%grain, to = %request.from, "lent the grain's state");
            return self.lent(router, grain, &state);
        }
        let Some(state) = custody.export_lent(grain).await.map_err(unavailable)? else {
            return Ok(self.not_here());
        };
        if !request.orphan {
            return Ok(Fetched::Lent {
                last_seq: state.last_seq,
            });
        }
        custody
            .lend(grain, &request.from)
            .await
            .map_err(unavailable)?;
        tracing::warn!(%grain, to = %request.from, "gave an orphaned lent copy to the silo that asked");
        self.lent(router, grain, &state)
    }

    /// The answer that hands lent `state` over, in pieces if it needs several.
    fn lent(&self, router: &Router, grain: &GrainId, state: &GrainState) -> Result<Fetched, Fault> {
        let size = transfer::piece_size(router.max_frame());
        self.transfers.lend(grain, state, size).map(Fetched::Held)
    }

    /// Answers [`PIECE`](super::control::PIECE): the piece at `offset` of the state lent from here.
    pub(super) fn lent_piece(
        &self,
        router: &Router,
        grain: &GrainId,
        offset: u64,
    ) -> Result<Piece, Fault> {
        let size = transfer::piece_size(router.max_frame());
        self.transfers.lent_piece(grain, offset, size)
    }

    /// Answers [`RELEASE`] from silo `by`: deletes the copy lent to it.
    pub(super) async fn release(
        &self,
        router: &Router,
        grain: &GrainId,
        by: &str,
    ) -> Result<(), Fault> {
        self.transfers.released(grain);
        let Some(custody) = router.silo().as_deref().and_then(local_custody) else {
            return Ok(());
        };
        if custody
            .lent_to(grain)
            .await
            .map_err(unavailable)?
            .as_deref()
            == Some(by)
        {
            custody.remove(grain).await.map_err(unavailable)?;
        }
        Ok(())
    }

    /// Answers [`ACCEPT`]: takes a piece of state pushed by a silo that is leaving, and stores
    /// the state once its last piece is in.
    pub(super) async fn accept(
        &self,
        router: &Router,
        grain: GrainId,
        piece: Piece,
    ) -> Result<(), Fault> {
        if self.moving.contains(&grain) {
            return Err(Fault::Unavailable(format!(
                "{grain} is being handed to another silo; retry"
            )));
        }
        let custody = router
            .silo()
            .as_deref()
            .and_then(local_custody)
            .ok_or_else(|| {
                Fault::Rejected(format!("silo {} keeps no grain state", router.name()))
            })?;
        let Some(state) = self.transfers.arrive(&grain, piece)? else {
            return Ok(());
        };
        let held = custody.export(&grain).await.map_err(unavailable)?;
        if held.is_some() {
            let reason = format!("silo {} already holds state for {grain}", router.name());
            tracing::error!("{reason}");
            return Err(Fault::Rejected(reason));
        }
        custody.import(&grain, state).await.map_err(unavailable)
    }

    /// Pushes the state of every grain this silo holds to its owner under `router`'s directory,
    /// which no longer includes this silo. Returns how many grains could not be handed off.
    pub(crate) async fn push_all(&self, router: &Router, custody: &Arc<dyn Custody>) -> usize {
        let grains = match custody.grains().await {
            Ok(grains) => grains,
            Err(error) => {
                tracing::error!("cannot list the grains to hand off: {error}");
                return 1;
            }
        };
        let mut failed = 0;
        for grain in grains {
            while !self.moving.insert(grain.clone()) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if let Err(reason) = self.push(router, &grain, custody).await {
                tracing::error!(%grain, "cannot hand off the grain's state: {reason}");
                failed += 1;
            }
            self.moving.remove(&grain);
        }
        failed
    }

    async fn push(
        &self,
        router: &Router,
        grain: &GrainId,
        custody: &Arc<dyn Custody>,
    ) -> Result<(), String> {
        let directory = router.directory();
        let (_, owner) = directory.place(grain);
        let owner = owner
            .cloned()
            .ok_or_else(|| "no other silo is active".to_string())?;
        let Some(state) = custody.export(grain).await.map_err(|e| e.to_string())? else {
            return Ok(());
        };
        let size = transfer::piece_size(router.max_frame());
        let pieces = transfer::pieces(grain, &state, size).map_err(|f| format!("{f:?}"))?;
        drop(state);
        custody
            .lend(grain, &owner.name)
            .await
            .map_err(|e| e.to_string())?;
        let mut attempts = 0;
        loop {
            match push_pieces(router, owner.address, grain, &pieces).await {
                Ok(()) => break,
                Err(reason) if attempts < 20 => {
                    attempts += 1;
                    tracing::debug!(%grain, "retrying the handoff: {reason}");
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                Err(reason) => {
                    return Err(format!(
                        "silo {} did not confirm taking it, so the copy here stays lent to it: {reason}",
                        owner.name
                    ));
                }
            }
        }
        custody.remove(grain).await.map_err(|e| e.to_string())
    }
}

/// Sends every piece of a grain's state to the silo at `to`, in order.
async fn push_pieces(
    router: &Router,
    to: std::net::SocketAddr,
    grain: &GrainId,
    pieces: &[Piece],
) -> Result<(), String> {
    for piece in pieces {
        router.control::<()>(to, grain, ACCEPT, piece).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::knowledge::tests::{names, silo, view};
    use super::*;
    use crate::membership::SiloStatus;

    #[test]
    fn marking_lost_applies_only_to_down_silos() {
        let handoff = Handoff::default();
        let before = view(vec![
            silo("a", 1, SiloStatus::Active),
            silo("b", 2, SiloStatus::Active),
        ]);
        handoff.follow(Arc::new(before));
        handoff.follow(Arc::new(view(vec![silo("a", 1, SiloStatus::Active)])));
        let mut published = handoff.published();
        assert_eq!(names(&handoff.held()), ["b@2"]);
        assert!(handoff.mark_lost("a").is_empty(), "a live silo is not lost");
        assert_eq!(names(&handoff.mark_lost("b")), ["b@2"]);
        assert!(handoff.held().is_empty());
        assert!(
            published.has_changed().unwrap(),
            "the decision is published"
        );
        assert_eq!(
            names(
                &published
                    .borrow_and_update()
                    .lost
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
            ),
            ["b@2"]
        );
    }
}

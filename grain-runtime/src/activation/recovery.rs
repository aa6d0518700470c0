//! How an activation comes to life: it builds the grain, brings the grain's state to this silo
//! if another one holds it, claims the grain in a shared store, recovers its state and runs
//! `on_activate`, trying again while the cluster settles.

use tokio::time::Instant;

use super::Activation;
use crate::call::{CallMeta, Fault};
use crate::cluster::{Destination, FIRST_RETRY, MAX_RETRY_DELAY, RETRY_FOR};
use crate::context::GrainContext;
use crate::grain::Grain;
use crate::persistence::fencing::Fence;
use crate::persistence::{Cursor, PersistenceModel};

impl<G: Grain> Activation<G> {
    /// [`activate`](Self::activate), trying again while it is refused because the cluster is
    /// settling (the grain's state is moving, or the silos' views disagree), for as long as a
    /// remote caller would send a refused call again and while this silo still owns the grain.
    /// The queued messages wait meanwhile instead of failing.
    pub(super) async fn activate_when_settled(
        &self,
        ctx: &GrainContext<G>,
    ) -> Result<Box<G>, Fault> {
        let give_up = Instant::now() + RETRY_FOR;
        let mut delay = FIRST_RETRY;
        loop {
            match self.activate(ctx).await {
                Err(Fault::Refused(reason))
                    if Instant::now() + delay < give_up
                        && self.catalog.accepting()
                        && self.owned_here() =>
                {
                    tracing::debug!(grain = %self.id, ?delay, "activation refused while the cluster settles; trying again: {reason}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                }
                outcome => return outcome,
            }
        }
    }

    /// Whether this silo owns the grain by its directory (always, outside a cluster).
    fn owned_here(&self) -> bool {
        self.catalog
            .router()
            .is_none_or(|router| matches!(router.destination(&self.id), Destination::Here))
    }

    /// Builds the grain, takes custody of its state, recovers it and runs `on_activate`; the
    /// fault says what failed.
    async fn activate(&self, ctx: &GrainContext<G>) -> Result<Box<G>, Fault> {
        let mut grain = Box::new(self.catalog.create(&self.id));
        if <G::Persistence as PersistenceModel<G>>::DURABLE {
            self.take_custody().await.inspect_err(|fault| {
                tracing::info!(grain = %self.id, "not activated: {fault:?}");
            })?;
            let fence = self.claim().await.map_err(|message| {
                tracing::error!(grain = %self.id, "{message}");
                Fault::ActivationFailed(message)
            })?;
            self.lock().durable().fence = fence;
            let cursor = self.recover(&mut grain).await.map_err(|message| {
                tracing::error!(grain = %self.id, "{message}");
                Fault::ActivationFailed(message)
            })?;
            self.lock().durable().cursor = cursor;
        }
        let hook = grain.__on_activate(ctx);
        match self
            .guarded("on_activate", false, CallMeta::internal(), hook)
            .await
        {
            Ok(()) => Ok(grain),
            Err(message) => {
                let message = format!("on_activate panicked: {message}");
                tracing::error!(grain = %self.id, "{message}");
                Err(Fault::ActivationFailed(message))
            }
        }
    }

    /// In a cluster whose silos each keep grain state in their own store, brings the grain's
    /// state here from whichever silo holds it; the error says why it cannot be had now.
    async fn take_custody(&self) -> Result<(), Fault> {
        let (Some(router), Some(storage)) = (self.catalog.router(), self.catalog.storage()) else {
            return Ok(());
        };
        match storage.custody() {
            Some(custody) => {
                router
                    .handoff()
                    .acquire(router, &self.id, &storage, custody)
                    .await
            }
            None => Ok(()),
        }
    }

    /// Claims the grain in a store that silos share, before recovering it, so that no older
    /// activation can write to it any more.
    async fn claim(&self) -> Result<Option<Fence>, String> {
        match self.catalog.storage() {
            Some(storage) => storage.claim(&self.id).await.map_err(|error| {
                format!("claiming {} for a new activation failed: {error}", self.id)
            }),
            None => Ok(None),
        }
    }

    /// Restores a durable grain's state from storage.
    async fn recover(&self, grain: &mut G) -> Result<Cursor, String> {
        let storage = self.catalog.storage().ok_or_else(|| {
            format!(
                "{} keeps durable state but the silo has no storage",
                self.id
            )
        })?;
        let recovery = <G::Persistence as PersistenceModel<G>>::recover(grain, &storage, &self.id);
        match self
            .guarded("recover", false, CallMeta::internal(), recovery)
            .await
        {
            Ok(Ok(cursor)) => Ok(cursor),
            Ok(Err(message)) => Err(format!("recovery of {} failed: {message}", self.id)),
            Err(panic) => Err(format!("recovery of {} panicked: {panic}", self.id)),
        }
    }
}

//! [`GrainTimer`]: an in-memory timer owned by one activation, whose ticks run as that grain's turns.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::AbortHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::activation::Activation;
use crate::call::TIMER_OF;
use crate::error::CallError;
use crate::grain::Grain;
use crate::reference::VirtualActorRef;

/// The shortest timer period; shorter ones are raised to it.
const MIN_PERIOD: Duration = Duration::from_millis(1);

/// A timer registered with [`GrainContext::register_timer`](crate::GrainContext::register_timer).
///
/// It stops when its activation deactivates or is discarded, or when [`cancel`](Self::cancel)
/// is called. Dropping the handle does not stop it.
#[derive(Debug)]
pub struct GrainTimer {
    task: AbortHandle,
}

impl GrainTimer {
    /// Stops the timer; a tick already queued still runs.
    pub fn cancel(&self) {
        self.task.abort();
    }

    /// Whether the timer has stopped.
    pub fn is_stopped(&self) -> bool {
        self.task.is_finished()
    }
}

pub(crate) fn start<G, F>(
    activation: &Arc<Activation<G>>,
    me: VirtualActorRef<G>,
    due: Duration,
    period: Duration,
    tick: F,
) -> GrainTimer
where
    G: Grain,
    F: Fn(&VirtualActorRef<G>) -> Result<(), CallError> + Send + Sync + 'static,
{
    let owner = activation.generation();
    let period = period.max(MIN_PERIOD);
    let task = activation.catalog().runtime().spawn(async move {
        let mut ticks = tokio::time::interval_at(Instant::now() + due, period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            ticks.tick().await;
            match TIMER_OF.sync_scope(owner, || tick(&me)) {
                Ok(()) => {}
                Err(CallError::MailboxFull { .. }) => {
                    tracing::debug!(grain = %me.id(), "timer tick skipped: mailbox full");
                }
                Err(error) => {
                    tracing::debug!(grain = %me.id(), "timer stopped: {error}");
                    return;
                }
            }
        }
    });
    let task = task.abort_handle();
    activation.add_timer(task.clone());
    GrainTimer { task }
}

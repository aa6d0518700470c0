//! The frameworks under test, behind one [`Subject`] trait, each running the same counter actor:
//! `add(n)` adds `n` to a `u64` and replies with the new total.

mod actix;
mod grain;
mod kameo;
mod ractor;
mod tokio_baseline;

use std::future::Future;
use std::time::Duration;

pub(crate) use self::actix::Actix;
pub(crate) use self::grain::GrainRuntime;
pub(crate) use self::kameo::Kameo;
pub(crate) use self::ractor::Ractor;
pub(crate) use self::tokio_baseline::TokioBaseline;
use crate::exec::Spawner;

/// Mailbox capacity wherever a framework lets us choose one: large enough that 2M tells never
/// hit it, so every framework queues the whole burst.
pub(crate) const MAILBOX_CAPACITY: usize = 4_194_304;

/// One framework: how to start it, create a counter actor, and send it tells and asks.
pub(crate) trait Subject: Sized + Send + Sync + 'static {
    /// The name in the report.
    const NAME: &'static str;

    /// Whether the caller must hold the handle for the actor to stay alive (peers and the tokio
    /// baseline stop an actor when its last handle drops; a grain lives in its silo).
    const KEEP_HANDLES: bool = true;

    /// What a caller holds to reach one actor.
    type Actor: Clone + Send + Sync + 'static;

    /// Starts the framework on the current benchmark thread (a silo, for grain-runtime).
    fn start(spawner: &Spawner) -> impl Future<Output = Self> + Send;

    /// Creates actor number `index` (for a grain: only a ref; it activates on its first call).
    fn create(&self, index: u64) -> impl Future<Output = Self::Actor> + Send;

    /// Sends `add(n)` without waiting for a reply.
    ///
    /// # Panics
    ///
    /// If the framework refuses the message.
    fn tell(&self, actor: &Self::Actor, n: u64);

    /// Sends `add(n)` and waits for the new total.
    ///
    /// # Panics
    ///
    /// If the call fails.
    fn ask(&self, actor: &Self::Actor, n: u64) -> impl Future<Output = u64> + Send;

    /// An ask that may wait behind a long queue (the end of the tell burst): no short deadline.
    fn confirm(&self, actor: &Self::Actor) -> impl Future<Output = u64> + Send {
        self.ask(actor, 0)
    }

    /// Waits until `count` actors that each handled one call have gone idle.
    fn settle(&self, count: usize) -> impl Future<Output = ()> + Send {
        let _ = count;
        tokio::time::sleep(Duration::from_millis(100))
    }

    /// Stops the given actors and the framework's own machinery.
    fn stop(&self, actors: Vec<Self::Actor>) -> impl Future<Output = ()> + Send {
        drop(actors);
        async {}
    }
}

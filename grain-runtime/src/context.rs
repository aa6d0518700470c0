//! [`GrainContext`]: what a grain's methods can ask of the runtime while they run.

use std::sync::Arc;
use std::time::Duration;

use crate::activation::Activation;
use crate::grain::Grain;
use crate::id::{GrainId, GrainKey};
use crate::reference::{RefCore, VirtualActorRef};
use crate::timers::{self, GrainTimer};

/// The runtime side of one activation, handed to grain methods that declare a
/// `ctx: &GrainContext<Self>` parameter and to the lifecycle hooks.
///
/// # Examples
///
/// ```
/// # use grain_runtime::prelude::*;
/// #[grain]
/// #[derive(Default)]
/// pub struct Greeter;
///
/// #[grain]
/// impl Greeter {
///     pub async fn greet(&self, ctx: &GrainContext<Self>) -> String {
///         format!("hello from {}", ctx.id())
///     }
/// }
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let silo = Silo::builder().register::<Greeter>().start().await?;
/// assert_eq!(silo.grain::<Greeter>("x").greet().await?, "hello from Greeter/\"x\"");
/// # Ok(()) }
/// ```
pub struct GrainContext<G: Grain> {
    activation: Arc<Activation<G>>,
}

impl<G: Grain> GrainContext<G> {
    pub(crate) fn new(activation: Arc<Activation<G>>) -> Self {
        Self { activation }
    }

    /// The identity of this grain.
    pub fn id(&self) -> &GrainId {
        self.activation.id()
    }

    /// A ref to this grain, to hand to other grains or to call from a timer.
    pub fn this(&self) -> VirtualActorRef<G> {
        VirtualActorRef::from_core(RefCore::new(
            self.id().key.clone(),
            Some(Arc::clone(self.activation.catalog())),
        ))
    }

    /// A ref to another grain on this grain's silo. Asks made through it from this turn carry the
    /// turn's correlation id and are checked for call cycles.
    pub fn grain<O: Grain>(&self, key: impl Into<GrainKey>) -> VirtualActorRef<O> {
        crate::silo::resolve::<O>(self.activation.catalog().silo(), key.into())
    }

    /// Deactivates this grain as soon as its mailbox is empty, instead of after the idle timeout.
    pub fn deactivate_on_idle(&self) {
        self.activation.set_deactivate_on_idle();
    }

    /// Calls `tick` with a ref to this grain after `due`, then every `period`, while this
    /// activation lives. `tick` sends a tell, so each tick runs as a turn of this grain.
    ///
    /// Ticks do not keep the grain active: an activation with only timer turns is passivated
    /// after its idle timeout, and its timers stop. A tick that finds the mailbox full is skipped.
    ///
    /// # Examples
    ///
    /// ```
    /// # use grain_runtime::prelude::*;
    /// # use std::time::Duration;
    /// #[grain]
    /// #[derive(Default)]
    /// pub struct Heartbeat { beats: u64 }
    ///
    /// #[grain]
    /// impl Heartbeat {
    ///     pub async fn start(&mut self, ctx: &GrainContext<Self>) {
    ///         ctx.register_timer(Duration::ZERO, Duration::from_millis(10), |me| me.tell().beat());
    ///     }
    ///     pub async fn beat(&mut self) { self.beats += 1; }
    ///     pub async fn beats(&self) -> u64 { self.beats }
    /// }
    /// ```
    pub fn register_timer<F>(&self, due: Duration, period: Duration, tick: F) -> GrainTimer
    where
        F: Fn(&VirtualActorRef<G>) -> Result<(), crate::CallError> + Send + Sync + 'static,
    {
        timers::start(&self.activation, self.this(), due, period, tick)
    }
}

//! ractor: a counter actor (state `u64`), asked with `call` (no timeout) and told with `cast`.
//! ractor mailboxes are unbounded.

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, rpc::CallResult};

use super::Subject;
use crate::exec::Spawner;

/// ractor with default features.
pub(crate) struct Ractor;

/// The counter actor; its state is the `u64` total.
pub(crate) struct Counter;

/// Adds its value to the counter, replying with the new total when it carries a port.
pub(crate) struct Add(u64, Option<RpcReplyPort<u64>>);

impl Actor for Counter {
    type Msg = Add;
    type State = u64;
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<Add>,
        _args: (),
    ) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Add>,
        Add(n, reply): Add,
        value: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        *value += n;
        if let Some(reply) = reply {
            let _ = reply.send(*value);
        }
        Ok(())
    }
}

impl Subject for Ractor {
    const NAME: &'static str = "ractor";

    type Actor = ActorRef<Add>;

    async fn start(_spawner: &Spawner) -> Self {
        Ractor
    }

    async fn create(&self, _index: u64) -> Self::Actor {
        let (actor, _join) = Actor::spawn(None, Counter, ())
            .await
            .expect("ractor: spawn failed");
        actor
    }

    fn tell(&self, actor: &Self::Actor, n: u64) {
        if actor.cast(Add(n, None)).is_err() {
            panic!("ractor: cast refused");
        }
    }

    async fn ask(&self, actor: &Self::Actor, n: u64) -> u64 {
        match actor.call(|port| Add(n, Some(port)), None).await {
            Ok(CallResult::Success(value)) => value,
            _ => panic!("ractor: call failed"),
        }
    }

    /// ractor actors outlive their refs: stop them explicitly.
    async fn stop(&self, actors: Vec<Self::Actor>) {
        for actor in actors {
            actor.stop(None);
        }
    }
}

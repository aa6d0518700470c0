//! kameo: a `#[derive(Actor)]` counter with a bounded mailbox of [`MAILBOX_CAPACITY`] (kameo's
//! default is 64, which would make the tell burst wait for room).

use kameo::actor::{ActorRef, Spawn};
use kameo::mailbox;
use kameo::message::{Context, Message};

use super::{MAILBOX_CAPACITY, Subject};
use crate::exec::Spawner;

/// kameo with default features.
pub(crate) struct Kameo;

/// The counter actor.
#[derive(kameo::Actor, Default)]
pub(crate) struct Counter {
    value: u64,
}

/// Adds its value to the counter.
#[derive(Debug)]
pub(crate) struct Add(u64);

impl Message<Add> for Counter {
    type Reply = u64;

    async fn handle(&mut self, Add(n): Add, _ctx: &mut Context<Self, Self::Reply>) -> u64 {
        self.value += n;
        self.value
    }
}

impl Subject for Kameo {
    const NAME: &'static str = "kameo";

    type Actor = ActorRef<Counter>;

    async fn start(_spawner: &Spawner) -> Self {
        Kameo
    }

    async fn create(&self, _index: u64) -> Self::Actor {
        Counter::spawn_with_mailbox(Counter::default(), mailbox::bounded(MAILBOX_CAPACITY))
    }

    fn tell(&self, actor: &Self::Actor, n: u64) {
        actor.tell(Add(n)).try_send().expect("kameo: tell refused");
    }

    async fn ask(&self, actor: &Self::Actor, n: u64) -> u64 {
        actor.ask(Add(n)).await.expect("kameo: ask failed")
    }
}

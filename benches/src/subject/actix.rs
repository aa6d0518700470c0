//! actix: a counter actor with a `Context` mailbox raised to [`MAILBOX_CAPACITY`] (actix's
//! default is 16, past which `send` parks the caller). Actors start on the arbiter of the task
//! that creates them, which is how actix code normally spawns, so the one-actor measurements have
//! caller and actor on the same arbiter (across arbiters a sequential ask took ~14 us instead of
//! ~0.5 us, and the tell burst was slower too). Tells use `do_send`. An actor stops once its last
//! `Addr` is dropped.

use actix::{Actor, Addr, Context, Handler};

use super::{MAILBOX_CAPACITY, Subject};
use crate::exec::Spawner;

/// actix on two arbiters.
pub(crate) struct Actix;

/// The counter actor.
#[derive(Default)]
pub(crate) struct Counter {
    value: u64,
}

impl Actor for Counter {
    type Context = Context<Self>;
}

/// Adds its value to the counter.
pub(crate) struct Add(u64);

impl actix::Message for Add {
    type Result = u64;
}

impl Handler<Add> for Counter {
    type Result = u64;

    fn handle(&mut self, Add(n): Add, _ctx: &mut Context<Self>) -> u64 {
        self.value += n;
        self.value
    }
}

impl Subject for Actix {
    const NAME: &'static str = "actix";

    type Actor = Addr<Counter>;

    async fn start(_spawner: &Spawner) -> Self {
        Actix
    }

    async fn create(&self, _index: u64) -> Self::Actor {
        Counter::create(|ctx| {
            ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
            Counter::default()
        })
    }

    fn tell(&self, actor: &Self::Actor, n: u64) {
        actor.do_send(Add(n));
    }

    async fn ask(&self, actor: &Self::Actor, n: u64) -> u64 {
        actor.send(Add(n)).await.expect("actix: send failed")
    }
}

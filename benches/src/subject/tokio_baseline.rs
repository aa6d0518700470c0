//! The baseline: a hand-written actor, one spawned task draining a bounded `mpsc` mailbox, with
//! `oneshot` replies. No supervision, no deadlines, no bookkeeping: the floor an actor layer on
//! tokio can approach.

use tokio::sync::{mpsc, oneshot};

use super::{MAILBOX_CAPACITY, Subject};
use crate::exec::Spawner;

/// The raw tokio baseline.
pub(crate) struct TokioBaseline;

/// One message: an `add(n)`, with a reply slot when it is an ask.
pub(crate) struct Add {
    n: u64,
    reply: Option<oneshot::Sender<u64>>,
}

async fn counter(mut mailbox: mpsc::Receiver<Add>) {
    let mut value = 0u64;
    while let Some(Add { n, reply }) = mailbox.recv().await {
        value += n;
        if let Some(reply) = reply {
            let _ = reply.send(value);
        }
    }
}

impl Subject for TokioBaseline {
    const NAME: &'static str = "tokio";

    type Actor = mpsc::Sender<Add>;

    async fn start(_spawner: &Spawner) -> Self {
        TokioBaseline
    }

    async fn create(&self, _index: u64) -> Self::Actor {
        let (tx, rx) = mpsc::channel(MAILBOX_CAPACITY);
        tokio::spawn(counter(rx));
        tx
    }

    fn tell(&self, actor: &Self::Actor, n: u64) {
        if actor.try_send(Add { n, reply: None }).is_err() {
            panic!("tokio baseline: mailbox full or closed");
        }
    }

    async fn ask(&self, actor: &Self::Actor, n: u64) -> u64 {
        let (tx, rx) = oneshot::channel();
        if actor.send(Add { n, reply: Some(tx) }).await.is_err() {
            panic!("tokio baseline: mailbox closed");
        }
        rx.await.expect("tokio baseline: actor dropped the reply")
    }
}

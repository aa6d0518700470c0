//! A tell returns as soon as its message is queued; the caller never waits for the turn and
//! never sees its result or its panic.

use grain_runtime::prelude::*;
use grain_tests::{Gate, eventually, silo};

/// A grain that can be held inside a turn.
#[grain]
pub struct Held {
    gate: Gate,
    seen: Vec<String>,
}

#[grain]
impl Held {
    /// Waits at the gate.
    pub async fn hold(&mut self) {
        self.gate.pass().await;
    }

    /// Records `what` and returns how many records there are.
    pub async fn note(&mut self, what: String) -> usize {
        self.seen.push(what);
        self.seen.len()
    }

    /// Panics.
    pub async fn explode(&mut self) {
        panic!("told to explode");
    }

    /// The records so far.
    pub async fn seen(&self) -> Vec<String> {
        self.seen.clone()
    }
}

async fn start(gate: &Gate) -> Silo {
    let gate = gate.clone();
    silo()
        .register_with(move |_| Held {
            gate: gate.clone(),
            seen: Vec::new(),
        })
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_tell_returns_while_the_grain_is_busy() {
    let gate = Gate::closed();
    let silo = start(&gate).await;
    let held = silo.grain::<Held>("h");

    held.tell().hold().unwrap();
    gate.wait_for_arrivals(1).await;
    // `tell` is not async: it returns once the message is queued behind the held turn.
    held.tell().note("queued".into()).unwrap();
    held.tell().note("queued too".into()).unwrap();
    assert_eq!(silo.activation_stats(&held).unwrap().mailbox_len, 2);

    gate.open();
    assert_eq!(held.seen().await.unwrap(), ["queued", "queued too"]);
}

#[tokio::test]
async fn a_tell_activates_the_grain() {
    let gate = Gate::closed();
    let silo = start(&gate).await;
    let held = silo.grain::<Held>("h");
    held.tell().note("first".into()).unwrap();
    eventually("the tell to activate the grain", || {
        silo.stats().activations == 1
    })
    .await;
    assert_eq!(held.seen().await.unwrap(), ["first"]);
}

#[tokio::test]
async fn a_panicking_tell_does_not_reach_the_caller() {
    let gate = Gate::closed();
    let silo = start(&gate).await;
    let held = silo.grain::<Held>("h");
    held.tell().explode().unwrap();
    eventually("the panic to be counted", || silo.stats().panics == 1).await;
    assert_eq!(held.note("after".into()).await.unwrap(), 1);
}

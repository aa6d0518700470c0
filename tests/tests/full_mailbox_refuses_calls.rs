//! A grain's mailbox holds at most its capacity (`#[grain(mailbox_capacity = N)]` or the silo's
//! default); beyond it, tells and asks fail at once with `CallError::MailboxFull`.

use std::time::Duration;

use grain_runtime::prelude::*;
use grain_tests::{Gate, WAIT, eventually, silo};

/// A grain with a mailbox of two, that can be held inside a turn.
#[grain(mailbox_capacity = 2)]
pub struct Small {
    gate: Gate,
    handled: u64,
}

#[grain]
impl Small {
    /// Waits at the gate.
    pub async fn hold(&mut self) {
        self.gate.pass().await;
    }

    /// Counts one call.
    pub async fn poke(&mut self) -> u64 {
        self.handled += 1;
        self.handled
    }
}

/// A grain that takes its capacity from the silo.
#[grain]
pub struct Plain {
    gate: Gate,
}

#[grain]
impl Plain {
    /// Waits at the gate.
    pub async fn hold(&mut self) {
        self.gate.pass().await;
    }

    /// Does nothing.
    pub async fn poke(&self) {}
}

/// Builds each activation of [`Small`] around `gate`.
fn small(gate: &Gate) -> impl Fn(&GrainId) -> Small + Send + Sync + 'static {
    let gate = gate.clone();
    move |_| Small {
        gate: gate.clone(),
        handled: 0,
    }
}

#[tokio::test]
async fn calls_beyond_the_capacity_fail_with_mailbox_full() {
    let gate = Gate::closed();
    let silo = silo()
        .ask_timeout(Duration::from_secs(30))
        .register_with(small(&gate))
        .start()
        .await
        .unwrap();
    let small = silo.grain::<Small>("s");

    small.tell().hold().unwrap();
    gate.wait_for_arrivals(1).await;
    small.tell().poke().unwrap();
    small.tell().poke().unwrap();
    let full = CallError::MailboxFull {
        grain: small.id().clone(),
        method: "poke",
        capacity: 2,
    };
    assert_eq!(small.tell().poke(), Err(full.clone()));
    let ask = tokio::time::timeout(WAIT, small.poke())
        .await
        .expect("a full mailbox fails the ask at once, not at its deadline");
    assert_eq!(ask, Err(full));
    assert_eq!(silo.stats().mailbox_full, 2);
    assert_eq!(silo.activation_stats(&small).unwrap().mailbox_len, 2);

    gate.open();
    eventually("the mailbox to drain", || {
        silo.activation_stats(&small)
            .is_some_and(|a| a.mailbox_len == 0)
    })
    .await;
    assert_eq!(
        small.poke().await.unwrap(),
        3,
        "the refused calls never ran"
    );
}

#[tokio::test]
async fn the_silo_default_capacity_applies_without_an_attribute() {
    let gate = Gate::closed();
    let g = gate.clone();
    let silo = silo()
        .mailbox_capacity(3)
        .register_with(move |_| Plain { gate: g.clone() })
        .register_with(small(&gate))
        .start()
        .await
        .unwrap();
    let plain = silo.grain::<Plain>("p");
    let small = silo.grain::<Small>("s");

    plain.tell().hold().unwrap();
    small.tell().hold().unwrap();
    gate.wait_for_arrivals(2).await;
    for _ in 0..3 {
        plain.tell().poke().unwrap();
    }
    assert!(matches!(
        plain.tell().poke(),
        Err(CallError::MailboxFull { capacity: 3, .. })
    ));
    // The attribute wins over the silo default.
    small.tell().poke().unwrap();
    small.tell().poke().unwrap();
    assert!(matches!(
        small.tell().poke(),
        Err(CallError::MailboxFull { capacity: 2, .. })
    ));
    let stats = silo.stats();
    assert_eq!(stats.kind("Plain").unwrap().mailbox_full, 1);
    assert_eq!(stats.kind("Small").unwrap().mailbox_full, 1);
    gate.open();
}

#[tokio::test]
async fn calls_taken_together_count_until_each_starts() {
    let gate = Gate::closed();
    let silo = silo().register_with(small(&gate)).start().await.unwrap();
    let small = silo.grain::<Small>("s");
    // Both are queued before the turn loop first runs, so it takes them in one batch; the poke
    // behind the held turn still takes a place in the mailbox.
    small.tell().hold().unwrap();
    small.tell().poke().unwrap();
    gate.wait_for_arrivals(1).await;
    assert_eq!(silo.activation_stats(&small).unwrap().mailbox_len, 1);
    small.tell().poke().unwrap();
    assert!(matches!(
        small.tell().poke(),
        Err(CallError::MailboxFull { capacity: 2, .. })
    ));
    gate.open();
    eventually("the mailbox to drain", || {
        silo.activation_stats(&small)
            .is_some_and(|a| a.mailbox_len == 0)
    })
    .await;
    assert_eq!(small.poke().await, Ok(3));
}

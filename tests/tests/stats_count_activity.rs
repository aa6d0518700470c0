//! `Silo::stats` counts activations, passivations, handled messages, panics, expired calls and
//! full mailboxes per grain kind and in total; `Silo::activation_stats` shows one activation's
//! mailbox length, handled messages and status.

use std::time::Duration;

use grain_runtime::prelude::*;
use grain_runtime::{ActivationStatus, SiloStats};
use grain_tests::{Gate, eventually, silo};

/// A grain of the first kind, with a mailbox of two.
#[grain(mailbox_capacity = 2)]
pub struct Apple {
    gate: Gate,
    second: Gate,
    value: u64,
}

#[grain]
impl Apple {
    /// Adds `n`.
    pub async fn add(&mut self, n: u64) -> u64 {
        self.value += n;
        self.value
    }

    /// Waits at the gate.
    pub async fn hold(&mut self) {
        self.gate.pass().await;
    }

    /// Waits at the second gate.
    pub async fn hold_again(&mut self) {
        self.second.pass().await;
    }

    /// Panics.
    pub async fn boom(&mut self) {
        panic!("apple");
    }

    /// Asks to be deactivated after this turn.
    pub async fn leave(&mut self, ctx: &GrainContext<Self>) {
        ctx.deactivate_on_idle();
    }
}

/// A grain of the second kind.
#[grain]
#[derive(Default)]
pub struct Pear;

#[grain]
impl Pear {
    /// Does nothing.
    pub async fn touch(&self) {}
}

async fn start(gate: &Gate) -> Silo {
    start_with(gate, &Gate::closed()).await
}

async fn start_with(gate: &Gate, second: &Gate) -> Silo {
    let (gate, second) = (gate.clone(), second.clone());
    silo()
        .register_with(move |_| Apple {
            gate: gate.clone(),
            second: second.clone(),
            value: 0,
        })
        .register::<Pear>()
        .start()
        .await
        .unwrap()
}

fn assert_totals_are_sums(stats: &SiloStats) {
    let sum = |f: fn(&grain_runtime::KindStats) -> u64| stats.kinds.iter().map(f).sum::<u64>();
    assert_eq!(stats.activations, sum(|k| k.activations));
    assert_eq!(stats.passivations, sum(|k| k.passivations));
    assert_eq!(stats.messages_handled, sum(|k| k.messages_handled));
    assert_eq!(stats.panics, sum(|k| k.panics));
    assert_eq!(stats.expired, sum(|k| k.expired));
    assert_eq!(stats.mailbox_full, sum(|k| k.mailbox_full));
    assert_eq!(
        stats.live_activations,
        stats
            .kinds
            .iter()
            .map(|k| k.live_activations)
            .sum::<usize>()
    );
}

#[tokio::test]
async fn a_fresh_silo_counts_nothing() {
    let silo = start(&Gate::closed()).await;
    let stats = silo.stats();
    assert_eq!(stats.kinds.len(), 2);
    assert_eq!(stats.activations, 0);
    assert_eq!(stats.messages_handled, 0);
    let apple = stats.kind("Apple").unwrap();
    assert_eq!(apple.live_activations, 0);
    assert_eq!(apple.passivations, 0);
    assert_eq!(apple.panics, 0);
}

#[tokio::test]
async fn every_counter_per_kind_and_in_total() {
    let gate = Gate::closed();
    let silo = start(&gate).await;
    let a1 = silo.grain::<Apple>("a1");
    let a2 = silo.grain::<Apple>("a2");
    let pears: Vec<_> = (0..3u64).map(|k| silo.grain::<Pear>(k)).collect();

    // Handled messages and activations.
    for n in 1..=3 {
        a1.add(n).await.unwrap();
    }
    for pear in &pears {
        pear.touch().await.unwrap();
    }
    // A panic: a2's activation is discarded.
    assert!(a2.boom().await.is_err());
    // A passivation.
    a2.leave().await.unwrap();
    // An expired call and two refused ones, behind a held turn.
    a1.tell().hold().unwrap();
    gate.wait_for_arrivals(1).await;
    assert!(matches!(
        a1.add(100).timeout(Duration::from_millis(20)).await,
        Err(CallError::Timeout { .. })
    ));
    a1.tell().add(1).unwrap();
    assert!(matches!(
        a1.tell().add(1),
        Err(CallError::MailboxFull { .. })
    ));
    assert!(matches!(
        a1.add(1).await,
        Err(CallError::MailboxFull { .. })
    ));
    gate.open();

    eventually("every message to be counted", || {
        silo.stats().kind("Apple").unwrap().messages_handled == 8
    })
    .await;
    eventually("a2 to be passivated", || {
        silo.stats().kind("Apple").unwrap().passivations == 1
    })
    .await;
    let stats = silo.stats();
    let apple = stats.kind("Apple").unwrap();
    // a1: 3 adds, hold, the expired add, add; the refused adds were never queued. a2: boom, leave.
    assert_eq!(apple.messages_handled, 8, "{apple:?}");
    assert_eq!(apple.activations, 3, "a1, a2, a2 again after the panic");
    assert_eq!(apple.live_activations, 1);
    assert_eq!(apple.panics, 1);
    assert_eq!(apple.expired, 1);
    assert_eq!(apple.mailbox_full, 2);

    let pear = stats.kind("Pear").unwrap();
    assert_eq!(pear.activations, 3);
    assert_eq!(pear.live_activations, 3);
    assert_eq!(pear.messages_handled, 3);
    assert_eq!(
        pear.panics + pear.expired + pear.mailbox_full + pear.passivations,
        0
    );

    assert_totals_are_sums(&stats);
    assert_eq!(stats.activations, 6);
    assert_eq!(stats.live_activations, 4);
}

#[tokio::test]
async fn activation_stats_show_the_mailbox_and_status() {
    let gate = Gate::closed();
    let silo = start(&gate).await;
    let apple = silo.grain::<Apple>("a");
    assert_eq!(silo.activation_stats(&apple), None);

    apple.add(1).await.unwrap();
    eventually("the activation to go idle", || {
        silo.activation_stats(&apple)
            .is_some_and(|a| a.status == ActivationStatus::Idle)
    })
    .await;
    let idle = silo.activation_stats(&apple).unwrap();
    assert_eq!(idle.mailbox_len, 0);
    assert_eq!(idle.messages_handled, 1);

    apple.tell().hold().unwrap();
    gate.wait_for_arrivals(1).await;
    apple.tell().add(1).unwrap();
    apple.tell().add(1).unwrap();
    let busy = silo.activation_stats(&apple).unwrap();
    assert_eq!(busy.status, ActivationStatus::Running);
    assert_eq!(busy.mailbox_len, 2);
    assert_eq!(
        busy.messages_handled, 2,
        "the held call was taken from the mailbox"
    );
    assert_eq!(busy.idle_for, Duration::ZERO);

    gate.open();
    eventually("the activation to go idle again", || {
        silo.activation_stats(&apple)
            .is_some_and(|a| a.status == ActivationStatus::Idle && a.messages_handled == 4)
    })
    .await;
    assert_eq!(silo.activation_stats(&apple).unwrap().mailbox_len, 0);
}

#[tokio::test]
async fn a_grain_that_never_goes_idle_is_still_counted() {
    let (first, second) = (Gate::closed(), Gate::closed());
    let silo = start_with(&first, &second).await;
    let apple = silo.grain::<Apple>("busy");
    apple.tell().hold().unwrap();
    first.wait_for_arrivals(1).await;
    apple.tell().add(1).unwrap();
    apple.tell().hold_again().unwrap();
    // Once the second held turn has started, the activation has taken three messages without
    // ever being idle.
    first.open();
    second.wait_for_arrivals(1).await;

    let kind = silo.stats().kind("Apple").cloned().unwrap();
    assert_eq!(kind.messages_handled, 3, "{kind:?}");
    assert_eq!(silo.activation_stats(&apple).unwrap().messages_handled, 3);
    second.open();
}

async fn swept_every(interval: Duration) -> Silo {
    silo()
        .register::<Pear>()
        .passivation_sweep_interval(interval)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn idle_time_counts_from_the_sweep_that_finds_the_grain_idle() {
    // No sweep after the one at start: the turn's activity is not stamped yet.
    let unswept = swept_every(Duration::from_secs(3_600)).await;
    let pear = unswept.grain::<Pear>("p");
    pear.touch().await.unwrap();
    let idle = unswept.activation_stats(&pear).unwrap();
    assert_eq!(idle.status, ActivationStatus::Idle);
    assert_eq!(idle.idle_for, Duration::ZERO);

    let swept = swept_every(Duration::from_millis(10)).await;
    let pear = swept.grain::<Pear>("p");
    pear.touch().await.unwrap();
    eventually("a sweep stamps the end of the activity", || {
        swept
            .activation_stats(&pear)
            .is_some_and(|stats| stats.idle_for >= Duration::from_millis(20))
    })
    .await;
    assert_eq!(
        swept.activation_stats(&pear).unwrap().status,
        ActivationStatus::Idle
    );
}

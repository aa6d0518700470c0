//! An activation idle for its idle timeout (`#[grain(idle_timeout = "...")]` or the silo's
//! default) is passivated: `on_deactivate` runs, it leaves the catalog, and the next call starts
//! a fresh activation. A grain inside a turn is never passivated, and `deactivate_on_idle` ends
//! an activation right after its turn.

use std::time::Duration;

use grain_runtime::ActivationStatus;
use grain_runtime::prelude::*;
use grain_tests::{Gate, Recorder, eventually, silo};

/// Passivated after 100 ms without calls.
#[grain(idle_timeout = "100ms")]
pub struct Brief {
    value: u64,
    gate: Gate,
    log: Recorder,
}

#[grain]
impl Brief {
    /// Records the deactivation.
    async fn on_deactivate(&mut self, ctx: &GrainContext<Self>) {
        self.log
            .record(format!("deactivate {} at {}", ctx.id(), self.value));
    }

    /// Adds `n` and returns the new value.
    pub async fn add(&mut self, n: u64) -> u64 {
        self.value += n;
        self.value
    }

    /// Waits at the gate.
    pub async fn hold(&mut self) {
        self.gate.pass().await;
    }

    /// Adds `n`, then asks to be deactivated as soon as the mailbox is empty.
    pub async fn add_and_leave(&mut self, ctx: &GrainContext<Self>, n: u64) -> u64 {
        ctx.deactivate_on_idle();
        self.value += n;
        self.value
    }
}

/// Takes its idle timeout from the silo.
#[grain]
pub struct Lasting {
    log: Recorder,
}

#[grain]
impl Lasting {
    /// Records the deactivation.
    async fn on_deactivate(&mut self) {
        self.log.record("default deactivate");
    }

    /// Does nothing.
    pub async fn touch(&self) {}
}

async fn start(gate: &Gate, log: &Recorder) -> Silo {
    let (g, l1, l2) = (gate.clone(), log.clone(), log.clone());
    silo()
        .register_with(move |_| Brief {
            value: 0,
            gate: g.clone(),
            log: l1.clone(),
        })
        .register_with(move |_| Lasting { log: l2.clone() })
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_idle_activation_is_passivated_and_reactivated_fresh() {
    let log = Recorder::new();
    let silo = start(&Gate::closed(), &log).await;
    let brief = silo.grain::<Brief>("b");
    assert_eq!(brief.add(5).await, Ok(5));
    assert_eq!(silo.stats().live_activations, 1);

    eventually("the idle grain to be passivated", || {
        silo.stats().live_activations == 0
    })
    .await;
    assert_eq!(log.events(), ["deactivate Brief/\"b\" at 5"]);
    assert_eq!(silo.activation_stats(&brief), None);
    let stats = silo.stats();
    assert_eq!(stats.passivations, 1);
    assert_eq!(stats.kind("Brief").unwrap().passivations, 1);

    assert_eq!(brief.add(1).await, Ok(1), "a fresh activation");
    assert_eq!(silo.stats().activations, 2);
}

#[tokio::test]
async fn the_silo_idle_timeout_applies_to_grains_without_one() {
    let log = Recorder::new();
    let l = log.clone();
    let silo = silo()
        .idle_timeout(Duration::from_millis(100))
        .register_with(move |_| Lasting { log: l.clone() })
        .start()
        .await
        .unwrap();
    silo.grain::<Lasting>("d").touch().await.unwrap();
    eventually("the idle grain to be passivated", || {
        silo.stats().passivations == 1
    })
    .await;
    assert_eq!(log.events(), ["default deactivate"]);
    assert_eq!(silo.stats().live_activations, 0);
}

#[tokio::test]
async fn the_attribute_overrides_the_silo_default() {
    // The silo default (2 minutes) applies to Lasting, the attribute (100 ms) to Brief.
    let log = Recorder::new();
    let silo = start(&Gate::closed(), &log).await;
    silo.grain::<Lasting>("d").touch().await.unwrap();
    silo.grain::<Brief>("b").add(1).await.unwrap();
    eventually("the brief grain to be passivated", || {
        silo.stats().kind("Brief").unwrap().passivations == 1
    })
    .await;
    let stats = silo.stats();
    assert_eq!(stats.kind("Lasting").unwrap().live_activations, 1);
    assert_eq!(stats.kind("Lasting").unwrap().passivations, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grain_inside_a_long_turn_is_not_passivated() {
    let gate = Gate::closed();
    let log = Recorder::new();
    let silo = start(&gate, &log).await;
    let busy = silo.grain::<Brief>("busy");
    busy.tell().hold().unwrap();
    gate.wait_for_arrivals(1).await;

    // A witness activated after the busy one started its turn: once it has been passivated,
    // the busy grain has gone without a finished turn for longer than the idle timeout.
    let witness = silo.grain::<Brief>("witness");
    witness.add(1).await.unwrap();
    eventually("the witness to be passivated", || {
        log.count("deactivate Brief/\"witness\" at 1") == 1
    })
    .await;
    let busy_stats = silo
        .activation_stats(&busy)
        .expect("busy grain still active");
    assert_eq!(busy_stats.status, ActivationStatus::Running);
    assert_eq!(log.count("deactivate Brief/\"busy\" at 0"), 0);

    gate.open();
    assert_eq!(busy.add(2).await, Ok(2), "same activation, same state");
    assert_eq!(silo.stats().kind("Brief").unwrap().activations, 2);
}

// Paused time makes the 5 ms between calls exact, so no scheduling hiccup can stretch a gap
// past the idle timeout.
#[tokio::test(start_paused = true)]
async fn recent_calls_restart_the_idle_clock() {
    let log = Recorder::new();
    let silo = start(&Gate::closed(), &log).await;
    let kept = silo.grain::<Brief>("kept");
    let witness = silo.grain::<Brief>("witness");
    kept.add(1).await.unwrap();
    witness.add(1).await.unwrap();
    // Keep calling `kept` until the witness, activated at the same time, has been passivated.
    let mut calls = 1;
    while log.count("deactivate Brief/\"witness\" at 1") == 0 {
        calls += 1;
        assert_eq!(
            kept.add(1).await,
            Ok(calls),
            "the kept grain was passivated"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(calls < 1_000, "the witness was never passivated");
    }
    assert!(silo.activation_stats(&kept).is_some());
}

#[tokio::test]
async fn deactivate_on_idle_ends_the_activation_after_its_turn() {
    let log = Recorder::new();
    let silo = start(&Gate::closed(), &log).await;
    let brief = silo.grain::<Brief>("b");
    assert_eq!(brief.add_and_leave(3).await, Ok(3));
    eventually("the deactivation", || silo.stats().live_activations == 0).await;
    assert_eq!(log.events(), ["deactivate Brief/\"b\" at 3"]);
    assert_eq!(silo.stats().passivations, 1);
    assert_eq!(brief.add(1).await, Ok(1));
}

#[tokio::test]
async fn deactivate_on_idle_waits_for_queued_calls() {
    let gate = Gate::closed();
    let log = Recorder::new();
    let silo = start(&gate, &log).await;
    let brief = silo.grain::<Brief>("b");
    brief.tell().hold().unwrap();
    gate.wait_for_arrivals(1).await;
    brief.tell().add_and_leave(1).unwrap();
    brief.tell().add(10).unwrap();
    let last = tokio::spawn({
        let brief = brief.clone();
        async move { brief.add(100).await }
    });
    eventually("every call to be queued", || {
        silo.activation_stats(&brief).unwrap().mailbox_len == 3
    })
    .await;
    gate.open();
    assert_eq!(
        last.await.unwrap(),
        Ok(111),
        "same activation until the mailbox emptied"
    );
    eventually("the deactivation", || silo.stats().live_activations == 0).await;
    assert_eq!(log.events(), ["deactivate Brief/\"b\" at 111"]);
}

/// Reentrant, with a slow timer tick that other calls interleave with.
#[grain(idle_timeout = "100ms", reentrant)]
#[derive(Default)]
pub struct Watch;

#[grain]
impl Watch {
    /// Ticks once, 50 ms from now.
    pub async fn start(&mut self, ctx: &GrainContext<Self>) {
        ctx.register_timer(Duration::from_millis(50), Duration::from_secs(3600), |me| {
            me.tell().slow_tick()
        });
    }

    /// A tick that takes 300 ms.
    pub async fn slow_tick(&self) {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    /// Answers at once; interleaves with the tick.
    pub async fn read(&self) -> u8 {
        7
    }
}

#[tokio::test(start_paused = true)]
async fn a_call_interleaved_with_a_timer_tick_restarts_the_idle_clock() {
    let silo = silo().register::<Watch>().start().await.unwrap();
    let watch = silo.grain::<Watch>("w");
    let started = tokio::time::Instant::now();
    watch.start().await.unwrap();
    tokio::time::sleep_until(started + Duration::from_millis(200)).await;
    assert_eq!(watch.read().await.unwrap(), 7, "read runs beside the tick");
    // The tick ends at 350 ms. Counting only the tick, the grain was last active at 0 ms and
    // would be passivated at once; counting the read, it stays until 450 ms.
    tokio::time::sleep_until(started + Duration::from_millis(400)).await;
    let stats = silo
        .activation_stats(&watch)
        .expect("still active at 400 ms");
    assert_eq!(stats.status, ActivationStatus::Idle);
    eventually("passivated after the idle timeout", || {
        silo.activation_stats(&watch).is_none()
    })
    .await;
}

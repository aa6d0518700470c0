//! `GrainContext::register_timer` calls its closure after `due`, then every `period`, and each
//! tell it sends runs as a turn of the grain. Timers stop with their activation (passivation,
//! a panic) or when cancelled, and their ticks alone do not keep a grain active.
//!
//! These tests run on paused tokio time: the clock only moves when every task is waiting, so the
//! windows in which a timer must *not* fire are exact instead of hopeful.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use grain_runtime::prelude::*;
use grain_runtime::{GrainTimer, SiloBuilder};
use grain_tests::{eventually, eventually_async, silo};

/// Counts the ticks of its timer, in its state and in a counter that outlives activations.
#[grain]
pub struct Ticker {
    ticks: u64,
    total: Arc<AtomicU64>,
    timer: Option<GrainTimer>,
}

#[grain]
impl Ticker {
    /// Starts a timer that tells `tick` after `due_ms`, then every `period_ms`.
    pub async fn start(&mut self, ctx: &GrainContext<Self>, due_ms: u64, period_ms: u64) {
        let timer = ctx.register_timer(
            Duration::from_millis(due_ms),
            Duration::from_millis(period_ms),
            |me| me.tell().tick(),
        );
        self.timer = Some(timer);
    }

    /// One tick.
    pub async fn tick(&mut self) {
        self.ticks += 1;
        self.total.fetch_add(1, Ordering::SeqCst);
    }

    /// The ticks this activation has seen.
    pub async fn ticks(&self) -> u64 {
        self.ticks
    }

    /// Cancels the timer.
    pub async fn cancel(&mut self) {
        if let Some(timer) = &self.timer {
            timer.cancel();
        }
    }

    /// Whether the timer has stopped.
    pub async fn stopped(&self) -> bool {
        self.timer.as_ref().is_some_and(GrainTimer::is_stopped)
    }

    /// Panics, discarding the activation.
    pub async fn boom(&mut self) {
        panic!("ticker down");
    }
}

fn start(total: &Arc<AtomicU64>, builder: SiloBuilder) -> SiloBuilder {
    let total = Arc::clone(total);
    builder.register_with(move |_| Ticker {
        ticks: 0,
        total: Arc::clone(&total),
        timer: None,
    })
}

/// Lets paused time move on by `ms`.
async fn wait_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[tokio::test(start_paused = true)]
async fn ticks_come_after_due_then_every_period() {
    let total = Arc::new(AtomicU64::new(0));
    let silo = start(&total, silo()).start().await.unwrap();
    let ticker = silo.grain::<Ticker>("t");
    ticker.start(50, 20).await.unwrap();

    wait_ms(49).await;
    assert_eq!(ticker.ticks().await, Ok(0), "before due");
    wait_ms(2).await;
    assert_eq!(ticker.ticks().await, Ok(1), "at due");
    wait_ms(18).await;
    assert_eq!(ticker.ticks().await, Ok(1), "before the first period");
    wait_ms(2).await;
    assert_eq!(ticker.ticks().await, Ok(2), "after the first period");
    wait_ms(200).await;
    assert_eq!(ticker.ticks().await, Ok(12));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticks_run_as_turns_on_real_time() {
    let total = Arc::new(AtomicU64::new(0));
    let silo = start(&total, silo()).start().await.unwrap();
    let ticker = silo.grain::<Ticker>("t");
    ticker.start(0, 5).await.unwrap();
    eventually_async("a few ticks", || async {
        ticker.ticks().await.unwrap() >= 3
    })
    .await;
    let handled = silo.activation_stats(&ticker).unwrap().messages_handled;
    assert!(
        handled >= 3,
        "ticks are counted as handled messages: {handled}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_timer_stops_ticking() {
    let total = Arc::new(AtomicU64::new(0));
    let silo = start(&total, silo()).start().await.unwrap();
    let ticker = silo.grain::<Ticker>("t");
    ticker.start(0, 10).await.unwrap();
    wait_ms(35).await;
    assert_eq!(ticker.ticks().await, Ok(4));

    ticker.cancel().await.unwrap();
    let at_cancel = ticker.ticks().await.unwrap();
    wait_ms(200).await;
    assert!(ticker.stopped().await.unwrap());
    assert_eq!(ticker.ticks().await, Ok(at_cancel), "ticked after cancel");
}

#[tokio::test(start_paused = true)]
async fn ticks_do_not_keep_a_grain_active_and_stop_with_it() {
    let total = Arc::new(AtomicU64::new(0));
    let builder = silo().idle_timeout(Duration::from_millis(100));
    let silo = start(&total, builder).start().await.unwrap();
    let ticker = silo.grain::<Ticker>("t");
    ticker.start(0, 10).await.unwrap();

    eventually("the ticking grain to be passivated", || {
        silo.stats().live_activations == 0
    })
    .await;
    let ticked = total.load(Ordering::SeqCst);
    assert!(
        ticked >= 5,
        "the timer ran while the grain was active: {ticked}"
    );
    assert_eq!(silo.stats().passivations, 1);

    wait_ms(500).await;
    assert_eq!(
        total.load(Ordering::SeqCst),
        ticked,
        "the timer outlived its activation"
    );
    let stats = silo.stats();
    assert_eq!(
        stats.activations, 1,
        "a stopped timer re-activated the grain"
    );
    assert_eq!(stats.live_activations, 0);
}

#[tokio::test(start_paused = true)]
async fn a_discarded_activation_stops_its_timers() {
    let total = Arc::new(AtomicU64::new(0));
    let silo = start(&total, silo()).start().await.unwrap();
    let ticker = silo.grain::<Ticker>("t");
    ticker.start(0, 10).await.unwrap();
    wait_ms(25).await;
    assert!(matches!(
        ticker.boom().await,
        Err(CallError::Panicked { .. })
    ));
    let ticked = total.load(Ordering::SeqCst);

    wait_ms(200).await;
    assert_eq!(total.load(Ordering::SeqCst), ticked);
    assert_eq!(
        silo.stats().activations,
        1,
        "a stopped timer re-activated the grain"
    );
    assert_eq!(
        ticker.ticks().await,
        Ok(0),
        "a fresh activation without a timer"
    );
}

#[tokio::test(start_paused = true)]
async fn a_timer_started_again_after_reactivation_ticks_again() {
    let total = Arc::new(AtomicU64::new(0));
    let builder = silo().idle_timeout(Duration::from_millis(100));
    let silo = start(&total, builder).start().await.unwrap();
    let ticker = silo.grain::<Ticker>("t");
    ticker.start(0, 10).await.unwrap();
    eventually("the first passivation", || silo.stats().passivations == 1).await;

    ticker.start(0, 10).await.unwrap();
    eventually_async("ticks on the new activation", || async {
        ticker.ticks().await.unwrap() >= 3
    })
    .await;
    assert_eq!(silo.stats().activations, 2);
}

/// Starts a timer from its `on_activate` hook.
#[grain]
#[derive(Default)]
pub struct SelfStarting {
    ticks: u64,
}

#[grain]
impl SelfStarting {
    /// Starts ticking every 10 ms.
    async fn on_activate(&mut self, ctx: &GrainContext<Self>) {
        ctx.register_timer(Duration::ZERO, Duration::from_millis(10), |me| {
            me.tell().tick()
        });
    }

    /// One tick.
    pub async fn tick(&mut self) {
        self.ticks += 1;
    }

    /// The ticks so far.
    pub async fn ticks(&self) -> u64 {
        self.ticks
    }
}

#[tokio::test(start_paused = true)]
async fn a_timer_registered_in_on_activate_ticks() {
    let silo = silo().register::<SelfStarting>().start().await.unwrap();
    let grain = silo.grain::<SelfStarting>("s");
    assert_eq!(grain.ticks().await, Ok(0));
    wait_ms(35).await;
    assert_eq!(grain.ticks().await, Ok(4));
}

//! Every ask has a deadline: the silo's default or the call's own. The caller gets
//! `CallError::Timeout` naming the grain and method, and a call still queued when its deadline
//! passes is dropped without running.

use std::time::Duration;

use std::future::IntoFuture as _;

use grain_runtime::prelude::*;
use grain_tests::{Gate, WAIT, eventually, silo};

/// A grain that can be held inside a turn, and counts the bumps it ran.
#[grain]
pub struct Held {
    gate: Gate,
    bumps: u64,
}

#[grain]
impl Held {
    /// Waits at the gate.
    pub async fn hold(&mut self) {
        self.gate.pass().await;
    }

    /// Waits at the gate, then bumps.
    pub async fn hold_then_bump(&mut self) {
        self.gate.pass().await;
        self.bumps += 1;
    }

    /// Counts one bump and returns the count.
    pub async fn bump(&mut self) -> u64 {
        self.bumps += 1;
        self.bumps
    }

    /// The bumps so far.
    pub async fn bumps(&self) -> u64 {
        self.bumps
    }
}

async fn start(ask_timeout: Duration, gate: &Gate) -> Silo {
    let gate = gate.clone();
    silo()
        .ask_timeout(ask_timeout)
        .register_with(move |_| Held {
            gate: gate.clone(),
            bumps: 0,
        })
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_default_deadline_comes_from_the_builder() {
    let gate = Gate::closed();
    let silo = start(Duration::from_millis(100), &gate).await;
    let held = silo.grain::<Held>("h");

    let error = tokio::time::timeout(WAIT, held.hold())
        .await
        .expect("the ask gave up at its deadline")
        .unwrap_err();
    assert_eq!(
        error,
        CallError::Timeout {
            grain: held.id().clone(),
            method: "hold",
            after: Duration::from_millis(100),
        }
    );
    let text = error.to_string();
    assert!(text.contains("Held/\"h\".hold"), "{text}");
    gate.open();
}

#[tokio::test]
async fn a_call_can_shorten_its_deadline() {
    let gate = Gate::closed();
    let silo = start(Duration::from_secs(30), &gate).await;
    let held = silo.grain::<Held>("h");

    let error = tokio::time::timeout(WAIT, held.hold().timeout(Duration::from_millis(50)))
        .await
        .expect("the per-call deadline, not the 30 s default, applied")
        .unwrap_err();
    assert!(
        matches!(
            error,
            CallError::Timeout { ref grain, method: "hold", after }
                if grain == held.id() && after == Duration::from_millis(50)
        ),
        "{error:?}"
    );
    gate.open();
}

#[tokio::test]
async fn a_call_can_extend_its_deadline() {
    let gate = Gate::closed();
    let silo = start(Duration::from_millis(50), &gate).await;
    let held = silo.grain::<Held>("h");

    let patient = tokio::spawn({
        let held = held.clone();
        async move { held.hold_then_bump().timeout(WAIT).await }
    });
    gate.wait_for_arrivals(1).await;
    // A call with the default deadline to another held grain times out, so the default
    // deadline has passed for the patient call as well.
    let other = silo.grain::<Held>("other");
    assert!(matches!(other.hold().await, Err(CallError::Timeout { .. })));
    assert!(!patient.is_finished());

    gate.open();
    patient.await.unwrap().unwrap();
    assert_eq!(held.bumps().await.unwrap(), 1);
}

#[tokio::test]
async fn a_call_still_queued_at_its_deadline_is_dropped_unexecuted() {
    let gate = Gate::closed();
    let silo = start(Duration::from_secs(30), &gate).await;
    let held = silo.grain::<Held>("h");

    held.tell().hold().unwrap();
    gate.wait_for_arrivals(1).await;
    let error = held
        .bump()
        .timeout(Duration::from_millis(50))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        CallError::Timeout {
            grain: held.id().clone(),
            method: "bump",
            after: Duration::from_millis(50),
        }
    );
    assert_eq!(silo.activation_stats(&held).unwrap().mailbox_len, 1);
    assert_eq!(silo.stats().expired, 0, "still queued, not yet dropped");

    // A tell has no deadline: queued behind the expired ask, it still runs.
    held.tell().bump().unwrap();
    gate.open();
    eventually("the expired call to be dropped", || {
        silo.stats().expired == 1
    })
    .await;
    assert_eq!(held.bumps().await.unwrap(), 1, "the expired bump ran");
    let kind = silo.stats().kind("Held").cloned().unwrap();
    assert_eq!(kind.expired, 1);
}

#[tokio::test]
async fn a_turn_that_started_before_the_deadline_runs_to_its_end() {
    let gate = Gate::closed();
    let silo = start(Duration::from_secs(30), &gate).await;
    let held = silo.grain::<Held>("h");

    let error = held
        .hold_then_bump()
        .timeout(Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        CallError::Timeout {
            method: "hold_then_bump",
            ..
        }
    ));
    assert_eq!(gate.arrived(), 1, "the turn had started");
    gate.open();
    assert_eq!(held.bumps().await.unwrap(), 1);
    assert_eq!(silo.stats().expired, 0);
}

#[tokio::test]
async fn an_ask_that_is_never_awaited_sends_nothing() {
    let gate = Gate::closed();
    let silo = start(Duration::from_secs(30), &gate).await;
    let held = silo.grain::<Held>("h");
    drop(held.bump());
    assert_eq!(silo.stats().activations, 0);
    assert_eq!(held.bumps().await, Ok(0));
}

#[tokio::test]
async fn an_ask_future_dropped_before_its_first_poll_sends_nothing() {
    let gate = Gate::closed();
    let silo = start(Duration::from_secs(30), &gate).await;
    let held = silo.grain::<Held>("h");
    drop(held.bump().into_future());
    assert_eq!(held.bumps().await, Ok(0));
}

#[tokio::test]
async fn a_dropped_ask_still_runs() {
    let gate = Gate::closed();
    let silo = start(Duration::from_secs(30), &gate).await;
    let held = silo.grain::<Held>("h");
    assert_eq!(held.bumps().await, Ok(0));
    // The first poll sends the call and starts its turn, which waits at the gate; dropping the
    // future then does not recall it.
    let mut ask = held.hold_then_bump().into_future();
    assert!(futures::poll!(&mut ask).is_pending());
    drop(ask);
    gate.open();
    assert_eq!(held.bumps().await, Ok(1));
}

/// Deadlines of a second and more are kept by the runtime's deadline watchdog rather than by a
/// tokio timer per ask; they must fire just as surely.
const LONG: Duration = Duration::from_millis(1_200);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_deadline_fails_a_stuck_call_when_it_passes() {
    let gate = Gate::closed();
    let silo = start(LONG, &gate).await;
    let held = silo.grain::<Held>("h");
    let started = std::time::Instant::now();
    let error = tokio::time::timeout(WAIT, held.hold())
        .await
        .expect("the ask gave up at its deadline")
        .unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(error, CallError::Timeout { method: "hold", after, .. } if after == LONG),
        "{error:?}"
    );
    assert!(waited >= LONG, "gave up early, after {waited:?}");
    gate.open();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_answers_within_a_long_deadline_arrive_while_a_stuck_call_times_out() {
    let (slow_gate, stuck_gate) = (Gate::closed(), Gate::closed());
    let silo = silo()
        .ask_timeout(LONG)
        .register_with({
            let (slow_gate, stuck_gate) = (slow_gate.clone(), stuck_gate.clone());
            move |id| Held {
                gate: if id.to_string().contains("stuck") {
                    stuck_gate.clone()
                } else {
                    slow_gate.clone()
                },
                bumps: 0,
            }
        })
        .start()
        .await
        .unwrap();
    let stuck = tokio::spawn({
        let stuck = silo.grain::<Held>("stuck");
        async move { stuck.hold().await }
    });
    let slow: Vec<_> = (0..20u64)
        .map(|n| {
            let held = silo.grain::<Held>(n);
            tokio::spawn(async move { held.hold_then_bump().await })
        })
        .collect();
    slow_gate.wait_for_arrivals(20).await;
    // Well past the watchdog's grace, well before the deadline.
    tokio::time::sleep(Duration::from_millis(300)).await;
    slow_gate.open();
    for (n, ask) in slow.into_iter().enumerate() {
        assert_eq!(ask.await.unwrap(), Ok(()), "slow ask {n}");
        assert_eq!(silo.grain::<Held>(n as u64).bumps().await, Ok(1));
    }
    let error = tokio::time::timeout(WAIT, stuck)
        .await
        .expect("the stuck ask gave up at its deadline")
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(error, CallError::Timeout { method: "hold", .. }),
        "{error:?}"
    );
    stuck_gate.open();
}

#[tokio::test]
async fn an_ask_due_at_once_expires_unexecuted_even_when_its_grain_is_idle() {
    let silo = start(Duration::from_secs(30), &Gate::closed()).await;
    let held = silo.grain::<Held>("h");
    assert_eq!(held.bumps().await, Ok(0));
    // An idle grain would run an ask in the asker's own poll; one due at once must not run.
    let error = held.bump().timeout(Duration::ZERO).await.unwrap_err();
    assert!(
        matches!(error, CallError::Timeout { method: "bump", .. }),
        "{error:?}"
    );
    assert_eq!(held.bumps().await, Ok(0));
}

#[tokio::test]
async fn an_ask_whose_turn_waits_in_the_asker_still_gives_up_at_its_deadline() {
    let gate = Gate::closed();
    let silo = start(Duration::from_secs(30), &gate).await;
    let held = silo.grain::<Held>("h");
    assert_eq!(held.bumps().await, Ok(0));
    // The grain is idle, so the asker starts the turn itself; it waits at the gate.
    let error = tokio::time::timeout(WAIT, held.hold().timeout(Duration::from_millis(50)))
        .await
        .expect("the ask gave up at its deadline")
        .unwrap_err();
    assert!(
        matches!(error, CallError::Timeout { method: "hold", .. }),
        "{error:?}"
    );
    gate.open();
    assert_eq!(held.bump().await, Ok(1));
}

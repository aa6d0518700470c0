//! A panicking turn fails its call with `CallError::Panicked` and discards the activation; the
//! silo and other grains carry on, and the next message (including those already queued) runs on
//! a fresh activation that starts from the factory's state.

use std::time::Duration;

use grain_runtime::prelude::*;
use grain_tests::{Gate, Recorder, WAIT, eventually, silo};

/// A counter that panics on request.
#[grain]
pub struct Fragile {
    value: u64,
    gate: Gate,
    log: Recorder,
}

#[grain]
impl Fragile {
    /// Records each activation.
    async fn on_activate(&mut self, ctx: &GrainContext<Self>) {
        self.log.record(format!("activate {}", ctx.id()));
    }

    /// Adds `n` and returns the new value.
    pub async fn add(&mut self, n: u64) -> u64 {
        self.value += n;
        self.value
    }

    /// Changes the state, then panics with `message`.
    pub async fn boom(&mut self, message: String) -> u64 {
        self.value += 1000;
        panic!("{message}");
    }

    /// Waits at the gate.
    pub async fn hold(&mut self) {
        self.gate.pass().await;
    }
}

async fn start(gate: &Gate, log: &Recorder) -> Silo {
    let (gate, log) = (gate.clone(), log.clone());
    silo()
        .register_with(move |_| Fragile {
            value: 0,
            gate: gate.clone(),
            log: log.clone(),
        })
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_caller_gets_the_panic_message() {
    let silo = start(&Gate::closed(), &Recorder::new()).await;
    let fragile = silo.grain::<Fragile>("f");
    let error = fragile.boom("kaboom 7".into()).await.unwrap_err();
    assert_eq!(
        error,
        CallError::Panicked {
            grain: fragile.id().clone(),
            method: "boom",
            message: "kaboom 7".into(),
        }
    );
    assert!(error.to_string().contains("kaboom 7"));
    eventually("the panic to be counted", || silo.stats().panics == 1).await;
    assert!(silo.is_running());
}

#[tokio::test]
async fn the_next_call_starts_from_fresh_state() {
    let log = Recorder::new();
    let silo = start(&Gate::closed(), &log).await;
    let fragile = silo.grain::<Fragile>("f");
    assert_eq!(fragile.add(5).await, Ok(5));
    assert!(fragile.boom("x".into()).await.is_err());
    assert_eq!(
        fragile.add(1).await,
        Ok(1),
        "the state before the panic survived"
    );

    let stats = silo.stats();
    assert_eq!(stats.activations, 2);
    assert_eq!(stats.live_activations, 1);
    assert_eq!(stats.panics, 1);
    assert_eq!(
        stats.passivations, 0,
        "a discarded activation is not passivated"
    );
    assert_eq!(log.count("activate Fragile/\"f\""), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_grains_keep_their_state() {
    let silo = start(&Gate::closed(), &Recorder::new()).await;
    let stable = silo.grain::<Fragile>("stable");
    let fragile = silo.grain::<Fragile>("fragile");
    assert_eq!(stable.add(3).await, Ok(3));
    for _ in 0..5 {
        assert!(matches!(
            fragile.boom("again".into()).await,
            Err(CallError::Panicked { .. })
        ));
    }
    assert_eq!(stable.add(1).await, Ok(4));
    // The activation is discarded, and the panic counted, just after the caller got its error.
    eventually("every panic to be counted", || silo.stats().panics == 5).await;
}

#[tokio::test]
async fn calls_queued_behind_the_panic_run_on_a_new_activation() {
    let gate = Gate::closed();
    let log = Recorder::new();
    let silo = start(&gate, &log).await;
    let fragile = silo.grain::<Fragile>("f");
    assert_eq!(fragile.add(5).await, Ok(5));

    fragile.tell().hold().unwrap();
    gate.wait_for_arrivals(1).await;
    let boom = tokio::spawn({
        let fragile = fragile.clone();
        async move { fragile.boom("queued boom".into()).await }
    });
    eventually("the boom to be queued", || {
        silo.activation_stats(&fragile).unwrap().mailbox_len == 1
    })
    .await;
    fragile.tell().add(1).unwrap();
    let after = tokio::spawn({
        let fragile = fragile.clone();
        async move { fragile.add(10).await }
    });
    eventually("every call to be queued", || {
        silo.activation_stats(&fragile).unwrap().mailbox_len == 3
    })
    .await;

    gate.open();
    assert!(matches!(
        boom.await.unwrap(),
        Err(CallError::Panicked { .. })
    ));
    assert_eq!(after.await.unwrap(), Ok(11), "1 + 10 on a fresh activation");
    assert_eq!(silo.stats().activations, 2);
    assert_eq!(log.count("activate Fragile/\"f\""), 2);
}

/// A grain that can be held inside `&self` turns that interleave, and can panic in one.
#[grain(reentrant)]
pub struct Shaky {
    gate: Gate,
}

#[grain]
impl Shaky {
    /// Waits at the gate, then answers.
    pub async fn hold(&self) -> String {
        self.gate.pass().await;
        "held".to_string()
    }

    /// Panics beside the held turns.
    pub async fn boom(&self) {
        panic!("shaky");
    }

    /// Asks the helper, who calls back into `peek` once its gate opens.
    pub async fn consult(&self, ctx: &GrainContext<Self>) -> Result<String, String> {
        ctx.grain::<Helper>("h")
            .call_back(ctx.this())
            .await
            .unwrap()
    }

    /// Answers at once.
    pub async fn peek(&self) -> String {
        "peeked".to_string()
    }
}

/// Calls back into a `Shaky` once its gate opens.
#[grain]
pub struct Helper {
    gate: Gate,
}

#[grain]
impl Helper {
    /// Waits at the gate, then asks `shaky.peek`.
    pub async fn call_back(&self, shaky: VirtualActorRef<Shaky>) -> Result<String, String> {
        self.gate.pass().await;
        shaky.peek().await.map_err(|e| e.to_string())
    }
}

async fn start_shaky(gate: &Gate, helper_gate: &Gate) -> Silo {
    let (g, h) = (gate.clone(), helper_gate.clone());
    silo()
        .ask_timeout(Duration::from_secs(30))
        .register_with(move |_| Shaky { gate: g.clone() })
        .register_with(move |_| Helper { gate: h.clone() })
        .start()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_among_interleaved_turns_lets_the_others_finish() {
    let gate = Gate::closed();
    let silo = start_shaky(&gate, &Gate::closed()).await;
    let shaky = silo.grain::<Shaky>("s");
    let held = tokio::spawn({
        let shaky = shaky.clone();
        async move { shaky.hold().await }
    });
    gate.wait_for_arrivals(1).await;
    assert!(matches!(
        shaky.boom().timeout(WAIT).await,
        Err(CallError::Panicked { .. })
    ));
    gate.open();
    let held = tokio::time::timeout(WAIT, held).await.unwrap().unwrap();
    assert_eq!(held.as_deref(), Ok("held"));
    // The activation was discarded all the same.
    assert_eq!(shaky.hold().await.as_deref(), Ok("held"));
    assert_eq!(silo.stats().activations, 2);
}

/// A grain whose first activations fail.
#[grain]
pub struct Moody {
    attempt: usize,
    failing: usize,
    gate: Gate,
}

#[grain]
impl Moody {
    /// Panics while `attempt < failing`, after waiting at the gate.
    async fn on_activate(&mut self) {
        self.gate.pass().await;
        if self.attempt < self.failing {
            panic!("not today (attempt {})", self.attempt);
        }
    }

    /// Answers with the attempt that activated.
    pub async fn attempt(&self) -> usize {
        self.attempt
    }
}

async fn start_moody(failing: usize, gate: &Gate) -> Silo {
    let attempts = std::sync::atomic::AtomicUsize::new(0);
    let gate = gate.clone();
    silo()
        .register_with(move |_| Moody {
            attempt: attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
            failing,
            gate: gate.clone(),
        })
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_panicking_on_activate_fails_the_call_and_the_next_call_retries() {
    let gate = Gate::closed();
    gate.open();
    let silo = start_moody(1, &gate).await;
    let moody = silo.grain::<Moody>("m");
    let error = moody.attempt().await.unwrap_err();
    match &error {
        CallError::ActivationFailed {
            grain,
            method,
            message,
        } => {
            assert_eq!(grain, moody.id());
            assert_eq!(*method, "attempt");
            assert!(message.contains("not today (attempt 0)"), "{message}");
        }
        other => panic!("expected ActivationFailed, got {other:?}"),
    }
    assert_eq!(silo.stats().panics, 1);
    assert_eq!(silo.stats().live_activations, 0);

    assert_eq!(moody.attempt().await, Ok(1));
    assert_eq!(silo.stats().activations, 2);
}

#[tokio::test]
async fn calls_queued_during_a_failed_activation_fail_too() {
    let gate = Gate::closed();
    let silo = start_moody(1, &gate).await;
    let moody = silo.grain::<Moody>("m");
    let first = tokio::spawn({
        let moody = moody.clone();
        async move { moody.attempt().timeout(Duration::from_secs(5)).await }
    });
    gate.wait_for_arrivals(1).await;
    let second = tokio::spawn({
        let moody = moody.clone();
        async move { moody.attempt().timeout(Duration::from_secs(5)).await }
    });
    eventually("the second call to be queued", || {
        silo.activation_stats(&moody)
            .is_some_and(|a| a.mailbox_len == 2)
    })
    .await;
    gate.open();
    for call in [first, second] {
        assert!(matches!(
            call.await.unwrap(),
            Err(CallError::ActivationFailed { .. })
        ));
    }
    assert_eq!(moody.attempt().await, Ok(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_outliving_a_panic_still_gets_its_call_back() {
    let helper_gate = Gate::closed();
    let silo = start_shaky(&Gate::closed(), &helper_gate).await;
    let shaky = silo.grain::<Shaky>("s");
    let consult = tokio::spawn({
        let shaky = shaky.clone();
        async move { shaky.consult().await }
    });
    helper_gate.wait_for_arrivals(1).await;
    assert!(matches!(
        shaky.boom().timeout(WAIT).await,
        Err(CallError::Panicked { .. })
    ));
    helper_gate.open();
    let answer = tokio::time::timeout(WAIT, consult)
        .await
        .expect("the call-back waited for its 30 s deadline")
        .unwrap();
    assert_eq!(answer, Ok(Ok("peeked".to_string())));
}

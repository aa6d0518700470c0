//! `Silo::shutdown` stops new activations, lets queued and running calls finish, runs
//! `on_deactivate` for every activation and reports what it could not stop in time. Afterwards
//! every call fails with `CallError::ShuttingDown`.

use std::sync::Arc;
use std::time::Duration;

use grain_runtime::prelude::*;
use grain_tests::{Gate, Recorder, WAIT, eventually, silo};

/// A grain that can be held inside a turn and records its deactivation.
#[grain]
pub struct Worker {
    gate: Gate,
    log: Recorder,
    value: u64,
}

#[grain]
impl Worker {
    /// Records the deactivation with the final value.
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
}

fn builder(gate: &Gate, log: &Recorder) -> grain_runtime::SiloBuilder {
    let (gate, log) = (gate.clone(), log.clone());
    silo().register_with(move |_| Worker {
        gate: gate.clone(),
        log: log.clone(),
        value: 0,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_queued_calls_and_deactivates_everything() {
    let (gate, log) = (Gate::closed(), Recorder::new());
    let silo = Arc::new(builder(&gate, &log).start().await.unwrap());
    for key in ["idle-1", "idle-2", "idle-3"] {
        silo.grain::<Worker>(key).add(1).await.unwrap();
    }
    let busy = silo.grain::<Worker>("busy");
    busy.tell().hold().unwrap();
    gate.wait_for_arrivals(1).await;
    let queued: Vec<_> = (0..3)
        .map(|_| {
            let busy = busy.clone();
            tokio::spawn(async move { busy.add(1).await })
        })
        .collect();
    eventually("the asks to be queued", || {
        silo.activation_stats(&busy).unwrap().mailbox_len == 3
    })
    .await;
    busy.tell().add(10).unwrap();

    let stopping = tokio::spawn({
        let silo = Arc::clone(&silo);
        async move { silo.shutdown().await }
    });
    eventually("the silo to stop accepting", || !silo.is_running()).await;

    // No new activation during the drain...
    let fresh = silo.grain::<Worker>("fresh");
    assert_eq!(
        fresh.add(1).await,
        Err(CallError::ShuttingDown {
            grain: fresh.id().clone(),
            method: "add",
        })
    );
    // ...but a grain that is still active takes calls.
    let late = tokio::spawn({
        let busy = busy.clone();
        async move { busy.add(100).await }
    });
    eventually("the late call to be queued", || {
        silo.activation_stats(&busy).unwrap().mailbox_len == 5
    })
    .await;
    assert!(
        !stopping.is_finished(),
        "shutdown did not wait for the held turn"
    );

    gate.open();
    let report = tokio::time::timeout(WAIT, stopping)
        .await
        .expect("shutdown finished once the held turn ended")
        .unwrap();
    assert_eq!(report.abandoned, 0);

    let mut results = Vec::new();
    for call in queued {
        results.push(call.await.unwrap().unwrap());
    }
    results.sort_unstable();
    assert_eq!(results, [1, 2, 3]);
    assert_eq!(late.await.unwrap(), Ok(113));

    let events = log.events();
    assert_eq!(events.len(), 4, "{events:?}");
    for expected in [
        "deactivate Worker/\"idle-1\" at 1",
        "deactivate Worker/\"idle-2\" at 1",
        "deactivate Worker/\"idle-3\" at 1",
        "deactivate Worker/\"busy\" at 113",
    ] {
        assert_eq!(log.count(expected), 1, "{events:?}");
    }
    let stats = silo.stats();
    assert_eq!(stats.live_activations, 0);
    assert_eq!(stats.passivations, 4);
}

#[tokio::test]
async fn calls_after_shutdown_fail_with_shutting_down() {
    let (gate, log) = (Gate::closed(), Recorder::new());
    let silo = builder(&gate, &log).start().await.unwrap();
    let worker = silo.grain::<Worker>("w");
    worker.add(1).await.unwrap();
    let report = silo.shutdown().await;
    assert_eq!(report.abandoned, 0);
    assert!(!silo.is_running());
    assert_eq!(silo.stats().live_activations, 0);

    let shutting_down = CallError::ShuttingDown {
        grain: worker.id().clone(),
        method: "add",
    };
    assert_eq!(worker.add(1).await, Err(shutting_down.clone()));
    assert_eq!(worker.tell().add(1), Err(shutting_down));
    assert!(matches!(
        silo.grain::<Worker>("never").add(1).await,
        Err(CallError::ShuttingDown { .. })
    ));
    assert_eq!(
        silo.shutdown().await.abandoned,
        0,
        "a second shutdown is harmless"
    );
    assert_eq!(log.events(), ["deactivate Worker/\"w\" at 1"]);
}

#[tokio::test]
async fn shutdown_of_an_empty_silo_is_immediate() {
    let (gate, log) = (Gate::closed(), Recorder::new());
    let silo = builder(&gate, &log).start().await.unwrap();
    let report = tokio::time::timeout(WAIT, silo.shutdown()).await.unwrap();
    assert_eq!(report.abandoned, 0);
    assert!(log.events().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_gives_up_on_a_turn_that_never_ends() {
    let (gate, log) = (Gate::closed(), Recorder::new());
    let silo = builder(&gate, &log)
        .shutdown_timeout(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    silo.grain::<Worker>("idle").add(1).await.unwrap();
    let stuck = silo.grain::<Worker>("stuck");
    stuck.tell().hold().unwrap();
    gate.wait_for_arrivals(1).await;

    let report = tokio::time::timeout(WAIT, silo.shutdown())
        .await
        .expect("shutdown gave up at its timeout");
    assert_eq!(report.abandoned, 1);
    assert_eq!(log.events(), ["deactivate Worker/\"idle\" at 1"]);
    gate.open();
}

#[tokio::test]
async fn dropping_the_silo_deactivates_its_grains() {
    let (gate, log) = (Gate::closed(), Recorder::new());
    let silo = builder(&gate, &log).start().await.unwrap();
    let worker = silo.grain::<Worker>("w");
    worker.add(2).await.unwrap();
    drop(silo);
    eventually("the grain to be deactivated", || {
        log.count("deactivate Worker/\"w\" at 2") == 1
    })
    .await;
    assert!(matches!(
        worker.add(1).await,
        Err(CallError::ShuttingDown { .. })
    ));
}

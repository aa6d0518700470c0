//! One activation runs one turn at a time, even when its methods await; different grains run
//! their turns at the same time, on different worker threads.

use std::future::IntoFuture as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use grain_runtime::prelude::*;
use grain_tests::{ConcurrencyProbe, Gate, Recorder, WAIT, eventually, silo};

/// A grain whose every turn awaits, watched by a probe that sees any overlap.
#[grain]
pub struct Worker {
    probe: Arc<ConcurrencyProbe>,
    done: u64,
}

#[grain]
impl Worker {
    /// Awaits a timer and a few yields with exclusive access to the state.
    pub async fn exclusive(&mut self) -> u64 {
        let _turn = self.probe.enter();
        tokio::time::sleep(Duration::from_millis(1)).await;
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        self.done += 1;
        self.done
    }

    /// A `&self` method of a non-reentrant grain: still a turn of its own.
    pub async fn read(&self) -> u64 {
        let _turn = self.probe.enter();
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
        self.done
    }

    /// Awaits another grain in the middle of the turn.
    pub async fn relay(&mut self, ctx: &GrainContext<Self>) -> u64 {
        let _turn = self.probe.enter();
        let echoed = ctx.grain::<Echo>("echo").echo(self.done).await.unwrap();
        self.done += 1;
        echoed
    }
}

/// Answers after a short wait.
#[grain]
#[derive(Default)]
pub struct Echo;

#[grain]
impl Echo {
    /// Returns `n` after yielding.
    pub async fn echo(&self, n: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(1)).await;
        n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awaiting_turns_of_one_activation_never_overlap() {
    let probe = ConcurrencyProbe::new();
    let shared = Arc::clone(&probe);
    let silo = silo()
        .register_with(move |_| Worker {
            probe: Arc::clone(&shared),
            done: 0,
        })
        .register::<Echo>()
        .start()
        .await
        .unwrap();
    let worker = silo.grain::<Worker>("w");

    let calls = (0..60).map(|i| {
        let worker = worker.clone();
        tokio::spawn(async move {
            match i % 4 {
                0 => worker.exclusive().await.map(drop),
                1 => worker.read().await.map(drop),
                2 => worker.relay().await.map(drop),
                _ => worker.tell().exclusive(),
            }
        })
    });
    for call in futures::future::join_all(calls).await {
        call.unwrap().unwrap();
    }
    // The tells were queued before the last asks returned, but may not have run yet.
    eventually("every turn to finish", || probe.entered() == 60).await;
    eventually("no turn to be running", || probe.active() == 0).await;

    assert_eq!(probe.max(), 1, "two turns of one activation overlapped");
    assert_eq!(
        worker.read().await.unwrap(),
        45,
        "exclusive, tell and relay turns"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_reference_methods_of_a_non_reentrant_grain_take_turns_too() {
    let probe = ConcurrencyProbe::new();
    let shared = Arc::clone(&probe);
    let silo = silo()
        .register_with(move |_| Worker {
            probe: Arc::clone(&shared),
            done: 0,
        })
        .register::<Echo>()
        .start()
        .await
        .unwrap();
    let worker = silo.grain::<Worker>("w");
    let reads = (0..30).map(|_| worker.read().into_future());
    for read in futures::future::join_all(reads).await {
        assert_eq!(read, Ok(0));
    }
    assert_eq!(probe.entered(), 30);
    assert_eq!(
        probe.max(),
        1,
        "two `&self` turns of one activation overlapped"
    );
}

/// Holds its first turn at a gate and records when each turn starts and ends.
#[grain]
pub struct Held {
    gate: Gate,
    log: Recorder,
}

#[grain]
impl Held {
    /// Records its start, waits at the gate, records its end.
    pub async fn hold(&mut self, name: String) {
        self.log.record(format!("start {name}"));
        self.gate.pass().await;
        self.log.record(format!("end {name}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_turn_waits_for_the_awaiting_one() {
    let gate = Gate::closed();
    let log = Recorder::new();
    let (g, l) = (gate.clone(), log.clone());
    let silo = silo()
        .register_with(move |_| Held {
            gate: g.clone(),
            log: l.clone(),
        })
        .register::<Echo>()
        .start()
        .await
        .unwrap();
    let held = silo.grain::<Held>("h");

    held.tell().hold("first".into()).unwrap();
    gate.wait_for_arrivals(1).await;
    held.tell().hold("second".into()).unwrap();
    // Give a broken runtime every chance to start the second turn: many round trips through
    // another grain, each of which goes through the scheduler.
    let echo = silo.grain::<Echo>("echo");
    for n in 0..20 {
        assert_eq!(echo.echo(n).await.unwrap(), n);
    }
    assert_eq!(log.events(), ["start first"]);
    assert_eq!(silo.activation_stats(&held).unwrap().mailbox_len, 1);

    gate.open();
    eventually("both turns to end", || log.count("end second") == 1).await;
    assert_eq!(
        log.events(),
        ["start first", "end first", "start second", "end second"]
    );
}

/// A point two threads must reach at the same time; waiting blocks the thread.
#[derive(Default)]
pub struct Rendezvous {
    arrived: AtomicUsize,
}

impl Rendezvous {
    /// Blocks until `parties` callers have arrived or [`WAIT`] passes; whether they all met.
    fn meet(&self, parties: usize) -> bool {
        self.arrived.fetch_add(1, Ordering::SeqCst);
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if self.arrived.load(Ordering::SeqCst) >= parties {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    }
}

/// A grain whose turn blocks its thread until another grain's turn runs beside it.
#[grain]
pub struct Blocker {
    rendezvous: Arc<Rendezvous>,
}

#[grain]
impl Blocker {
    /// Blocks the worker thread until the other grain's turn arrives too; returns whether it did,
    /// and the thread this turn ran on.
    pub async fn meet(&self) -> (bool, String) {
        let met = self.rendezvous.meet(2);
        (met, format!("{:?}", std::thread::current().id()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turns_of_different_grains_run_in_parallel_on_worker_threads() {
    let rendezvous = Arc::new(Rendezvous::default());
    let shared = Arc::clone(&rendezvous);
    let silo = silo()
        .register_with(move |_| Blocker {
            rendezvous: Arc::clone(&shared),
        })
        .start()
        .await
        .unwrap();
    let left = silo.grain::<Blocker>("left");
    let right = silo.grain::<Blocker>("right");

    let (l, r) = tokio::join!(left.meet(), right.meet());
    let (left_met, left_thread) = l.unwrap();
    let (right_met, right_thread) = r.unwrap();
    assert!(
        left_met && right_met,
        "the two turns never ran at the same time"
    );
    assert_ne!(left_thread, right_thread);
}

/// A grain whose turn waits until many other grains' turns are running too.
#[grain]
pub struct Party {
    barrier: Arc<tokio::sync::Barrier>,
}

#[grain]
impl Party {
    /// Waits at the shared barrier inside the turn.
    pub async fn join(&self) {
        self.barrier.wait().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_grains_hold_turns_at_once() {
    const GRAINS: usize = 32;
    let barrier = Arc::new(tokio::sync::Barrier::new(GRAINS));
    let silo = silo()
        .register_with(move |_| Party {
            barrier: Arc::clone(&barrier),
        })
        .start()
        .await
        .unwrap();
    let refs: Vec<_> = (0..GRAINS as u64)
        .map(|key| silo.grain::<Party>(key))
        .collect();
    let joined =
        futures::future::join_all(refs.iter().map(|p| p.join().timeout(WAIT).into_future())).await;
    for result in joined {
        result.unwrap();
    }
}

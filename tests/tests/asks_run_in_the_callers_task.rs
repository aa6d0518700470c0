//! An ask that finds its grain idle runs the turn in the asking task's own poll, on a worker of
//! the silo's runtime. A turn that waits, and calls queued behind it, move to a task of their own,
//! so the asker holds the grain only while it polls.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::future::IntoFuture as _;

use grain_runtime::prelude::*;
use grain_tests::{Gate, WAIT, eventually, silo};

/// Reports which task runs its turns, and can be held at a gate.
#[grain]
pub struct Runner {
    gate: Gate,
    bumps: u64,
}

#[grain]
impl Runner {
    /// The id of the tokio task running this turn.
    pub async fn task(&self) -> Option<String> {
        task_id()
    }

    /// The id of the task running the turn of grain `other`, asked from this turn.
    pub async fn task_of(&self, other: VirtualActorRef<Runner>) -> Option<String> {
        other.task().await.ok().flatten()
    }

    /// Waits at the gate, then bumps.
    pub async fn hold_then_bump(&mut self) -> u64 {
        self.gate.pass().await;
        self.bumps += 1;
        self.bumps
    }

    /// Counts one bump and returns the count.
    pub async fn bump(&mut self) -> u64 {
        self.bumps += 1;
        self.bumps
    }

    /// Tells itself `n` bumps and returns before they run.
    pub async fn bump_later(&mut self, ctx: &GrainContext<Self>, n: u64) {
        for _ in 0..n {
            ctx.this().tell().bump().expect("telling itself");
        }
    }

    /// The bumps so far.
    pub async fn bumps(&self) -> u64 {
        self.bumps
    }
}

fn task_id() -> Option<String> {
    tokio::task::try_id().map(|id| id.to_string())
}

async fn start(gate: &Gate) -> Silo {
    let gate = gate.clone();
    silo()
        .register_with(move |_| Runner {
            gate: gate.clone(),
            bumps: 0,
        })
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_ask_to_an_idle_grain_runs_in_the_asking_task() {
    let silo = start(&Gate::closed()).await;
    let runner = silo.grain::<Runner>("r");
    // The first turn loop runs as a task; from then on this thread is known to be the silo's.
    let spawned = runner.task().await.unwrap();
    let asker = task_id();
    assert!(asker.is_none(), "the test body is not a spawned task");
    assert_ne!(spawned, asker);
    let inside = tokio::spawn(async move {
        let own = task_id();
        let ran_in = runner.task().await.unwrap();
        (own, ran_in)
    });
    let (own, ran_in) = inside.await.unwrap();
    assert_eq!(ran_in, own);
}

#[tokio::test]
async fn an_ask_from_a_turn_runs_the_idle_callee_in_the_callers_task() {
    let silo = start(&Gate::closed()).await;
    let (a, b) = (silo.grain::<Runner>("a"), silo.grain::<Runner>("b"));
    b.task().await.unwrap();
    let asked = tokio::spawn(async move {
        let a_ran_in = a.task().await.unwrap();
        let b_ran_in = a.task_of(b).await.unwrap();
        (task_id(), a_ran_in, b_ran_in)
    });
    let (own, a_ran_in, b_ran_in) = asked.await.unwrap();
    assert!(own.is_some());
    assert_eq!(a_ran_in, own);
    assert_eq!(b_ran_in, own, "b ran inside a's turn, inside the asker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ask_from_another_runtime_runs_on_the_silos_own() {
    let silo = start(&Gate::closed()).await;
    let runner = silo.grain::<Runner>("r");
    runner.task().await.unwrap();
    let caller = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            tokio::spawn(async move { (task_id(), runner.task().await.unwrap()) })
                .await
                .unwrap()
        })
    });
    let (own, ran_in) = tokio::task::spawn_blocking(move || caller.join().unwrap())
        .await
        .unwrap();
    assert!(ran_in.is_some());
    assert_ne!(ran_in, own);
}

#[tokio::test]
async fn a_turn_that_waits_moves_to_a_task_of_its_own() {
    let gate = Gate::closed();
    let silo = start(&gate).await;
    let runner = silo.grain::<Runner>("r");
    runner.bumps().await.unwrap();
    let mut held = runner.hold_then_bump().into_future();
    assert!(futures::poll!(&mut held).is_pending());
    // The asker is not polled again until the gate opens, yet the grain's turn goes on.
    let other = silo.grain::<Runner>("r");
    let bumped = tokio::spawn(async move { other.bump().await });
    gate.wait_for_arrivals(1).await;
    gate.open();
    assert_eq!(
        tokio::time::timeout(WAIT, bumped).await.unwrap().unwrap(),
        Ok(2)
    );
    assert_eq!(held.await, Ok(1));
}

#[tokio::test]
async fn calls_queued_behind_a_lent_turn_run_after_the_asker_has_its_answer() {
    let silo = start(&Gate::closed()).await;
    let runner = silo.grain::<Runner>("r");
    runner.bumps().await.unwrap();
    runner.bump_later(1_000).await.unwrap();
    // Nothing else ran on this single-threaded runtime since the answer: the asker ran its own
    // turn only and left the told bumps to the grain's task.
    let stats = silo.activation_stats(&runner).unwrap();
    assert_eq!((stats.messages_handled, stats.mailbox_len), (2, 1_000));
    eventually("the told bumps run", || {
        silo.activation_stats(&runner)
            .is_some_and(|stats| stats.messages_handled == 1_002)
    })
    .await;
    assert_eq!(runner.bumps().await, Ok(1_000));
}

#[tokio::test]
async fn a_caller_asking_without_pause_still_lets_other_tasks_run() {
    let silo = start(&Gate::closed()).await;
    let runner = silo.grain::<Runner>("r");
    runner.bumps().await.unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let other = tokio::spawn({
        let ran = Arc::clone(&ran);
        async move { ran.store(true, Ordering::Release) }
    });
    // Every ask is answered in its first poll, so only the runtime's budget makes this yield.
    let mut asks = 0;
    while !ran.load(Ordering::Acquire) {
        runner.bump().await.unwrap();
        asks += 1;
        assert!(asks < 100_000, "the other task never ran");
    }
    other.await.unwrap();
}

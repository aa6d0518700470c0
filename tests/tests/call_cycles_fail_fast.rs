//! An ask that would wait on a turn that is itself waiting on it (A -> B -> A, or A -> A) fails
//! at once with `CallError::Deadlock`, whose chain names the grains, instead of hanging until the
//! deadline. Tells do not wait, so they never form a cycle.

use std::time::Duration;

use grain_runtime::prelude::*;
use grain_tests::{WAIT, eventually_async, silo};

/// Describes a call's value or error, naming the called grain and method of a deadlock.
fn describe<T: std::fmt::Debug>(result: Result<T, CallError>) -> String {
    match result {
        Ok(value) => format!("ok {value:?}"),
        Err(CallError::Deadlock {
            grain,
            method,
            chain,
        }) => format!("deadlock calling {grain}.{method}: {chain}"),
        Err(other) => format!("error {other}"),
    }
}

/// Starts cycles through `Beta`.
#[grain]
#[derive(Default)]
pub struct Alpha {
    pongs: u64,
}

#[grain]
impl Alpha {
    /// Asks beta, who asks back into `pong`: a cycle.
    pub async fn ping(&mut self, ctx: &GrainContext<Self>) -> String {
        ctx.grain::<Beta>("y").relay(ctx.this()).await.unwrap()
    }

    /// Asks itself.
    pub async fn ask_self(&mut self, ctx: &GrainContext<Self>) -> String {
        describe(ctx.this().pong().await)
    }

    /// Tells beta to call back, and returns without waiting.
    pub async fn tell_beta(&mut self, ctx: &GrainContext<Self>) {
        ctx.grain::<Beta>("y").tell().relay(ctx.this()).unwrap();
    }

    /// Counts one pong.
    pub async fn pong(&mut self) -> u64 {
        self.pongs += 1;
        self.pongs
    }
}

/// Calls back into the alpha it is handed.
#[grain]
#[derive(Default)]
pub struct Beta {
    last: Option<String>,
}

#[grain]
impl Beta {
    /// Asks `alpha.pong` and remembers the outcome.
    pub async fn relay(&mut self, alpha: VirtualActorRef<Alpha>) -> String {
        let outcome = describe(alpha.pong().await);
        self.last = Some(outcome.clone());
        outcome
    }

    /// The outcome of the last relay.
    pub async fn last(&self) -> Option<String> {
        self.last.clone()
    }
}

async fn start() -> Silo {
    silo()
        .ask_timeout(Duration::from_secs(30))
        .register::<Alpha>()
        .register::<Beta>()
        .start()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_through_another_grain_fails_fast() {
    let silo = start().await;
    let outcome = tokio::time::timeout(WAIT, silo.grain::<Alpha>("x").ping())
        .await
        .expect("the cycle was reported long before the 30 s deadline")
        .unwrap();
    assert!(
        outcome.starts_with("deadlock "),
        "expected a deadlock, got {outcome}"
    );
    assert!(
        outcome.contains(r#"Alpha/"x".ping -> Beta/"y".relay -> Alpha/"x".pong"#),
        "{outcome}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadlock_error_names_the_called_grain_and_method() {
    let silo = start().await;
    let alpha = silo.grain::<Alpha>("x");
    // Run the cycle, then check the grain and method of the error Beta saw.
    tokio::time::timeout(WAIT, alpha.ping())
        .await
        .unwrap()
        .unwrap();
    let beta = silo.grain::<Beta>("y");
    let last = beta.last().await.unwrap().unwrap();
    assert!(
        last.starts_with(r#"deadlock calling Alpha/"x".pong: "#),
        "{last}"
    );
    // The grain is still usable afterwards.
    assert_eq!(alpha.pong().await, Ok(1));
}

/// Passes a call along a list of grains of its own kind.
#[grain]
#[derive(Default)]
pub struct Ring;

#[grain]
impl Ring {
    /// Asks grain `hops[0]`, which asks `hops[1]`, and so on.
    pub async fn pass(&mut self, ctx: &GrainContext<Self>, hops: Vec<u64>) -> String {
        let Some((first, rest)) = hops.split_first() else {
            return "ok end".to_string();
        };
        let next = ctx.grain::<Ring>(*first);
        match next.pass(rest.to_vec()).await {
            Ok(text) => text,
            other => describe(other),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_grain_cycle_names_every_link() {
    let silo = silo()
        .ask_timeout(Duration::from_secs(30))
        .register::<Ring>()
        .start()
        .await
        .unwrap();
    let outcome = tokio::time::timeout(WAIT, silo.grain::<Ring>(1u64).pass(vec![2, 3, 1]))
        .await
        .expect("the cycle was reported long before the 30 s deadline")
        .unwrap();
    assert_eq!(
        outcome,
        "deadlock calling Ring/#1.pass: Ring/#1.pass -> Ring/#2.pass -> Ring/#3.pass -> Ring/#1.pass"
    );
    // Without a repeat, the same chain goes through.
    let outcome = tokio::time::timeout(WAIT, silo.grain::<Ring>(1u64).pass(vec![2, 3, 4]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome, "ok end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grain_asking_itself_fails_fast() {
    let silo = start().await;
    let alpha = silo.grain::<Alpha>("x");
    let outcome = tokio::time::timeout(WAIT, alpha.ask_self())
        .await
        .expect("the self-call was reported long before the 30 s deadline")
        .unwrap();
    assert_eq!(
        outcome,
        r#"deadlock calling Alpha/"x".pong: Alpha/"x".ask_self -> Alpha/"x".pong"#
    );
    assert_eq!(alpha.pong().await, Ok(1), "the refused pong never ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tell_does_not_wait_so_a_call_back_is_fine() {
    let silo = start().await;
    let alpha = silo.grain::<Alpha>("x");
    let beta = silo.grain::<Beta>("y");
    alpha.tell_beta().await.unwrap();
    eventually_async("beta's call back to finish", || async {
        beta.last().await.unwrap().is_some()
    })
    .await;
    assert_eq!(beta.last().await.unwrap().as_deref(), Some("ok 1"));
}

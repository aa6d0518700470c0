//! `on_activate` runs before the first turn of each activation and `on_deactivate` when it is
//! passivated or the silo shuts down; both can use the grain's context and state.

use std::time::Duration;

use grain_runtime::prelude::*;
use grain_tests::{Recorder, eventually, silo};

/// Records its hooks and turns.
#[grain]
pub struct Hooked {
    log: Recorder,
    loaded: Option<String>,
}

#[grain]
impl Hooked {
    /// Records the activation and loads state from it.
    async fn on_activate(&mut self, ctx: &GrainContext<Self>) {
        self.log.record(format!("activate {}", ctx.id()));
        self.loaded = Some(format!("loaded for {}", ctx.id().key));
    }

    /// Records the deactivation with the state the turns left.
    async fn on_deactivate(&mut self, ctx: &GrainContext<Self>) {
        self.log.record(format!(
            "deactivate {} with {:?}",
            ctx.id(),
            self.loaded.as_deref()
        ));
    }

    /// Records the turn; returns what `on_activate` loaded.
    pub async fn touch(&mut self) -> Option<String> {
        self.log.record("touch");
        self.loaded.clone()
    }

    /// Replaces the state, and asks to be deactivated after this turn.
    pub async fn finish(&mut self, ctx: &GrainContext<Self>, state: String) {
        self.log.record("finish");
        self.loaded = Some(state);
        ctx.deactivate_on_idle();
    }
}

/// Has hooks without a context parameter.
#[grain]
pub struct Plain {
    log: Recorder,
}

#[grain]
impl Plain {
    /// Records the activation.
    async fn on_activate(&mut self) {
        self.log.record("plain activate");
    }

    /// Records the deactivation.
    async fn on_deactivate(&mut self) {
        self.log.record("plain deactivate");
    }

    /// Does nothing.
    pub async fn touch(&self) {}
}

async fn start(log: &Recorder) -> Silo {
    let (a, b) = (log.clone(), log.clone());
    silo()
        .register_with(move |_| Hooked {
            log: a.clone(),
            loaded: None,
        })
        .register_with(move |_| Plain { log: b.clone() })
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn on_activate_runs_once_before_the_first_turn() {
    let log = Recorder::new();
    let silo = start(&log).await;
    let grain = silo.grain::<Hooked>("a");
    assert!(log.events().is_empty(), "a ref alone activates nothing");
    assert_eq!(grain.touch().await, Ok(Some("loaded for \"a\"".into())));
    assert_eq!(grain.touch().await, Ok(Some("loaded for \"a\"".into())));
    assert_eq!(log.events(), ["activate Hooked/\"a\"", "touch", "touch"]);
}

#[tokio::test]
async fn on_deactivate_runs_after_the_last_turn_with_its_state() {
    let log = Recorder::new();
    let silo = start(&log).await;
    let grain = silo.grain::<Hooked>("a");
    grain.finish("final".into()).await.unwrap();
    eventually("the deactivation", || {
        log.count("deactivate Hooked/\"a\" with Some(\"final\")") == 1
    })
    .await;
    assert_eq!(
        log.events(),
        [
            "activate Hooked/\"a\"",
            "finish",
            "deactivate Hooked/\"a\" with Some(\"final\")"
        ]
    );
    eventually("the activation to leave the catalog", || {
        silo.stats().live_activations == 0
    })
    .await;

    // A new activation runs on_activate again.
    assert_eq!(grain.touch().await, Ok(Some("loaded for \"a\"".into())));
    assert_eq!(log.count("activate Hooked/\"a\""), 2);
}

#[tokio::test]
async fn shutdown_runs_on_deactivate_of_every_activation() {
    let log = Recorder::new();
    let silo = start(&log).await;
    for key in ["a", "b", "c"] {
        silo.grain::<Hooked>(key).touch().await.unwrap();
    }
    silo.grain::<Plain>(1u64).touch().await.unwrap();
    let report = silo.shutdown().await;
    assert_eq!(report.abandoned, 0);
    for key in ["a", "b", "c"] {
        let expected =
            format!("deactivate Hooked/\"{key}\" with Some(\"loaded for \\\"{key}\\\"\")");
        assert_eq!(log.count(&expected), 1, "{:?}", log.events());
    }
    assert_eq!(log.count("plain activate"), 1);
    assert_eq!(log.count("plain deactivate"), 1);
}

#[tokio::test]
async fn hooks_without_a_context_run_too() {
    let log = Recorder::new();
    let (a, b) = (log.clone(), log.clone());
    let silo = silo()
        .idle_timeout(Duration::from_millis(50))
        .register_with(move |_| Hooked {
            log: a.clone(),
            loaded: None,
        })
        .register_with(move |_| Plain { log: b.clone() })
        .start()
        .await
        .unwrap();
    silo.grain::<Plain>("p").touch().await.unwrap();
    assert_eq!(log.count("plain activate"), 1);
    eventually("the idle grain to deactivate", || {
        log.count("plain deactivate") == 1
    })
    .await;
}

/// A grain whose `on_deactivate` panics.
#[grain]
#[derive(Default)]
pub struct Grumpy;

#[grain]
impl Grumpy {
    /// Panics.
    async fn on_deactivate(&mut self) {
        panic!("will not go quietly");
    }

    /// Asks to be deactivated after this turn.
    pub async fn leave(&self, ctx: &GrainContext<Self>) {
        ctx.deactivate_on_idle();
    }
}

#[tokio::test]
async fn a_panicking_on_deactivate_is_counted_and_the_grain_still_leaves() {
    let silo = silo().register::<Grumpy>().start().await.unwrap();
    let grumpy = silo.grain::<Grumpy>("g");
    grumpy.leave().await.unwrap();
    eventually("the deactivation", || silo.stats().live_activations == 0).await;
    let stats = silo.stats();
    assert_eq!(stats.panics, 1);
    assert_eq!(stats.passivations, 1);
    assert!(silo.is_running());
    assert_eq!(
        grumpy.leave().await,
        Ok(()),
        "the next call activates it again"
    );
}

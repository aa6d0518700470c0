//! grain-runtime: the counter as a grain in one silo.

use std::time::Duration;

use grain_runtime::prelude::*;

use super::Subject;
use crate::exec::Spawner;

/// The counter grain. The idle timeout is set long so that no activation is passivated while
/// it is being measured.
#[grain(mailbox_capacity = 4194304, idle_timeout = "1h")]
#[derive(Default)]
pub(crate) struct Counter {
    value: u64,
}

#[grain]
impl Counter {
    /// Adds `n` and returns the new total.
    pub(crate) async fn add(&mut self, n: u64) -> u64 {
        self.value += n;
        self.value
    }
}

/// grain-runtime with one silo hosting [`Counter`].
pub(crate) struct GrainRuntime {
    silo: Silo,
}

impl Subject for GrainRuntime {
    const NAME: &'static str = "grain-runtime";
    const KEEP_HANDLES: bool = false;

    type Actor = VirtualActorRef<Counter>;

    async fn start(_spawner: &Spawner) -> Self {
        let silo = Silo::builder()
            .register::<Counter>()
            .start()
            .await
            .expect("starting the silo");
        Self { silo }
    }

    async fn create(&self, index: u64) -> Self::Actor {
        self.silo.grain::<Counter>(index)
    }

    fn tell(&self, actor: &Self::Actor, n: u64) {
        actor.tell().add(n).expect("grain-runtime: tell refused");
    }

    async fn ask(&self, actor: &Self::Actor, n: u64) -> u64 {
        actor.add(n).await.expect("grain-runtime: ask failed")
    }

    async fn confirm(&self, actor: &Self::Actor) -> u64 {
        actor
            .add(0)
            .timeout(Duration::from_secs(600))
            .await
            .expect("grain-runtime: confirming ask failed")
    }

    /// Idle means the activation's turn loop has ended: wait until the silo counts `count` live
    /// activations, then give the last turn loops a moment to return.
    async fn settle(&self, count: usize) {
        while self.silo.stats().live_activations < count {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    async fn stop(&self, actors: Vec<Self::Actor>) {
        drop(actors);
        let report = self.silo.shutdown().await;
        assert_eq!(
            report.abandoned, 0,
            "grain-runtime: shutdown abandoned activations"
        );
    }
}

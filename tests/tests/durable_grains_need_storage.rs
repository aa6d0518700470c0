//! A silo that hosts a journaled or persistent grain type needs storage: without it `start`
//! fails with `SiloError::NoStorage`, whose message says what to add. Volatile grains need none.

use grain_runtime::prelude::*;
use grain_runtime::{GrainKind, SiloError};
use grain_tests::durable::{Backend, DataDir};
use grain_tests::silo;
use serde::{Deserialize, Serialize};

/// An event-sourced grain.
#[grain(journaled)]
#[derive(Default, Serialize, Deserialize)]
pub struct Ledger {
    entries: u64,
}

impl EventSourced for Ledger {
    type Event = ();

    fn apply(&mut self, (): &()) {
        self.entries += 1;
    }
}

#[grain]
impl Ledger {
    /// Persists one event; returns its sequence number.
    pub async fn record(&mut self, ctx: &GrainContext<Self>) -> Result<u64, PersistError> {
        ctx.persist(self, [()]).await
    }
}

/// A grain saved whole.
#[grain(kind = "settings", persistent)]
#[derive(Default, Serialize, Deserialize)]
pub struct Settings {
    dark: bool,
}

#[grain]
impl Settings {
    /// Whether dark mode is on.
    pub async fn dark(&self) -> bool {
        self.dark
    }
}

/// A grain kept in memory only.
#[grain]
#[derive(Default)]
pub struct Scratch;

#[grain]
impl Scratch {
    /// Answers.
    pub async fn ping(&self) -> String {
        "pong".to_string()
    }
}

fn assert_no_storage(result: Result<Silo, SiloError>, kind: &'static str) {
    let error = result.expect_err("a durable grain without storage");
    assert_eq!(
        error,
        SiloError::NoStorage {
            kind: GrainKind::from_static(kind)
        }
    );
    let message = error.to_string();
    assert!(message.contains(&format!("`{kind}`")), "{message}");
    assert!(
        message.contains(".storage(Storage::redb(dir)?)"),
        "the message says what to add: {message}"
    );
}

#[tokio::test]
async fn a_journaled_grain_without_storage_is_refused() {
    assert_no_storage(silo().register::<Ledger>().start().await, "Ledger");
}

#[tokio::test]
async fn a_persistent_grain_without_storage_is_refused() {
    let result = silo()
        .register::<Scratch>()
        .register::<Settings>()
        .start()
        .await;
    assert_no_storage(result, "settings");
}

#[tokio::test]
async fn volatile_grains_need_no_storage() {
    let silo = silo().register::<Scratch>().start().await.unwrap();
    assert_eq!(
        silo.grain::<Scratch>("s").ping().await.as_deref(),
        Ok("pong")
    );
}

#[tokio::test]
async fn with_storage_every_kind_starts() {
    let dir = DataDir::new(Backend::Sled);
    let silo = silo()
        .storage(dir.open())
        .register::<Ledger>()
        .register::<Settings>()
        .register::<Scratch>()
        .start()
        .await
        .unwrap();
    assert_eq!(silo.grain::<Ledger>("l").record().await, Ok(Ok(1)));
    assert_eq!(silo.grain::<Settings>("s").dark().await, Ok(false));
}

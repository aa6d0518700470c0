//! A grain is activated by its first message, never by creating a ref, and its key (string,
//! integer or UUID) and kind name decide which grain a ref addresses.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use grain_runtime::prelude::*;
use grain_runtime::{ActivationStatus, GrainKind};
use grain_tests::silo;

/// A counter, the simplest grain with state.
#[grain]
#[derive(Default)]
pub struct Counter {
    value: u64,
}

#[grain]
impl Counter {
    /// Adds `n` and returns the new value.
    pub async fn add(&mut self, n: u64) -> u64 {
        self.value += n;
        self.value
    }

    /// The grain's id, as the runtime reports it to the grain.
    pub async fn identity(&self, ctx: &GrainContext<Self>) -> String {
        ctx.id().to_string()
    }
}

/// A grain whose kind name differs from its type name.
#[grain(kind = "inventory.Item")]
#[derive(Default)]
pub struct Item;

#[grain]
impl Item {
    /// The grain's id, as the runtime reports it to the grain.
    pub async fn identity(&self, ctx: &GrainContext<Self>) -> String {
        ctx.id().to_string()
    }
}

/// Remembers the id its factory was given.
#[grain]
pub struct Named {
    built_for: String,
}

#[grain]
impl Named {
    /// The id the factory was given.
    pub async fn built_for(&self) -> String {
        self.built_for.clone()
    }
}

#[tokio::test]
async fn creating_a_ref_activates_nothing() {
    let silo = silo().register::<Counter>().start().await.unwrap();
    let alice = silo.grain::<Counter>("alice");
    let copy = alice.clone();
    assert_eq!(copy.id().to_string(), "Counter/\"alice\"");

    let stats = silo.stats();
    assert_eq!(stats.activations, 0);
    assert_eq!(stats.live_activations, 0);
    assert_eq!(silo.activation_stats(&alice), None);

    assert_eq!(alice.add(2).await.unwrap(), 2);

    let stats = silo.stats();
    assert_eq!(stats.activations, 1);
    assert_eq!(stats.live_activations, 1);
    let activation = silo.activation_stats(&alice).expect("alice is active");
    assert_ne!(activation.status, ActivationStatus::Retired);
    assert_eq!(silo.activation_stats(&silo.grain::<Counter>("bob")), None);
}

#[tokio::test]
async fn later_calls_reuse_the_activation() {
    let silo = silo().register::<Counter>().start().await.unwrap();
    let alice = silo.grain::<Counter>("alice");
    for expected in 1..=5 {
        assert_eq!(alice.add(1).await.unwrap(), expected);
    }
    // A second ref to the same id reaches the same activation and state.
    assert_eq!(silo.grain::<Counter>("alice").add(10).await.unwrap(), 15);
    assert_eq!(silo.stats().activations, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_calls_activate_once() {
    let silo = silo().register::<Counter>().start().await.unwrap();
    let grain = silo.grain::<Counter>("racy");
    let calls = (0..64).map(|_| {
        let grain = grain.clone();
        tokio::spawn(async move { grain.add(1).await.unwrap() })
    });
    let mut results: Vec<u64> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    results.sort_unstable();
    assert_eq!(results, (1..=64).collect::<Vec<_>>());
    assert_eq!(silo.stats().activations, 1);
}

#[tokio::test]
async fn string_integer_and_uuid_keys_are_distinct_grains() {
    let silo = silo().register::<Counter>().start().await.unwrap();
    let uuid = uuid::Uuid::from_u128(7);
    let by_str = silo.grain::<Counter>("7");
    let by_int = silo.grain::<Counter>(7u64);
    let by_uuid = silo.grain::<Counter>(uuid);

    assert_eq!(by_str.add(1).await.unwrap(), 1);
    assert_eq!(by_int.add(10).await.unwrap(), 10);
    assert_eq!(by_uuid.add(100).await.unwrap(), 100);
    assert_eq!(by_str.add(0).await.unwrap(), 1);

    assert_eq!(silo.stats().activations, 3);
    assert_eq!(silo.stats().live_activations, 3);
    assert_eq!(by_str.identity().await.unwrap(), "Counter/\"7\"");
    assert_eq!(by_int.identity().await.unwrap(), "Counter/#7");
    assert_eq!(
        by_uuid.identity().await.unwrap(),
        format!("Counter/uuid:{uuid}")
    );
    assert_ne!(by_str.id(), by_int.id());
    assert_ne!(by_int.id(), by_uuid.id());
}

#[tokio::test]
async fn kind_attribute_names_the_grain_kind() {
    let silo = silo()
        .register::<Item>()
        .register::<Counter>()
        .start()
        .await
        .unwrap();
    let item = silo.grain::<Item>("x");
    assert_eq!(item.id().kind, GrainKind::from_static("inventory.Item"));
    assert_eq!(item.identity().await.unwrap(), "inventory.Item/\"x\"");

    let stats = silo.stats();
    let kind = stats
        .kind("inventory.Item")
        .expect("stats for the renamed kind");
    assert_eq!(kind.activations, 1);
    assert!(stats.kind("Item").is_none());
    assert_eq!(stats.kind("Counter").map(|k| k.activations), Some(0));
}

#[tokio::test]
async fn register_with_factory_receives_the_grain_id() {
    let built = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&built);
    let silo = silo()
        .register_with(move |id| {
            counted.fetch_add(1, Ordering::SeqCst);
            Named {
                built_for: id.to_string(),
            }
        })
        .start()
        .await
        .unwrap();
    assert_eq!(
        built.load(Ordering::SeqCst),
        0,
        "nothing built before a call"
    );

    let a = silo.grain::<Named>("a");
    let b = silo.grain::<Named>(42u64);
    assert_eq!(a.built_for().await.unwrap(), "Named/\"a\"");
    assert_eq!(b.built_for().await.unwrap(), "Named/#42");
    assert_eq!(a.built_for().await.unwrap(), "Named/\"a\"");
    assert_eq!(built.load(Ordering::SeqCst), 2, "one build per activation");
}

//! A call to a grain type the silo does not host fails with `CallError::Unregistered`, whether
//! it comes from outside the silo or from a grain's turn.

use grain_runtime::GrainKind;
use grain_runtime::prelude::*;
use grain_tests::silo;

/// Registered on the silo.
#[grain]
#[derive(Default)]
pub struct Known;

#[grain]
impl Known {
    /// Calls a grain of a kind the silo does not host.
    pub async fn call_unknown(&self, ctx: &GrainContext<Self>) -> String {
        match ctx.grain::<Unknown>("u").ping().await {
            Ok(()) => "ok".into(),
            Err(error) => error.to_string(),
        }
    }

    /// Answers.
    pub async fn ping(&self) {}
}

/// Never registered.
#[grain]
#[derive(Default)]
pub struct Unknown;

#[grain]
impl Unknown {
    /// Answers.
    pub async fn ping(&self) {}
}

fn unregistered() -> CallError {
    CallError::Unregistered {
        kind: GrainKind::from_static("Unknown"),
    }
}

#[tokio::test]
async fn asks_and_tells_to_an_unregistered_kind_fail() {
    let silo = silo().register::<Known>().start().await.unwrap();
    let unknown = silo.grain::<Unknown>("u");
    assert_eq!(unknown.ping().await, Err(unregistered()));
    assert_eq!(unknown.tell().ping(), Err(unregistered()));
    let text = unregistered().to_string();
    assert!(text.contains(".register::<Unknown>()"), "{text}");

    let stats = silo.stats();
    assert!(stats.kind("Unknown").is_none());
    assert_eq!(stats.activations, 0);
    assert_eq!(silo.activation_stats(&unknown), None);
}

#[tokio::test]
async fn a_grain_calling_an_unregistered_kind_gets_the_error() {
    let silo = silo().register::<Known>().start().await.unwrap();
    let outcome = silo.grain::<Known>("k").call_unknown().await.unwrap();
    assert_eq!(outcome, unregistered().to_string());
}

#[tokio::test]
async fn registration_is_per_silo() {
    let hosting = silo().register::<Unknown>().start().await.unwrap();
    let other = silo().register::<Known>().start().await.unwrap();
    assert_eq!(hosting.grain::<Unknown>("u").ping().await, Ok(()));
    assert_eq!(
        other.grain::<Unknown>("u").ping().await,
        Err(unregistered())
    );
}

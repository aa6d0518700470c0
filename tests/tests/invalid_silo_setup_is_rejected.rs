//! `SiloBuilder::start` refuses a setup it cannot run: two grain types with one kind name,
//! zero timeouts or capacities, or no tokio runtime.

use std::time::Duration;

use grain_runtime::prelude::*;
use grain_runtime::{GrainKind, SiloError};
use grain_tests::silo;

/// One module's grains.
pub mod first {
    use grain_runtime::prelude::*;

    /// A grain whose kind name is `shared`.
    #[grain(kind = "shared")]
    #[derive(Default)]
    pub struct One;

    #[grain]
    impl One {
        /// Answers 1.
        pub async fn which(&self) -> u8 {
            1
        }
    }
}

/// Another module's grains, reusing kind names.
pub mod second {
    use grain_runtime::prelude::*;

    /// Another grain whose kind name is `shared`.
    #[grain(kind = "shared")]
    #[derive(Default)]
    pub struct Two;

    #[grain]
    impl Two {
        /// Answers 2.
        pub async fn which(&self) -> u8 {
            2
        }
    }

    /// A grain whose default kind name, `Same`, is also used by a type in another module.
    #[grain]
    #[derive(Default)]
    pub struct Same;

    #[grain]
    impl Same {
        /// Answers 2.
        pub async fn which(&self) -> u8 {
            2
        }
    }
}

/// Also named `Same`.
#[grain]
#[derive(Default)]
pub struct Same;

#[grain]
impl Same {
    /// Answers 1.
    pub async fn which(&self) -> u8 {
        1
    }
}

fn invalid(result: Result<Silo, SiloError>) -> (&'static str, String) {
    match result {
        Err(SiloError::InvalidConfig { setting, reason }) => (setting, reason),
        Err(other) => panic!("expected InvalidConfig, got {other:?}"),
        Ok(_) => panic!("expected InvalidConfig, the silo started"),
    }
}

#[tokio::test]
async fn two_types_with_one_kind_name_are_refused() {
    let result = silo()
        .register::<first::One>()
        .register::<second::Two>()
        .start()
        .await;
    assert_eq!(
        result.err(),
        Some(SiloError::DuplicateKind {
            kind: GrainKind::from_static("shared")
        })
    );

    let result = silo()
        .register::<Same>()
        .register::<second::Same>()
        .start()
        .await;
    let error = result.expect_err("two types named Same");
    assert_eq!(
        error,
        SiloError::DuplicateKind {
            kind: GrainKind::from_static("Same")
        }
    );
    assert!(error.to_string().contains("#[grain(kind"), "{error}");
}

#[tokio::test]
async fn registering_one_type_twice_is_harmless() {
    let silo = silo()
        .register::<Same>()
        .register::<Same>()
        .start()
        .await
        .unwrap();
    assert_eq!(silo.grain::<Same>("s").which().await, Ok(1));
    assert_eq!(silo.stats().kinds.len(), 1);
}

#[tokio::test]
async fn zero_timeouts_and_capacities_are_refused() {
    let cases = [
        ("ask_timeout", silo().ask_timeout(Duration::ZERO)),
        ("idle_timeout", silo().idle_timeout(Duration::ZERO)),
        ("mailbox_capacity", silo().mailbox_capacity(0)),
        (
            "passivation_sweep_interval",
            silo().passivation_sweep_interval(Duration::ZERO),
        ),
    ];
    for (expected, builder) in cases {
        let (setting, reason) = invalid(builder.register::<Same>().start().await);
        assert_eq!(setting, expected);
        assert!(!reason.is_empty());
    }
}

#[test]
fn starting_outside_a_runtime_is_refused() {
    let result = futures::executor::block_on(Silo::builder().register::<Same>().start());
    assert_eq!(result.err(), Some(SiloError::NoRuntime));
}

#[tokio::test]
async fn a_silo_can_be_started_from_a_spawned_task() {
    let started = tokio::spawn(async { grain_tests::silo().start().await.map(|_| ()) });
    started.await.unwrap().unwrap();
}

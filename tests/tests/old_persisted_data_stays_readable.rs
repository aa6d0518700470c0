//! Persisted events and states are stored with field and variant names, so a newer version of a
//! grain reads what an older one wrote: fields added with `#[serde(default)]` take their default,
//! removed fields are skipped, reordered fields still match, and new enum variants sit beside the
//! old ones. A field added without a default is reported, not guessed.
//!
//! Each version is a grain type of its own with the same kind name, run by a silo of its own on
//! one data directory, one after another, as successive deployments would.

use grain_runtime::Silo;
use grain_tests::backend_tests;
use grain_tests::durable::{Backend, DataDir};

/// The first deployment.
pub mod v1 {
    use grain_runtime::prelude::*;
    use serde::{Deserialize, Serialize};

    /// What happened to an account.
    #[derive(Debug, Serialize, Deserialize)]
    pub enum Event {
        /// The account was opened.
        Opened {
            /// Who owns it.
            owner: String,
        },
        /// Money came in.
        Deposited {
            /// How much.
            amount: u64,
        },
    }

    /// An event-sourced account, snapshotted every 3 events.
    #[grain(
        kind = "evolving.Account",
        journaled(snapshot_every = 3, snapshot_on_deactivate = false)
    )]
    #[derive(Default, Serialize, Deserialize)]
    pub struct Account {
        owner: String,
        balance: u64,
        /// Dropped in version 2.
        legacy: u32,
    }

    impl EventSourced for Account {
        type Event = Event;

        fn apply(&mut self, event: &Event) {
            match event {
                Event::Opened { owner } => self.owner = owner.clone(),
                Event::Deposited { amount } => self.balance += amount,
            }
            self.legacy += 1;
        }
    }

    #[grain]
    impl Account {
        /// Persists `events`.
        pub async fn record(
            &mut self,
            ctx: &GrainContext<Self>,
            events: Vec<Event>,
        ) -> Result<u64, PersistError> {
            ctx.persist(self, events).await
        }
    }

    /// A profile saved whole.
    #[grain(kind = "evolving.Profile", persistent)]
    #[derive(Default, Serialize, Deserialize)]
    pub struct Profile {
        name: String,
        tier: Tier,
    }

    /// A service level.
    #[derive(Debug, Default, Serialize, Deserialize)]
    pub enum Tier {
        /// The default.
        #[default]
        Free,
        /// Paying.
        Paid,
    }

    #[grain]
    impl Profile {
        /// Sets the profile and saves it.
        pub async fn set(
            &mut self,
            ctx: &GrainContext<Self>,
            name: String,
            paid: bool,
        ) -> Result<u64, PersistError> {
            self.name = name;
            self.tier = if paid { Tier::Paid } else { Tier::Free };
            ctx.save(self).await
        }
    }
}

/// The second deployment: fields added, removed and reordered, and a new event variant.
pub mod v2 {
    use grain_runtime::prelude::*;
    use serde::{Deserialize, Serialize};

    /// What happened to an account.
    #[derive(Debug, Serialize, Deserialize)]
    pub enum Event {
        /// The account was opened.
        Opened {
            /// Who owns it.
            owner: String,
            /// New in version 2.
            #[serde(default)]
            currency: Option<String>,
        },
        /// Money came in.
        Deposited {
            /// New in version 2, and before the old field.
            #[serde(default)]
            memo: String,
            /// How much.
            amount: u64,
        },
        /// New in version 2: money went out.
        Withdrew {
            /// How much.
            amount: u64,
        },
    }

    /// What [`Account::view`] shows.
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct View {
        /// Who owns it.
        pub owner: String,
        /// The balance.
        pub balance: u64,
        /// The currency, if an event named one.
        pub currency: Option<String>,
        /// Memos of the deposits applied since the last snapshot that version 1 took.
        pub memos: Vec<String>,
    }

    /// Version 2 of the account: `legacy` is gone, `currency` and `memos` are new.
    #[grain(
        kind = "evolving.Account",
        journaled(snapshot_every = 3, snapshot_on_deactivate = false)
    )]
    #[derive(Default, Serialize, Deserialize)]
    pub struct Account {
        balance: u64,
        owner: String,
        #[serde(default)]
        currency: Option<String>,
        #[serde(default)]
        memos: Vec<String>,
    }

    impl EventSourced for Account {
        type Event = Event;

        fn apply(&mut self, event: &Event) {
            match event {
                Event::Opened { owner, currency } => {
                    self.owner = owner.clone();
                    self.currency = currency.clone();
                }
                Event::Deposited { memo, amount } => {
                    self.balance += amount;
                    self.memos.push(memo.clone());
                }
                Event::Withdrew { amount } => self.balance -= amount,
            }
        }
    }

    #[grain]
    impl Account {
        /// Persists `events`.
        pub async fn record(
            &mut self,
            ctx: &GrainContext<Self>,
            events: Vec<Event>,
        ) -> Result<u64, PersistError> {
            ctx.persist(self, events).await
        }

        /// The state.
        pub async fn view(&self) -> View {
            View {
                owner: self.owner.clone(),
                balance: self.balance,
                currency: self.currency.clone(),
                memos: self.memos.clone(),
            }
        }
    }

    /// Version 2 of the profile: an email, and a new tier.
    #[grain(kind = "evolving.Profile", persistent)]
    #[derive(Default, Serialize, Deserialize)]
    pub struct Profile {
        #[serde(default)]
        email: Option<String>,
        tier: Tier,
        name: String,
    }

    /// A service level.
    #[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub enum Tier {
        /// The default.
        #[default]
        Free,
        /// New in version 2.
        Trial,
        /// Paying.
        Paid,
    }

    #[grain]
    impl Profile {
        /// The name, email and tier.
        pub async fn get(&self) -> (String, Option<String>, Tier) {
            (self.name.clone(), self.email.clone(), self.tier.clone())
        }
    }
}

/// A third deployment that adds a field without `#[serde(default)]`: old data lacks it.
pub mod strict {
    use grain_runtime::prelude::*;
    use serde::{Deserialize, Serialize};

    /// What happened to an account.
    #[derive(Debug, Serialize, Deserialize)]
    pub enum Event {
        /// The account was opened.
        Opened {
            /// Who owns it.
            owner: String,
            /// Required, and missing from older events.
            branch: String,
        },
        /// Money came in.
        Deposited {
            /// How much.
            amount: u64,
        },
    }

    /// An account whose events require a field older ones lack.
    #[grain(
        kind = "evolving.Account",
        journaled(snapshot_every = 3, snapshot_on_deactivate = false)
    )]
    #[derive(Default, Serialize, Deserialize)]
    pub struct Account {
        balance: u64,
    }

    impl EventSourced for Account {
        type Event = Event;

        fn apply(&mut self, event: &Event) {
            if let Event::Deposited { amount } = event {
                self.balance += amount;
            }
        }
    }

    #[grain]
    impl Account {
        /// The balance.
        pub async fn balance(&self) -> u64 {
            self.balance
        }
    }
}

async fn start_v1(dir: &DataDir) -> Silo {
    grain_tests::silo()
        .storage(dir.open())
        .register::<v1::Account>()
        .register::<v1::Profile>()
        .start()
        .await
        .unwrap()
}

async fn start_v2(dir: &DataDir) -> Silo {
    grain_tests::silo()
        .storage(dir.open())
        .register::<v2::Account>()
        .register::<v2::Profile>()
        .start()
        .await
        .unwrap()
}

/// Runs version 1: account `snapshotted` gets 5 events (a snapshot at 3), account `journal_only`
/// gets 2 (no snapshot), and a profile is saved.
async fn deploy_v1(dir: &DataDir) {
    use v1::Event::{Deposited, Opened};
    let silo = start_v1(dir).await;
    let snapshotted = silo.grain::<v1::Account>("snapshotted");
    let events = vec![
        Opened {
            owner: "ann".into(),
        },
        Deposited { amount: 10 },
        Deposited { amount: 20 },
        Deposited { amount: 30 },
        Deposited { amount: 40 },
    ];
    for event in events {
        snapshotted.record(vec![event]).await.unwrap().unwrap();
    }
    let journal_only = silo.grain::<v1::Account>("journal_only");
    let events = vec![
        Opened {
            owner: "bob".into(),
        },
        Deposited { amount: 7 },
    ];
    assert_eq!(journal_only.record(events).await, Ok(Ok(2)));
    let profile = silo.grain::<v1::Profile>("p");
    assert_eq!(profile.set("Cy".into(), true).await, Ok(Ok(1)));
    silo.shutdown().await;
}

async fn new_versions_read_old_events_and_snapshots(backend: Backend) {
    let dir = DataDir::new(backend);
    deploy_v1(&dir).await;

    let silo = start_v2(&dir).await;
    let snapshotted = silo.grain::<v2::Account>("snapshotted");
    assert_eq!(
        snapshotted.view().await,
        Ok(v2::View {
            owner: "ann".into(),
            balance: 100,
            currency: None,
            memos: vec![String::new(); 2],
        }),
        "the version 1 snapshot at 3, then events 4 and 5 with no memo"
    );
    let journal_only = silo.grain::<v2::Account>("journal_only");
    assert_eq!(
        journal_only.view().await,
        Ok(v2::View {
            owner: "bob".into(),
            balance: 7,
            currency: None,
            memos: vec![String::new()],
        })
    );
    assert_eq!(
        silo.grain::<v2::Profile>("p").get().await,
        Ok(("Cy".to_string(), None, v2::Tier::Paid))
    );

    // Version 2 writes its own events after the old ones, and reads them all back.
    use v2::Event::{Deposited, Withdrew};
    let events = vec![
        Withdrew { amount: 5 },
        Deposited {
            memo: "refund".into(),
            amount: 1,
        },
    ];
    assert_eq!(journal_only.record(events).await, Ok(Ok(4)));
    silo.shutdown().await;
    drop((snapshotted, journal_only, silo));

    let silo = start_v2(&dir).await;
    assert_eq!(
        silo.grain::<v2::Account>("journal_only").view().await,
        Ok(v2::View {
            owner: "bob".into(),
            balance: 3,
            currency: None,
            memos: vec![String::new(), "refund".into()],
        })
    );
}

async fn a_field_added_without_a_default_is_reported(backend: Backend) {
    let dir = DataDir::new(backend);
    deploy_v1(&dir).await;
    let silo = grain_tests::silo()
        .storage(dir.open())
        .register::<strict::Account>()
        .start()
        .await
        .unwrap();
    match silo
        .grain::<strict::Account>("journal_only")
        .balance()
        .await
    {
        Err(grain_runtime::CallError::ActivationFailed { message, .. }) => {
            assert!(
                message.contains("event 1 of evolving.Account/\"journal_only\""),
                "{message}"
            );
            assert!(message.contains("branch"), "{message}");
        }
        other => panic!("expected ActivationFailed, got {other:?}"),
    }
}

backend_tests!(
    new_versions_read_old_events_and_snapshots,
    a_field_added_without_a_default_is_reported,
);

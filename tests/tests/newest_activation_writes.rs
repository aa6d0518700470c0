//! In a store that silos share, the newest activation of a grain is the only one that can write
//! to it: an older activation (on a silo that has not heard of a view change, or is cut off) is
//! refused even when the sequence number it expects is still free, and is discarded. Needs
//! `GRAIN_POSTGRES_URL` (see `grain_tests::postgres`).

use grain_runtime::prelude::*;
use grain_runtime::{Silo, Storage};
use grain_tests::postgres::Scratch;
use serde::{Deserialize, Serialize};

/// A tally event.
#[derive(Debug, Serialize, Deserialize)]
pub struct Added {
    by: String,
}

/// Records which silo added each entry.
#[grain(journaled)]
#[derive(Default, Serialize, Deserialize)]
pub struct Tally {
    entries: Vec<String>,
}

impl EventSourced for Tally {
    type Event = Added;
    fn apply(&mut self, event: &Added) {
        self.entries.push(event.by.clone());
    }
}

#[grain]
impl Tally {
    /// Persists an entry by `by` and returns every entry.
    pub async fn add(
        &mut self,
        ctx: &GrainContext<Self>,
        by: String,
    ) -> Result<Vec<String>, PersistError> {
        ctx.persist(self, [Added { by }]).await?;
        Ok(self.entries.clone())
    }

    /// The entries.
    pub async fn entries(&self) -> Vec<String> {
        self.entries.clone()
    }
}

async fn silo(storage: Storage) -> Silo {
    Silo::builder()
        .register::<Tally>()
        .storage(storage)
        .start()
        .await
        .expect("starting a silo")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_activation_cannot_write_once_a_newer_one_started() {
    let Some(scratch) = Scratch::new("an_older_activation_cannot_write_once_a_newer_one_started")
    else {
        return;
    };
    scratch
        .run(async {
            let (old, new) = (
                silo(scratch.open().await).await,
                silo(scratch.open().await).await,
            );
            let on_old = old.grain::<Tally>("t");
            let on_new = new.grain::<Tally>("t");
            assert_eq!(on_old.add("old".into()).await.unwrap().unwrap(), ["old"]);
            // Both activations now stand at sequence 1; the one on `new` started last.
            assert_eq!(on_new.entries().await.unwrap(), ["old"]);

            let refused = on_old.add("stale".into()).await.unwrap();
            match refused {
                Err(PersistError::Conflict { message, .. }) => assert!(
                    message.contains("activated again elsewhere"),
                    "unexpected conflict message: {message}"
                ),
                other => panic!("the older activation wrote: {other:?}"),
            }
            assert_eq!(
                on_new.add("new".into()).await.unwrap().unwrap(),
                ["old", "new"],
                "the newer activation writes the sequence number the older one was refused"
            );

            // The refused activation was discarded; its next call re-activates it, which
            // claims the grain again, reads what the other silo wrote, and fences that one.
            assert_eq!(
                on_old.add("old again".into()).await.unwrap().unwrap(),
                ["old", "new", "old again"]
            );
            assert!(matches!(
                on_new.add("late".into()).await.unwrap(),
                Err(PersistError::Conflict { .. })
            ));
            assert_eq!(
                on_new.entries().await.unwrap(),
                ["old", "new", "old again"],
                "the discarded activation recovered from the store"
            );
            old.shutdown().await;
            new.shutdown().await;
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_activations_never_both_commit() {
    let Some(scratch) = Scratch::new("racing_activations_never_both_commit") else {
        return;
    };
    scratch
        .run(async {
            let silos = [
                silo(scratch.open().await).await,
                silo(scratch.open().await).await,
            ];
            let mut committed = Vec::new();
            for round in 0..40 {
                let calls = silos.iter().enumerate().map(|(index, silo)| {
                    let tally = silo.grain::<Tally>("raced");
                    async move { tally.add(format!("{index}:{round}")).await }
                });
                for outcome in futures::future::join_all(calls).await {
                    match outcome {
                        Ok(Ok(entries)) => committed.push(entries.last().unwrap().clone()),
                        Ok(Err(PersistError::Conflict { .. })) => {}
                        Ok(Err(other)) => panic!("storage failed: {other}"),
                        Err(other) => panic!("call failed: {other}"),
                    }
                }
            }
            assert!(!committed.is_empty(), "no write ever succeeded");
            let fresh = silo(scratch.open().await).await;
            let mut stored = fresh.grain::<Tally>("raced").entries().await.unwrap();
            stored.sort();
            committed.sort();
            assert_eq!(
                stored, committed,
                "the journal holds exactly the acknowledged entries"
            );
            for silo in silos {
                silo.shutdown().await;
            }
            fresh.shutdown().await;
        })
        .await;
}

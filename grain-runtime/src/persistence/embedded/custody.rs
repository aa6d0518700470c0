//! [`Custody`] on an embedded store: reads run on the reader threads, the lending and the import
//! go through the writer so that they commit like any other write.

use async_trait::async_trait;

use super::writer::Op;
use super::{EmbeddedStore, Engine, ReadBatch, Tree, backend, corrupt, head, read_chunk};
use crate::id::GrainId;
use crate::persistence::custody::{Custody, GrainState};
use crate::persistence::keys::GrainKeys;
use crate::persistence::{JournalEntry, Snapshot, StoreError, record};

/// The end (exclusive) of every grain's keys.
const KEYS_END: &[u8] = &[0xFF, 0xFF, 0xFF];
/// The key of the silo incarnation record, beyond every grain's keys.
const INCARNATION: &[u8] = &[0xFF, 0xFF, 0xFF, b'i'];

fn lent_to<E: Engine>(
    view: &mut dyn ReadBatch,
    grain: &GrainId,
    keys: &GrainKeys,
) -> Result<Option<String>, StoreError> {
    let key = keys.custody();
    let Some(value) = view.get(Tree::Journal, &key).map_err(backend::<E>)? else {
        return Ok(None);
    };
    let payload =
        record::open(&key, &value).map_err(|reason| corrupt(grain, "custody", 0, reason))?;
    String::from_utf8(payload.to_vec())
        .map(Some)
        .map_err(|_| corrupt(grain, "custody", 0, "the silo name is not UTF-8".into()))
}

fn snapshots<E: Engine>(
    view: &mut dyn ReadBatch,
    grain: &GrainId,
    keys: &GrainKeys,
) -> Result<Vec<Snapshot>, StoreError> {
    let mut found = Vec::new();
    let mut failure = None;
    view.scan(
        Tree::Snapshots,
        &keys.snapshot(0),
        &keys.events_end(),
        &mut |key, value| {
            let Some(seq) = keys.event_seq(key) else {
                return true;
            };
            match record::open(key, value) {
                Ok(payload) => {
                    found.push(Snapshot {
                        seq,
                        payload: payload.to_vec(),
                    });
                    true
                }
                Err(reason) => {
                    failure = Some(corrupt(grain, "snapshot", seq, reason));
                    false
                }
            }
        },
    )
    .map_err(backend::<E>)?;
    failure.map_or(Ok(found), Err)
}

/// The grain's state if it is lent (`lent`) or its own (`!lent`).
fn export<E: Engine>(
    view: &mut dyn ReadBatch,
    grain: &GrainId,
    lent: bool,
) -> Result<Option<GrainState>, StoreError> {
    let keys = GrainKeys::new(grain);
    if lent_to::<E>(view, grain, &keys)?.is_some() != lent {
        return Ok(None);
    }
    let head = head::<E>(view, grain, &keys)?;
    if head.last == 0 {
        return Ok(None);
    }
    let mut entries = Vec::new();
    loop {
        let from = entries
            .last()
            .map_or(head.pruned + 1, |entry: &JournalEntry| entry.seq + 1);
        let chunk = read_chunk::<E>(view, grain, &keys, from)?;
        let done = chunk.last().is_none_or(|last| last.seq >= head.last);
        entries.extend(chunk);
        if done {
            break;
        }
    }
    Ok(Some(GrainState {
        last_seq: head.last,
        pruned_through: head.pruned,
        entries,
        snapshots: snapshots::<E>(view, grain, &keys)?,
    }))
}

#[async_trait]
impl<E: Engine> Custody for EmbeddedStore<E> {
    async fn export(&self, grain: &GrainId) -> Result<Option<GrainState>, StoreError> {
        let grain = grain.clone();
        self.readers
            .run(move |view| export::<E>(view, &grain, false))
            .await
    }

    async fn export_lent(&self, grain: &GrainId) -> Result<Option<GrainState>, StoreError> {
        let grain = grain.clone();
        self.readers
            .run(move |view| export::<E>(view, &grain, true))
            .await
    }

    async fn lend(&self, grain: &GrainId, to: &str) -> Result<(), StoreError> {
        let op = Op::Lend {
            grain: grain.clone(),
            to: Some(to.to_owned()),
        };
        self.writer.submit::<E>(op).await
    }

    async fn lent_to(&self, grain: &GrainId) -> Result<Option<String>, StoreError> {
        let grain = grain.clone();
        self.readers
            .run(move |view| lent_to::<E>(view, &grain, &GrainKeys::new(&grain)))
            .await
    }

    async fn reclaim(&self, grain: &GrainId) -> Result<(), StoreError> {
        let op = Op::Lend {
            grain: grain.clone(),
            to: None,
        };
        self.writer.submit::<E>(op).await
    }

    async fn import(&self, grain: &GrainId, state: GrainState) -> Result<(), StoreError> {
        let op = Op::Replace {
            grain: grain.clone(),
            state: Some(state),
        };
        self.writer.submit::<E>(op).await
    }

    async fn remove(&self, grain: &GrainId) -> Result<(), StoreError> {
        let op = Op::Replace {
            grain: grain.clone(),
            state: None,
        };
        self.writer.submit::<E>(op).await
    }

    async fn grains(&self) -> Result<Vec<GrainId>, StoreError> {
        self.readers
            .run(|view| {
                let mut heads = Vec::new();
                view.scan(Tree::Journal, &[], KEYS_END, &mut |key, _| {
                    heads.extend(GrainKeys::grain_of_head(key));
                    true
                })
                .map_err(backend::<E>)?;
                let mut owned = Vec::with_capacity(heads.len());
                for grain in heads {
                    if lent_to::<E>(view, &grain, &GrainKeys::new(&grain))?.is_none() {
                        owned.push(grain);
                    }
                }
                Ok(owned)
            })
            .await
    }

    async fn incarnation(&self) -> Result<Option<(String, u64)>, StoreError> {
        self.readers
            .run(|view| {
                let Some(value) = view.get(Tree::Journal, INCARNATION).map_err(backend::<E>)?
                else {
                    return Ok(None);
                };
                let unreadable = |reason: String| StoreError::Backend {
                    backend: E::NAME,
                    message: format!("the silo incarnation record is unreadable: {reason}"),
                };
                let payload = record::open(INCARNATION, &value).map_err(unreadable)?;
                let (generation, name) = payload
                    .split_first_chunk::<8>()
                    .ok_or_else(|| unreadable("too short".into()))?;
                let name = String::from_utf8(name.to_vec())
                    .map_err(|_| unreadable("the name is not UTF-8".into()))?;
                Ok(Some((name, u64::from_be_bytes(*generation))))
            })
            .await
    }

    async fn set_incarnation(&self, name: &str, generation: u64) -> Result<(), StoreError> {
        let mut payload = generation.to_be_bytes().to_vec();
        payload.extend_from_slice(name.as_bytes());
        let op = Op::Put {
            key: INCARNATION.to_vec(),
            value: record::seal(INCARNATION, &payload),
        };
        self.writer.submit::<E>(op).await
    }
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt as _;

    use crate::id::{GrainId, GrainKind};
    use crate::persistence::{Snapshot, Storage, StoreError};

    fn grain(key: &str) -> GrainId {
        GrainId::new(GrainKind::from_static("Account"), key)
    }

    async fn entries(storage: &Storage, id: &GrainId) -> Vec<(u64, Vec<u8>)> {
        let read = storage.journal().read(id, 0).try_collect::<Vec<_>>();
        let entries = read.await.expect("reading the journal");
        entries.into_iter().map(|e| (e.seq, e.payload)).collect()
    }

    #[tokio::test]
    async fn state_moves_between_stores_with_its_pruned_head_and_snapshots() {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let from = Storage::sled(dirs[0].path()).unwrap();
        let to = Storage::redb(dirs[1].path()).unwrap();
        let alice = grain("alice");
        let events: Vec<Vec<u8>> = (1..=5u8).map(|n| vec![n]).collect();
        from.journal().append(&alice, 1, events).await.unwrap();
        let snapshot = Snapshot {
            seq: 3,
            payload: b"three".to_vec(),
        };
        from.snapshots()
            .save(&alice, snapshot.clone())
            .await
            .unwrap();
        from.journal().prune(&alice, 2).await.unwrap();
        let custody = from.custody().unwrap();
        assert_eq!(custody.grains().await.unwrap(), vec![alice.clone()]);

        let state = custody
            .export(&alice)
            .await
            .unwrap()
            .expect("alice's state");
        custody.lend(&alice, "silo-b").await.unwrap();
        assert_eq!(
            custody.lent_to(&alice).await.unwrap().as_deref(),
            Some("silo-b")
        );
        assert_eq!(
            custody.export(&alice).await.unwrap(),
            None,
            "a lent copy is not exported"
        );
        assert!(custody.grains().await.unwrap().is_empty());
        assert_eq!(custody.incarnation().await.unwrap(), None);
        custody.set_incarnation("silo-a", 42).await.unwrap();
        assert_eq!(
            custody.incarnation().await.unwrap(),
            Some(("silo-a".to_string(), 42))
        );
        assert!(custody.grains().await.unwrap().is_empty(), "not a grain");

        to.custody().unwrap().import(&alice, state).await.unwrap();
        assert_eq!(to.journal().last_seq(&alice).await.unwrap(), 5);
        assert_eq!(
            entries(&to, &alice).await,
            vec![(3, vec![3]), (4, vec![4]), (5, vec![5])]
        );
        assert_eq!(to.snapshots().latest(&alice).await.unwrap(), Some(snapshot));
        to.journal().append(&alice, 6, vec![vec![6]]).await.unwrap();

        custody.remove(&alice).await.unwrap();
        assert_eq!(from.journal().last_seq(&alice).await.unwrap(), 0);
        assert_eq!(from.snapshots().latest(&alice).await.unwrap(), None);
        assert_eq!(custody.lent_to(&alice).await.unwrap(), None);
        from.journal()
            .append(&alice, 1, vec![vec![1]])
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_reclaimed_copy_is_the_stores_own_again() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::sled(dir.path()).unwrap();
        let bob = grain("bob");
        let custody = storage.custody().unwrap();
        assert_eq!(custody.export(&bob).await.unwrap(), None, "nothing stored");
        storage
            .journal()
            .append(&bob, 1, vec![vec![7]])
            .await
            .unwrap();
        custody.lend(&bob, "silo-c").await.unwrap();
        let stale = storage.journal().append(&bob, 2, vec![vec![8]]).await;
        assert!(
            matches!(stale, Err(StoreError::Lent { .. })),
            "a lent grain takes no appends: {stale:?}"
        );
        assert_eq!(
            custody.export_lent(&bob).await.unwrap().map(|s| s.last_seq),
            Some(1)
        );
        custody.reclaim(&bob).await.unwrap();
        assert_eq!(custody.export_lent(&bob).await.unwrap(), None);
        storage
            .journal()
            .append(&bob, 2, vec![vec![8]])
            .await
            .unwrap();
        let state = custody.export(&bob).await.unwrap().expect("bob's state");
        assert_eq!((state.last_seq, state.entries.len()), (2, 2));
        assert!(
            Storage::new(
                "shared",
                storage.journal().clone(),
                storage.snapshots().clone()
            )
            .custody()
            .is_none()
        );
    }
}

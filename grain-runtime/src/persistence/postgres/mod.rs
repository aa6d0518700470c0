//! The PostgreSQL journal and snapshot store: one database shared by every silo of a cluster, so
//! that a grain's state is reachable wherever the grain activates, even after its last silo
//! crashed.
//!
//! ```text
//! journal_heads (kind, grain_key) -> last_seq          the expected-sequence check
//! activations   (kind, grain_key) -> fence             the newest activation's claim
//! journal       (kind, grain_key, seq) -> record       one row per event
//! snapshots     (kind, grain_key, seq) -> record       one row per snapshot
//! grain_key = "s:" text | "i:" integer | "u:" uuid      (in text, `\` is `\\` and NUL is `\0`)
//! ```
//!
//! An append is accepted only if it moves the grain's head from `first_seq - 1`; the database
//! decides that under its own row locks, so two activations racing on one grain cannot both
//! succeed, whichever silos they run on. Records are sealed with the same checksum as the
//! embedded stores' records, so a damaged row is reported, never decoded as garbage. A write is
//! acknowledged once its statement has committed, which PostgreSQL makes durable in its
//! write-ahead log (the store refuses to start on a server with `synchronous_commit = off`).
//!
//! Each activation first claims its grain (see [`crate::persistence::fencing`]): the claim bumps
//! the grain's fence, and a fenced append holds a share lock on the `activations` row while it
//! checks its fence. A claim therefore waits for any append under an older fence to commit, and
//! an append that starts after a claim committed sees the newer fence and is refused.

mod appender;
mod batcher;
mod claims;
mod config;
mod database;
mod import;
mod schema;

use std::sync::Arc;

use async_trait::async_trait;
use deadpool_postgres::tokio_postgres::{self, NoTls};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures::{StreamExt as _, TryStreamExt as _, stream};
use tokio::sync::oneshot;

pub use self::config::PostgresConfig;
pub use self::import::{CopyReport, copy_to_postgres};

use self::appender::Append;
use self::batcher::Batcher;
use self::claims::Claim;
use self::config::check_schema_name;
use self::database::{Database, Retry, Statements, describe};
use super::fencing::{Fence, Fencing};
use super::keys::GrainKeys;
use super::{EntryStream, Journal, JournalEntry, Snapshot, SnapshotStore, StoreError, record};
use crate::id::{GrainId, GrainKey};

const BACKEND: &str = "postgres";

/// How many journal entries one read fetches; a replay holds at most this many at once.
const READ_PAGE: i64 = 512;

fn backend(message: String) -> StoreError {
    StoreError::Backend {
        backend: BACKEND,
        message,
    }
}

/// A grain's `kind` and `grain_key` columns.
fn columns(grain: &GrainId) -> Result<(String, String), StoreError> {
    let key = match &grain.key {
        GrainKey::Str(s) => format!("s:{}", s.replace('\\', "\\\\").replace('\0', "\\0")),
        GrainKey::Int(n) => format!("i:{n}"),
        GrainKey::Uuid(u) => format!("u:{u}"),
    };
    if grain.kind.as_str().contains('\0') {
        return Err(backend(format!(
            "{grain} contains a NUL character, which PostgreSQL text cannot hold"
        )));
    }
    Ok((grain.kind.as_str().to_string(), key))
}

/// A sequence number as the `bigint` column holds it, if it fits.
fn to_column(seq: u64) -> Option<i64> {
    i64::try_from(seq).ok()
}

fn corrupt(grain: &GrainId, record: &'static str, seq: u64, reason: String) -> StoreError {
    StoreError::Corrupt {
        grain: grain.clone(),
        record,
        seq,
        reason,
    }
}

/// The journal and snapshot store on PostgreSQL.
pub(crate) struct PostgresStore {
    database: Arc<Database>,
    appends: Batcher<Append>,
    claims: Batcher<Claim>,
}

impl PostgresStore {
    /// Connects, brings the schema up to date and starts the batchers.
    pub(crate) async fn open(config: &PostgresConfig) -> Result<Self, StoreError> {
        let refused = |message: String| StoreError::Open {
            backend: BACKEND,
            path: config.redacted_url(),
            message,
        };
        check_schema_name(&config.schema).map_err(refused)?;
        let mut pg_config: tokio_postgres::Config = config
            .url
            .parse()
            .map_err(|e| refused(format!("invalid connection string: {}", describe(&e))))?;
        pg_config
            .connect_timeout(config.connect_timeout)
            .application_name(&config.application_name);
        let manager = Manager::from_config(
            pg_config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size.max(2))
            .wait_timeout(Some(config.query_timeout))
            .create_timeout(Some(config.connect_timeout))
            .recycle_timeout(Some(config.connect_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| refused(describe(&e)))?;
        {
            let client = pool.get().await.map_err(|e| refused(describe(&e)))?;
            check_durability(&client).await.map_err(refused)?;
            let applied = schema::migrate(&client, &config.schema)
                .await
                .map_err(refused)?;
            if !applied.is_empty() {
                tracing::info!(schema = %config.schema, ?applied, "applied storage migrations");
            }
        }
        let database = Arc::new(Database {
            pool,
            schema: config.schema.clone(),
            statements: Statements::new(&config.schema),
            timeout: config.query_timeout,
        });
        let appends = Batcher::start(
            Arc::clone(&database),
            config.pool_size / 2,
            appender::commit,
        );
        let claims = Batcher::start(Arc::clone(&database), config.pool_size / 4, claims::commit);
        Ok(Self {
            database,
            appends,
            claims,
        })
    }
}

/// Refuses a server that acknowledges commits before they are durable.
async fn check_durability(client: &tokio_postgres::Client) -> Result<(), String> {
    let setting = client.query_one("SHOW synchronous_commit", &[]).await;
    match setting.map(|row| row.get::<_, String>(0)) {
        Ok(value) if value.eq_ignore_ascii_case("off") => Err(
            "the server runs with synchronous_commit = off, so an acknowledged event could be lost in a server crash; set it to on".to_string(),
        ),
        _ => Ok(()),
    }
}

impl PostgresStore {
    /// Appends through the batcher, under `fence` if the activation holds one.
    async fn append_under(
        &self,
        grain: &GrainId,
        fence: Option<Fence>,
        first_seq: u64,
        events: Vec<Vec<u8>>,
    ) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let columns = columns(grain)?;
        let last = first_seq.checked_add(events.len() as u64 - 1);
        let (Some(first), Some(_)) = (to_column(first_seq), last.and_then(to_column)) else {
            return Err(StoreError::Conflict {
                grain: grain.clone(),
                expected: first_seq,
                actual: self.last_seq(grain).await?,
            });
        };
        let keys = GrainKeys::new(grain);
        let records = (first_seq..)
            .zip(&events)
            .map(|(seq, payload)| record::seal(&keys.event(seq), payload))
            .collect();
        let (reply, outcome) = oneshot::channel();
        self.appends.send(Append {
            grain: grain.clone(),
            columns,
            first_seq: first,
            fence: fence.map(|fence| fence as i64),
            records,
            reply,
        })?;
        outcome
            .await
            .unwrap_or(Err(StoreError::Closed { backend: BACKEND }))
    }
}

#[async_trait]
impl Fencing for PostgresStore {
    async fn claim(&self, grain: &GrainId) -> Result<Fence, StoreError> {
        let (reply, outcome) = oneshot::channel();
        self.claims.send(Claim {
            grain: grain.clone(),
            columns: columns(grain)?,
            reply,
        })?;
        outcome
            .await
            .unwrap_or(Err(StoreError::Closed { backend: BACKEND }))
    }

    async fn append_fenced(
        &self,
        grain: &GrainId,
        fence: Fence,
        first_seq: u64,
        events: Vec<Vec<u8>>,
    ) -> Result<(), StoreError> {
        self.append_under(grain, Some(fence), first_seq, events)
            .await
    }
}

#[async_trait]
impl Journal for PostgresStore {
    async fn append(
        &self,
        grain: &GrainId,
        first_seq: u64,
        events: Vec<Vec<u8>>,
    ) -> Result<(), StoreError> {
        self.append_under(grain, None, first_seq, events).await
    }

    fn read(&self, grain: &GrainId, from_seq: u64) -> EntryStream {
        let columns = match columns(grain) {
            Ok(columns) => columns,
            Err(error) => return stream::once(async { Err(error) }).boxed(),
        };
        let Some(from) = to_column(from_seq.max(1)) else {
            return stream::empty().boxed();
        };
        let page = Page {
            database: Arc::clone(&self.database),
            grain: grain.clone(),
            columns,
            next: from,
        };
        stream::try_unfold(Some(page), |page| async move {
            let Some(page) = page else {
                return Ok(None);
            };
            let (entries, next) = page.fetch().await?;
            Ok(Some((stream::iter(entries.into_iter().map(Ok)), next)))
        })
        .try_flatten()
        .boxed()
    }

    async fn last_seq(&self, grain: &GrainId) -> Result<u64, StoreError> {
        let (kind, key) = columns(grain)?;
        let rows = self
            .database
            .query(
                "reading a journal head",
                &self.database.statements.last_seq,
                &[&kind, &key],
                Retry::OnLostConnection,
            )
            .await?;
        Ok(rows.first().map_or(0, |row| row.get::<_, i64>(0) as u64))
    }

    async fn prune(&self, grain: &GrainId, through_seq: u64) -> Result<(), StoreError> {
        let (kind, key) = columns(grain)?;
        let through = to_column(through_seq).unwrap_or(i64::MAX);
        self.database
            .query(
                "pruning a journal",
                &self.database.statements.prune_events,
                &[&kind, &key, &through],
                Retry::OnLostConnection,
            )
            .await
            .map(drop)
    }
}

/// The next page of a journal read.
struct Page {
    database: Arc<Database>,
    grain: GrainId,
    columns: (String, String),
    next: i64,
}

impl Page {
    /// The entries of this page, and the page after it unless this one was the last.
    async fn fetch(self) -> Result<(Vec<JournalEntry>, Option<Page>), StoreError> {
        let (kind, key) = &self.columns;
        let rows = self
            .database
            .query(
                "reading a journal",
                &self.database.statements.read_page,
                &[kind, key, &self.next],
                Retry::OnLostConnection,
            )
            .await?;
        let keys = GrainKeys::new(&self.grain);
        let entries = rows
            .iter()
            .map(|row| {
                let seq = row.get::<_, i64>(0) as u64;
                let stored: &[u8] = row.get(1);
                record::open(&keys.event(seq), stored)
                    .map(|payload| JournalEntry {
                        seq,
                        payload: payload.to_vec(),
                    })
                    .map_err(|reason| corrupt(&self.grain, "journal", seq, reason))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let next = match entries.last() {
            Some(last) if rows.len() as i64 == READ_PAGE => Some(Page {
                next: last.seq as i64 + 1,
                ..self
            }),
            _ => None,
        };
        Ok((entries, next))
    }
}

#[async_trait]
impl SnapshotStore for PostgresStore {
    async fn latest(&self, grain: &GrainId) -> Result<Option<Snapshot>, StoreError> {
        let (kind, key) = columns(grain)?;
        let rows = self
            .database
            .query(
                "reading the latest snapshot",
                &self.database.statements.latest_snapshot,
                &[&kind, &key],
                Retry::OnLostConnection,
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let seq = row.get::<_, i64>(0) as u64;
        let stored: &[u8] = row.get(1);
        let payload = record::open(&GrainKeys::new(grain).snapshot(seq), stored)
            .map_err(|reason| corrupt(grain, "snapshot", seq, reason))?;
        Ok(Some(Snapshot {
            seq,
            payload: payload.to_vec(),
        }))
    }

    async fn save(&self, grain: &GrainId, snapshot: Snapshot) -> Result<(), StoreError> {
        let (kind, key) = columns(grain)?;
        let seq = to_column(snapshot.seq).ok_or_else(|| {
            backend(format!(
                "snapshot of {grain} at sequence {} is beyond the largest storable sequence",
                snapshot.seq
            ))
        })?;
        let sealed = record::seal(
            &GrainKeys::new(grain).snapshot(snapshot.seq),
            &snapshot.payload,
        );
        self.database
            .query(
                "saving a snapshot",
                &self.database.statements.save_snapshot,
                &[&kind, &key, &seq, &sealed],
                Retry::OnLostConnection,
            )
            .await
            .map(drop)
    }

    async fn prune(&self, grain: &GrainId, before_seq: u64) -> Result<(), StoreError> {
        let (kind, key) = columns(grain)?;
        let before = to_column(before_seq).unwrap_or(i64::MAX);
        self.database
            .query(
                "pruning snapshots",
                &self.database.statements.prune_snapshots,
                &[&kind, &key, &before],
                Retry::OnLostConnection,
            )
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_types_get_distinct_columns() {
        let kind = crate::id::GrainKind::from_static("Counter");
        let text = columns(&GrainId::new(kind.clone(), "42")).unwrap();
        let number = columns(&GrainId::new(kind.clone(), 42u64)).unwrap();
        assert_eq!(text, ("Counter".to_string(), "s:42".to_string()));
        assert_eq!(number, ("Counter".to_string(), "i:42".to_string()));
        let nul = columns(&GrainId::new(kind.clone(), "a\0b")).unwrap().1;
        let escaped = columns(&GrainId::new(kind, "a\\0b")).unwrap().1;
        assert_eq!((nul.as_str(), escaped.as_str()), ("s:a\\0b", "s:a\\\\0b"));
    }
}

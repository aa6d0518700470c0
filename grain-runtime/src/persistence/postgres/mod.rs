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
mod import;
mod schema;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::tokio_postgres::error::SqlState;
use deadpool_postgres::tokio_postgres::types::ToSql;
use deadpool_postgres::tokio_postgres::{self, NoTls, Row};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures::{StreamExt as _, TryStreamExt as _, stream};
use tokio::sync::oneshot;

pub use self::import::{CopyReport, copy_to_postgres};

use self::appender::Append;
use self::batcher::Batcher;
use self::claims::Claim;
use super::fencing::{Fence, Fencing};
use super::keys::GrainKeys;
use super::{EntryStream, Journal, JournalEntry, Snapshot, SnapshotStore, StoreError, record};
use crate::id::{GrainId, GrainKey};

const BACKEND: &str = "postgres";

/// How many journal entries one read fetches; a replay holds at most this many at once.
const READ_PAGE: i64 = 512;

/// How to reach the PostgreSQL server and how to use it.
///
/// # Examples
///
/// ```no_run
/// # use std::time::Duration;
/// # use grain_runtime::{PostgresConfig, Silo, Storage};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let config = PostgresConfig::new("postgres://grain:secret@db.internal:5432/grain")
///     .schema("orders")
///     .pool_size(16)
///     .query_timeout(Duration::from_secs(5));
/// let silo = Silo::builder()
///     .storage(Storage::postgres(config).await?)
///     .start()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresConfig {
    url: String,
    schema: String,
    pool_size: usize,
    connect_timeout: Duration,
    query_timeout: Duration,
    application_name: String,
}

impl PostgresConfig {
    /// A connection URL (`postgres://user:password@host:port/database`) or key-value string,
    /// with schema `grain`, 8 connections, a 5 s connect timeout and a 10 s query timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: "grain".to_string(),
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
            query_timeout: Duration::from_secs(10),
            application_name: "grain-silo".to_string(),
        }
    }

    /// The name the connections show in `pg_stat_activity`, such as the silo's name.
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = name.into();
        self
    }

    /// The schema that holds the tables, created if missing; several clusters can share a
    /// database with a schema each. Letters, digits and `_`, not starting with a digit.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// The most connections the silo opens (at least 2).
    pub fn pool_size(mut self, connections: usize) -> Self {
        self.pool_size = connections;
        self
    }

    /// How long opening one connection may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one operation may wait for a connection and the server's answer before it
    /// fails; a write that times out may or may not have become durable.
    pub fn query_timeout(mut self, timeout: Duration) -> Self {
        self.query_timeout = timeout;
        self
    }

    /// The URL with its password replaced by `***`, for messages and logs.
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &self.redacted_url())
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("query_timeout", &self.query_timeout)
            .field("application_name", &self.application_name)
            .finish()
    }
}

/// `url` without the password of its user-info part, if it has one.
fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    match rest[..at].find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..scheme_end],
            &rest[..colon],
            &rest[at..]
        ),
        None => url.to_string(),
    }
}

/// The SQL the store runs, with the schema filled in.
struct Statements {
    append: String,
    claim: String,
    heads: String,
    last_seq: String,
    read_page: String,
    prune_events: String,
    latest_snapshot: String,
    save_snapshot: String,
    prune_snapshots: String,
}

impl Statements {
    fn new(schema: &str) -> Self {
        let s = schema;
        Self {
            append: format!(
                "WITH input AS (
                    SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $9::int8[])
                        AS i(kind, grain_key, first_seq, last_seq, fence)
                ),
                held AS (
                    SELECT a.kind, a.grain_key FROM {s}.activations a
                    JOIN input i ON a.kind = i.kind AND a.grain_key = i.grain_key
                     AND a.fence = i.fence
                    FOR SHARE OF a
                ),
                allowed AS (
                    SELECT kind, grain_key, first_seq, last_seq FROM input WHERE fence IS NULL
                    UNION ALL
                    SELECT i.kind, i.grain_key, i.first_seq, i.last_seq FROM input i
                    JOIN held h ON h.kind = i.kind AND h.grain_key = i.grain_key
                ),
                advanced AS (
                    UPDATE {s}.journal_heads h SET last_seq = i.last_seq
                    FROM allowed i
                    WHERE h.kind = i.kind AND h.grain_key = i.grain_key
                      AND i.first_seq > 1 AND h.last_seq = i.first_seq - 1
                    RETURNING h.kind, h.grain_key
                ),
                started AS (
                    INSERT INTO {s}.journal_heads (kind, grain_key, last_seq)
                    SELECT kind, grain_key, last_seq FROM allowed WHERE first_seq = 1
                    ON CONFLICT (kind, grain_key) DO NOTHING
                    RETURNING kind, grain_key
                ),
                accepted AS (
                    SELECT kind, grain_key FROM advanced
                    UNION ALL SELECT kind, grain_key FROM started
                ),
                written AS (
                    INSERT INTO {s}.journal (kind, grain_key, seq, record)
                    SELECT e.kind, e.grain_key, e.seq, e.record
                    FROM unnest($5::text[], $6::text[], $7::int8[], $8::bytea[])
                        AS e(kind, grain_key, seq, record)
                    JOIN accepted a ON a.kind = e.kind AND a.grain_key = e.grain_key
                )
                SELECT kind, grain_key FROM accepted"
            ),
            claim: format!(
                "INSERT INTO {s}.activations AS a (kind, grain_key, fence)
                 SELECT kind, grain_key, 1 FROM unnest($1::text[], $2::text[]) AS c(kind, grain_key)
                 ON CONFLICT (kind, grain_key) DO UPDATE SET fence = a.fence + 1
                 RETURNING kind, grain_key, fence"
            ),
            heads: format!(
                "SELECT h.kind, h.grain_key, h.last_seq FROM {s}.journal_heads h
                 JOIN unnest($1::text[], $2::text[]) AS g(kind, grain_key)
                   ON h.kind = g.kind AND h.grain_key = g.grain_key"
            ),
            last_seq: format!(
                "SELECT last_seq FROM {s}.journal_heads WHERE kind = $1 AND grain_key = $2"
            ),
            read_page: format!(
                "SELECT seq, record FROM {s}.journal
                 WHERE kind = $1 AND grain_key = $2 AND seq >= $3
                 ORDER BY seq LIMIT {READ_PAGE}"
            ),
            prune_events: format!(
                "DELETE FROM {s}.journal WHERE kind = $1 AND grain_key = $2 AND seq <= $3"
            ),
            latest_snapshot: format!(
                "SELECT seq, record FROM {s}.snapshots WHERE kind = $1 AND grain_key = $2
                 ORDER BY seq DESC LIMIT 1"
            ),
            save_snapshot: format!(
                "INSERT INTO {s}.snapshots (kind, grain_key, seq, record) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (kind, grain_key, seq) DO UPDATE SET record = EXCLUDED.record"
            ),
            prune_snapshots: format!(
                "DELETE FROM {s}.snapshots WHERE kind = $1 AND grain_key = $2 AND seq < $3"
            ),
        }
    }
}

/// Whether an operation may run again after its connection broke: reads and idempotent writes
/// may, on the next connection, until one that works (the pool drops the broken ones); an
/// append may not (it may have committed before the connection broke).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    OnLostConnection,
    Never,
}

/// The pool and the statements, shared by the store and its batchers.
struct Database {
    pool: Pool,
    schema: String,
    statements: Statements,
    timeout: Duration,
}

impl Database {
    /// Runs `sql` and returns its rows; `what` names the operation in errors.
    async fn query(
        &self,
        what: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        retry: Retry,
    ) -> Result<Vec<Row>, StoreError> {
        let attempt = async || -> Result<Vec<Row>, Failure> {
            let client = self
                .pool
                .get()
                .await
                .map_err(|e| Failure::Pool(describe(&e)))?;
            let statement = client.prepare_cached(sql).await?;
            Ok(client.query(&statement, params).await?)
        };
        let timed = async || {
            tokio::time::timeout(self.timeout, attempt())
                .await
                .unwrap_or_else(|_| {
                    Err(Failure::Pool(format!(
                        "no answer within {:?}",
                        self.timeout
                    )))
                })
        };
        // After a server restart every pooled connection is broken; each failed attempt
        // drops one, so the pool's size plus one attempts reach a fresh connection.
        let mut attempts = self.pool.status().max_size + 1;
        loop {
            attempts -= 1;
            match timed().await {
                Err(Failure::Sql(e))
                    if retry == Retry::OnLostConnection && attempts > 0 && connection_lost(&e) =>
                {
                    tracing::debug!("{what}: {}; retrying on another connection", describe(&e));
                }
                Err(Failure::Sql(e)) if attempts > 0 && rolled_back(&e) => {
                    tracing::debug!("{what}: {}; running it again", describe(&e));
                }
                outcome => {
                    return outcome.map_err(|failure| backend(format!("{what}: {failure}")));
                }
            }
        }
    }
}

/// Whether the server aborted the statement's transaction, so that nothing of it was written
/// and it may run again whatever it does: a deadlock between batches that lock the same rows
/// in different orders, or a serialization failure (which CockroachDB asks clients to retry).
fn rolled_back(error: &tokio_postgres::Error) -> bool {
    error.code().is_some_and(|code| {
        *code == SqlState::T_R_DEADLOCK_DETECTED || *code == SqlState::T_R_SERIALIZATION_FAILURE
    })
}

/// Whether `error` means the connection is gone (it broke, or the server ended it on shutdown
/// or by an administrator's command) rather than that the statement failed.
fn connection_lost(error: &tokio_postgres::Error) -> bool {
    match error.code() {
        None => true,
        Some(code) => {
            let code = code.code();
            code.starts_with("08") || code.starts_with("57P")
        }
    }
}

/// Why one attempt at an operation failed.
enum Failure {
    /// No connection could be had in time.
    Pool(String),
    /// The connection or the server failed the statement.
    Sql(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(error: tokio_postgres::Error) -> Self {
        Failure::Sql(error)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Pool(message) => f.write_str(message),
            Failure::Sql(error) => f.write_str(&describe(error)),
        }
    }
}

/// `error` and its causes, joined: the driver's own message alone is often just "db error".
fn describe(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

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

/// Refuses a schema name that is not a plain SQL identifier: it is spliced into statements.
fn check_schema_name(schema: &str) -> Result<(), String> {
    let plain = schema.len() <= 63
        && schema
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        Ok(())
    } else {
        Err(format!(
            "invalid schema name {schema:?}: use at most 63 ASCII letters, digits and '_', not starting with a digit"
        ))
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
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redact("postgres://grain:s3cret@db:5432/grain"),
            "postgres://grain:***@db:5432/grain"
        );
        assert_eq!(
            redact("postgres://grain@db/grain"),
            "postgres://grain@db/grain"
        );
        assert_eq!(redact("host=db user=grain"), "host=db user=grain");
        let config = PostgresConfig::new("postgresql://u:p@h/d");
        assert!(!format!("{config:?}").contains(":p@"));
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        for good in ["grain", "_x", "tenant_42"] {
            assert!(check_schema_name(good).is_ok(), "{good}");
        }
        for bad in ["", "4ever", "a-b", "x; DROP TABLE y", &"s".repeat(64)] {
            let error = check_schema_name(bad).unwrap_err();
            assert!(error.contains("invalid schema name"), "{error}");
        }
    }

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

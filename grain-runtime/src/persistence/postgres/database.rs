//! [`Database`]: the connection pool and the store's SQL, and how a failed statement is retried
//! or reported.

use std::fmt;
use std::time::Duration;

use deadpool_postgres::Pool;
use deadpool_postgres::tokio_postgres::error::SqlState;
use deadpool_postgres::tokio_postgres::types::ToSql;
use deadpool_postgres::tokio_postgres::{self, Row};

use super::{READ_PAGE, backend};
use crate::persistence::StoreError;

/// The SQL the store runs, with the schema filled in.
pub(super) struct Statements {
    pub(super) append: String,
    pub(super) claim: String,
    pub(super) heads: String,
    pub(super) last_seq: String,
    pub(super) read_page: String,
    pub(super) prune_events: String,
    pub(super) latest_snapshot: String,
    pub(super) save_snapshot: String,
    pub(super) prune_snapshots: String,
}

impl Statements {
    pub(super) fn new(schema: &str) -> Self {
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
pub(super) enum Retry {
    OnLostConnection,
    Never,
}

/// The pool and the statements, shared by the store and its batchers.
pub(super) struct Database {
    pub(super) pool: Pool,
    pub(super) schema: String,
    pub(super) statements: Statements,
    pub(super) timeout: Duration,
}

impl Database {
    /// Runs `sql` and returns its rows; `what` names the operation in errors.
    pub(super) async fn query(
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
pub(super) fn rolled_back(error: &tokio_postgres::Error) -> bool {
    error.code().is_some_and(|code| {
        *code == SqlState::T_R_DEADLOCK_DETECTED || *code == SqlState::T_R_SERIALIZATION_FAILURE
    })
}

/// Whether `error` means the connection is gone (it broke, or the server ended it on shutdown
/// or by an administrator's command) rather than that the statement failed.
pub(super) fn connection_lost(error: &tokio_postgres::Error) -> bool {
    match error.code() {
        None => true,
        Some(code) => {
            let code = code.code();
            code.starts_with("08") || code.starts_with("57P")
        }
    }
}

/// Why one attempt at an operation failed.
pub(super) enum Failure {
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
pub(super) fn describe(error: &dyn std::error::Error) -> String {
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

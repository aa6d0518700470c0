//! The PostgreSQL schema and its versioned migrations, applied by every silo on start.
//!
//! Each migration runs in a transaction that first claims its version in the `migrations`
//! table. The claim is an insert on a primary key, so when several silos start at once the
//! others wait for the one applying a migration, see its version taken and skip it. The
//! bootstrap statements are idempotent (`IF NOT EXISTS`); a start that races another on them
//! retries. None of this needs advisory locks or `LOCK TABLE`, so PostgreSQL-compatible engines
//! run it too.

use std::time::Duration;

use deadpool_postgres::tokio_postgres::error::SqlState;
use deadpool_postgres::tokio_postgres::{self, Client};

/// The migrations in order; a migration's version is its position from 1. Append, never edit.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "journal, journal heads and snapshots",
        "CREATE TABLE {schema}.journal_heads (
        kind text NOT NULL,
        grain_key text NOT NULL,
        last_seq bigint NOT NULL CHECK (last_seq > 0),
        PRIMARY KEY (kind, grain_key)
    );
    CREATE TABLE {schema}.journal (
        kind text NOT NULL,
        grain_key text NOT NULL,
        seq bigint NOT NULL CHECK (seq > 0),
        record bytea NOT NULL,
        PRIMARY KEY (kind, grain_key, seq)
    );
    CREATE TABLE {schema}.snapshots (
        kind text NOT NULL,
        grain_key text NOT NULL,
        seq bigint NOT NULL CHECK (seq >= 0),
        record bytea NOT NULL,
        PRIMARY KEY (kind, grain_key, seq)
    );",
    ),
    (
        "activation fences",
        "CREATE TABLE {schema}.activations (
            kind text NOT NULL,
            grain_key text NOT NULL,
            fence bigint NOT NULL CHECK (fence > 0),
            PRIMARY KEY (kind, grain_key)
        );",
    ),
];

/// How often a start retries statements that raced another silo's.
const RACE_RETRIES: u32 = 10;

/// Whether `error` is what losing a race on concurrent DDL or a serializable transaction looks
/// like, so that the statement should run again.
fn lost_a_race(error: &tokio_postgres::Error) -> bool {
    error.code().is_some_and(|code| {
        [
            SqlState::UNIQUE_VIOLATION,
            SqlState::DUPLICATE_TABLE,
            SqlState::DUPLICATE_SCHEMA,
            SqlState::DUPLICATE_OBJECT,
            SqlState::T_R_SERIALIZATION_FAILURE,
        ]
        .contains(code)
    })
}

/// Brings `schema` up to the latest version; returns the versions this call applied.
pub(super) async fn migrate(client: &Client, schema: &str) -> Result<Vec<i32>, String> {
    let bootstrap = format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}.migrations (
             version integer PRIMARY KEY,
             name text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         );"
    );
    retry_races(|| client.batch_execute(&bootstrap))
        .await
        .map_err(|e| format!("creating schema {schema}: {}", super::describe(&e)))?;

    let mut applied = Vec::new();
    for (index, (name, sql)) in MIGRATIONS.iter().enumerate() {
        let version = i32::try_from(index + 1).expect("fewer than 2^31 migrations");
        let sql = sql.replace("{schema}", schema);
        let claimed = retry_races(|| apply(client, schema, version, name, &sql))
            .await
            .map_err(|e| {
                format!(
                    "migration {version} ({name}) of schema {schema}: {}",
                    super::describe(&e)
                )
            })?;
        if claimed {
            applied.push(version);
        }
    }
    let latest = MIGRATIONS.len();
    let newer: Option<i32> = client
        .query_one(
            &format!("SELECT max(version) FROM {schema}.migrations"),
            &[],
        )
        .await
        .map_err(|e| format!("reading schema {schema}'s version: {}", super::describe(&e)))?
        .get(0);
    match newer {
        Some(version) if usize::try_from(version).is_ok_and(|v| v > latest) => Err(format!(
            "schema {schema} is at version {version}, newer than this silo's {latest}: upgrade the silo"
        )),
        _ => Ok(applied),
    }
}

/// Applies one migration unless its version is taken; `Ok(true)` if this call applied it.
async fn apply(
    client: &Client,
    schema: &str,
    version: i32,
    name: &str,
    sql: &str,
) -> Result<bool, tokio_postgres::Error> {
    client.batch_execute("BEGIN").await?;
    let applied = async {
        let claimed = client
            .execute(
                &format!(
                    "INSERT INTO {schema}.migrations (version, name) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING"
                ),
                &[&version, &name],
            )
            .await?;
        if claimed == 1 {
            client.batch_execute(sql).await?;
        }
        Ok(claimed == 1)
    }
    .await;
    match applied {
        Ok(true) => client.batch_execute("COMMIT").await.map(|()| true),
        Ok(false) => client.batch_execute("ROLLBACK").await.map(|()| false),
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// Runs `statement` again while it fails the way racing starts do.
async fn retry_races<T, F, Fut>(mut statement: F) -> Result<T, tokio_postgres::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, tokio_postgres::Error>>,
{
    let mut attempt = 0;
    loop {
        match statement().await {
            Err(e) if lost_a_race(&e) && attempt < RACE_RETRIES => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(10 << attempt.min(5))).await;
            }
            outcome => return outcome,
        }
    }
}

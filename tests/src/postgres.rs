//! Support for the tests that run against a real PostgreSQL server, whose connection URL comes
//! from `GRAIN_POSTGRES_URL` (`.ci/postgres` starts one and prints it). Without the variable such
//! a test prints that it was skipped and passes; with it, failing to connect fails the test.
//! Each test works in a schema of its own, which [`Scratch::run`] drops afterwards.

use std::panic::AssertUnwindSafe;

use futures::FutureExt as _;
use grain_runtime::{PostgresConfig, Storage};
use tokio_postgres::NoTls;

use crate::storage_conformance::{RecordKind, StoredRecord};

/// The environment variable that holds the server's connection URL.
pub const URL_VAR: &str = "GRAIN_POSTGRES_URL";

/// A fresh schema on the test server.
#[derive(Debug, Clone)]
pub struct Scratch {
    url: String,
    schema: String,
}

impl Scratch {
    /// A schema for `test`, or `None` (after saying so) when no server is configured.
    pub fn new(test: &str) -> Option<Self> {
        let Ok(url) = std::env::var(URL_VAR) else {
            println!("skipped {test}: {URL_VAR} is not set (run `eval \"$(.ci/postgres)\"`)");
            return None;
        };
        let schema = format!("grain_test_{}", uuid::Uuid::new_v4().simple());
        Some(Self { url, schema })
    }

    /// The store's settings for this schema.
    pub fn config(&self) -> PostgresConfig {
        PostgresConfig::new(&self.url).schema(&self.schema)
    }

    /// Opens the store on this schema; panics if it cannot.
    pub async fn open(&self) -> Storage {
        Storage::postgres(self.config())
            .await
            .unwrap_or_else(|e| panic!("opening the PostgreSQL store at {URL_VAR}: {e}"))
    }

    /// A plain connection to the server, for looking past the store.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls)
            .await
            .unwrap_or_else(|e| panic!("connecting to {URL_VAR}: {e}"));
        tokio::spawn(connection);
        client
    }

    /// The server's connection URL, for handing to a silo process.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The schema's name.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Runs `test`, then drops the schema whether or not the test panicked.
    pub async fn run<F: Future>(&self, test: F) -> F::Output {
        let outcome = AssertUnwindSafe(test).catch_unwind().await;
        self.client()
            .await
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema))
            .await
            .expect("dropping the test schema");
        outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// Flips a bit in the last byte of `record`'s stored row.
    pub async fn corrupt(&self, record: &StoredRecord) {
        let table = match record.kind {
            RecordKind::JournalEntry => "journal",
            RecordKind::Snapshot => "snapshots",
        };
        let client = self.client().await;
        let rows = client
            .query(
                &format!(
                    "SELECT kind, grain_key, seq, record FROM {}.{table}",
                    self.schema
                ),
                &[],
            )
            .await
            .expect("scanning the table");
        let found: Vec<_> = rows
            .iter()
            .filter(|row| row.get::<_, &[u8]>(3).ends_with(&record.payload_suffix))
            .collect();
        let [row] = found.as_slice() else {
            panic!("{} rows match {record:?}, expected one", found.len());
        };
        let mut value = row.get::<_, &[u8]>(3).to_vec();
        *value.last_mut().expect("a stored record is never empty") ^= 0x01;
        let (kind, key, seq): (&str, &str, i64) = (row.get(0), row.get(1), row.get(2));
        client
            .execute(
                &format!(
                    "UPDATE {}.{table} SET record = $4 WHERE kind = $1 AND grain_key = $2 AND seq = $3",
                    self.schema
                ),
                &[&kind, &key, &seq, &value],
            )
            .await
            .expect("writing the damaged record");
    }
}

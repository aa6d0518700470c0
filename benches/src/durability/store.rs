//! The stores under test and where each keeps its data for one measurement: a temporary
//! directory for the embedded engines, a schema of its own on the PostgreSQL server for
//! PostgreSQL.

use std::error::Error;
use std::path::Path;

use grain_runtime::{PostgresConfig, Storage};
use tempfile::TempDir;
use tokio_postgres::NoTls;

type Failure = Box<dyn Error + Send + Sync>;

/// The environment variable that holds the PostgreSQL server's connection URL.
pub(crate) const POSTGRES_URL_VAR: &str = "GRAIN_POSTGRES_URL";

/// A storage engine under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sled,
    Redb,
    Postgres,
}

impl Backend {
    pub(crate) fn parse(name: &str) -> Option<Backend> {
        match name.trim() {
            "sled" => Some(Backend::Sled),
            "redb" => Some(Backend::Redb),
            "postgres" => Some(Backend::Postgres),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Backend::Sled => "sled",
            Backend::Redb => "redb",
            Backend::Postgres => "postgres",
        }
    }
}

/// Where one measurement keeps its data; [`Place::remove`] deletes it.
pub(crate) struct Place {
    backend: Backend,
    dir: TempDir,
    postgres: Option<(String, String)>,
}

impl Place {
    /// A fresh, empty place for `backend`; `postgres_url` is the server for [`Backend::Postgres`].
    pub(crate) fn new(backend: Backend, postgres_url: Option<&str>) -> Result<Place, Failure> {
        let postgres = match backend {
            Backend::Postgres => {
                let url = postgres_url.ok_or_else(|| {
                    format!("the postgres backend needs {POSTGRES_URL_VAR} to be set")
                })?;
                let schema = format!("grain_bench_{}", uuid::Uuid::new_v4().simple());
                Some((url.to_string(), schema))
            }
            Backend::Sled | Backend::Redb => None,
        };
        Ok(Place {
            backend,
            dir: tempfile::tempdir()?,
            postgres,
        })
    }

    /// Opens the store; a second open after a silo shut down sees what the first one wrote.
    pub(crate) async fn open(&self) -> Result<Storage, Failure> {
        Ok(match (&self.backend, &self.postgres) {
            (Backend::Sled, _) => Storage::sled(self.dir.path())?,
            (Backend::Redb, _) => Storage::redb(self.dir.path())?,
            (Backend::Postgres, Some((url, schema))) => {
                Storage::postgres(PostgresConfig::new(url).schema(schema)).await?
            }
            (Backend::Postgres, None) => unreachable!("Place::new sets the server"),
        })
    }

    /// Bytes the store occupies: the files of the directory, or the tables of the schema with
    /// their indexes and TOAST data (the server's write-ahead log is shared and not counted).
    pub(crate) async fn bytes(&self) -> Result<u64, Failure> {
        match &self.postgres {
            None => Ok(dir_size(self.dir.path())?),
            Some((url, schema)) => {
                let client = connect(url).await?;
                let row = client
                    .query_one(
                        "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::BIGINT \
                         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                         WHERE n.nspname = $1 AND c.relkind = 'r'",
                        &[schema],
                    )
                    .await?;
                Ok(u64::try_from(row.get::<_, i64>(0))?)
            }
        }
    }

    /// Deletes the data: the directory, and for PostgreSQL the schema.
    pub(crate) async fn remove(self) -> Result<(), Failure> {
        if let Some((url, schema)) = &self.postgres {
            connect(url)
                .await?
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .await?;
        }
        Ok(())
    }
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, Failure> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

fn dir_size(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_size(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

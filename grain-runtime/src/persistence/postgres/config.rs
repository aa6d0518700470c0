//! [`PostgresConfig`]: how a silo reaches its PostgreSQL server, and the checks its settings
//! must pass before the store connects.

use std::fmt;
use std::time::Duration;

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
    pub(super) url: String,
    pub(super) schema: String,
    pub(super) pool_size: usize,
    pub(super) connect_timeout: Duration,
    pub(super) query_timeout: Duration,
    pub(super) application_name: String,
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

/// Refuses a schema name that is not a plain SQL identifier: it is spliced into statements.
pub(super) fn check_schema_name(schema: &str) -> Result<(), String> {
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
}

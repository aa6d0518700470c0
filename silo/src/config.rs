//! Silo settings: defaults, overridden by a TOML file, overridden by environment variables and flags.

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::net::SocketAddr;

use grain_runtime::{ClusterConfig, PostgresConfig, SiloBuilder, Storage, StoreError};
use serde::Deserialize;

/// Command-line flags; each can also be set by the environment variable named beside it.
#[derive(Debug, Default, clap::Parser)]
#[command(name = "silo", version, about = "Hosts grains in this process")]
pub struct Flags {
    /// TOML file with the silo's settings.
    #[arg(long, env = "SILO_CONFIG")]
    pub config: Option<PathBuf>,
    /// The name of this silo, shown in logs.
    #[arg(long, env = "SILO_NAME")]
    pub name: Option<String>,
    /// Log filter, e.g. `info` or `grain_runtime=debug,info`.
    #[arg(long, env = "SILO_LOG")]
    pub log: Option<String>,
    /// Default deadline of an ask, e.g. `30s`.
    #[arg(long, env = "SILO_ASK_TIMEOUT")]
    pub ask_timeout: Option<String>,
    /// How long an activation may idle before it is passivated, e.g. `2m`.
    #[arg(long, env = "SILO_IDLE_TIMEOUT")]
    pub idle_timeout: Option<String>,
    /// Default mailbox capacity of a grain.
    #[arg(long, env = "SILO_MAILBOX_CAPACITY")]
    pub mailbox_capacity: Option<usize>,
    /// How long a graceful shutdown waits for activations to drain, e.g. `30s`.
    #[arg(long, env = "SILO_SHUTDOWN_TIMEOUT")]
    pub shutdown_timeout: Option<String>,
    /// Storage for grain state: `redb` (default), `sled`, or `postgres` (shared by the cluster).
    #[arg(long, env = "SILO_STORAGE")]
    pub storage: Option<String>,
    /// Connection URL of the PostgreSQL server, for `storage = "postgres"`.
    #[arg(long, env = "SILO_POSTGRES_URL")]
    pub postgres_url: Option<String>,
    /// Schema of the grain tables in PostgreSQL (default `grain`).
    #[arg(long, env = "SILO_POSTGRES_SCHEMA")]
    pub postgres_schema: Option<String>,
    /// Directory of this silo's grain state (default `data/<name>`).
    #[arg(long, env = "SILO_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The cluster's name; silos and clients of other clusters are refused (default `grain`).
    #[arg(long, env = "SILO_CLUSTER")]
    pub cluster: Option<String>,
    /// Address to listen on for calls (TCP) and gossip (UDP), e.g. `0.0.0.0:11111`. Setting it
    /// (or seeds) makes the silo a cluster member.
    #[arg(long, env = "SILO_LISTEN")]
    pub listen: Option<String>,
    /// Address the other silos reach this one at, when it is not the listen address.
    #[arg(long, env = "SILO_ADVERTISE")]
    pub advertise: Option<String>,
    /// Silos to join through, comma-separated `host:port`.
    #[arg(long, env = "SILO_SEEDS", value_delimiter = ',')]
    pub seeds: Option<Vec<String>>,
    /// How often membership gossip runs, e.g. `150ms`.
    #[arg(long, env = "SILO_GOSSIP_INTERVAL")]
    pub gossip_interval: Option<String>,
    /// How long a silent silo has before the others declare it dead, e.g. `3s`.
    #[arg(long, env = "SILO_DEAD_AFTER")]
    pub dead_after: Option<String>,
    /// The largest frame sent or accepted, in bytes.
    #[arg(long, env = "SILO_MAX_FRAME")]
    pub max_frame: Option<usize>,
    /// An operator command to run instead of hosting grains.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Operator commands, sent to the cluster named by the settings.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum Command {
    /// Declares that a silo which is down will not come back with its data: the state of the
    /// grains it held is given up, and they activate again elsewhere. This loses acknowledged
    /// writes of those grains; run it only when the silo's data directory is gone for good.
    MarkLost {
        /// The name of the lost silo.
        name: String,
    },
    /// Copies the grain state in this silo's data directory into the PostgreSQL database of
    /// `postgres_url`, for moving a cluster onto shared storage. Stop the silo first; grains
    /// already copied are skipped, so the command can be run again after a failure.
    CopyToPostgres {
        /// The engine of the data directory: `redb` (default) or `sled`.
        #[arg(long, default_value = "redb")]
        from: String,
    },
}

/// The settings as written in the TOML file; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    name: Option<String>,
    log: Option<String>,
    ask_timeout: Option<String>,
    idle_timeout: Option<String>,
    mailbox_capacity: Option<usize>,
    shutdown_timeout: Option<String>,
    storage: Option<String>,
    postgres_url: Option<String>,
    postgres_schema: Option<String>,
    data_dir: Option<PathBuf>,
    cluster: Option<String>,
    listen: Option<String>,
    advertise: Option<String>,
    seeds: Option<Vec<String>>,
    gossip_interval: Option<String>,
    dead_after: Option<String>,
    max_frame: Option<usize>,
}

/// A setting that could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML or has an unknown or mistyped key.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said, including the line and key.
        message: String,
    },
    /// A duration setting is not a duration.
    #[error(
        "invalid `{setting}` {value:?}: {reason} (write a duration such as \"500ms\", \"30s\" or \"2m\")"
    )]
    Duration {
        /// The setting's name.
        setting: &'static str,
        /// The value given.
        value: String,
        /// Why it is not a duration.
        reason: String,
    },
    /// An address setting is not an `ip:port` address.
    #[error("invalid `{setting}` {value:?}: write an address such as \"127.0.0.1:11111\"")]
    Address {
        /// The setting's name.
        setting: &'static str,
        /// The value given.
        value: String,
    },
    /// The storage setting names no known engine.
    #[error("invalid `storage` {value:?}: expected \"redb\", \"sled\" or \"postgres\"")]
    Storage {
        /// The value given.
        value: String,
    },
    /// `storage = "postgres"` without a server to connect to.
    #[error("`storage = \"postgres\"` needs `postgres_url` (or SILO_POSTGRES_URL)")]
    MissingPostgresUrl,
}

/// The storage a silo keeps grain state in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageEngine {
    /// redb, the default.
    Redb,
    /// sled.
    Sled,
    /// PostgreSQL, shared by the silos of a cluster.
    Postgres,
}

impl std::fmt::Display for StorageEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StorageEngine::Sled => "sled",
            StorageEngine::Redb => "redb",
            StorageEngine::Postgres => "postgres",
        })
    }
}

/// The effective settings of a silo process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiloConfig {
    /// The name of this silo, shown in logs.
    pub name: String,
    /// The log filter.
    pub log: String,
    /// Default deadline of an ask.
    pub ask_timeout: Duration,
    /// Default idle time before passivation.
    pub idle_timeout: Duration,
    /// Default mailbox capacity.
    pub mailbox_capacity: usize,
    /// Longest wait of a graceful shutdown.
    pub shutdown_timeout: Duration,
    /// The storage engine for grain state.
    pub storage: StorageEngine,
    /// The directory of this silo's grain state.
    pub data_dir: PathBuf,
    /// The PostgreSQL connection URL, for [`StorageEngine::Postgres`].
    pub postgres_url: Option<String>,
    /// The PostgreSQL schema of the grain tables.
    pub postgres_schema: String,
    /// How the silo takes part in a cluster; `None` for a silo on its own.
    pub cluster: Option<ClusterConfig>,
}

impl Default for SiloConfig {
    fn default() -> Self {
        Self {
            name: "silo".to_string(),
            log: "info".to_string(),
            ask_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            mailbox_capacity: 65_536,
            shutdown_timeout: Duration::from_secs(30),
            storage: StorageEngine::Redb,
            data_dir: PathBuf::from("data/silo"),
            postgres_url: None,
            postgres_schema: "grain".to_string(),
            cluster: None,
        }
    }
}

impl SiloConfig {
    /// The defaults, overridden by the file named in `flags` (if any), overridden by `flags`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the file, key or setting that is wrong.
    pub fn load(flags: Flags) -> Result<Self, ConfigError> {
        let file = match &flags.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let mut config = SiloConfig::default();
        if let Some(name) = flags.name.or(file.name) {
            config.data_dir = Path::new("data").join(&name);
            config.name = name;
        }
        if let Some(dir) = flags.data_dir.or(file.data_dir) {
            config.data_dir = dir;
        }
        if let Some(value) = flags.storage.or(file.storage) {
            config.storage = match value.trim() {
                "sled" => StorageEngine::Sled,
                "redb" => StorageEngine::Redb,
                "postgres" => StorageEngine::Postgres,
                _ => return Err(ConfigError::Storage { value }),
            };
        }
        config.postgres_url = flags.postgres_url.or(file.postgres_url);
        if let Some(schema) = flags.postgres_schema.or(file.postgres_schema) {
            config.postgres_schema = schema;
        }
        if config.storage == StorageEngine::Postgres && config.postgres_url.is_none() {
            return Err(ConfigError::MissingPostgresUrl);
        }
        if let Some(log) = flags.log.or(file.log) {
            config.log = log;
        }
        if let Some(text) = flags.ask_timeout.or(file.ask_timeout) {
            config.ask_timeout = duration("ask_timeout", text)?;
        }
        if let Some(text) = flags.idle_timeout.or(file.idle_timeout) {
            config.idle_timeout = duration("idle_timeout", text)?;
        }
        if let Some(capacity) = flags.mailbox_capacity.or(file.mailbox_capacity) {
            config.mailbox_capacity = capacity;
        }
        if let Some(text) = flags.shutdown_timeout.or(file.shutdown_timeout) {
            config.shutdown_timeout = duration("shutdown_timeout", text)?;
        }
        let listen = flags.listen.or(file.listen);
        let seeds = flags.seeds.or(file.seeds);
        let cluster_name = flags.cluster.or(file.cluster);
        if listen.is_some() || seeds.is_some() || cluster_name.is_some() {
            let mut cluster = ClusterConfig::new(&config.name);
            if let Some(name) = cluster_name {
                cluster = cluster.cluster(name);
            }
            if let Some(text) = listen {
                cluster = cluster.listen(address("listen", text)?);
            }
            if let Some(text) = flags.advertise.or(file.advertise) {
                cluster = cluster.advertise(address("advertise", text)?);
            }
            if let Some(seeds) = seeds {
                cluster = cluster.join(seeds.into_iter().map(|s| s.trim().to_owned()));
            }
            if let Some(text) = flags.gossip_interval.or(file.gossip_interval) {
                cluster = cluster.gossip_interval(duration("gossip_interval", text)?);
            }
            if let Some(text) = flags.dead_after.or(file.dead_after) {
                cluster = cluster.dead_after(duration("dead_after", text)?);
            }
            if let Some(bytes) = flags.max_frame.or(file.max_frame) {
                cluster = cluster.max_frame(bytes);
            }
            config.cluster = Some(cluster);
        }
        Ok(config)
    }

    /// Opens the configured storage: an engine in the data directory, or the PostgreSQL server.
    ///
    /// # Errors
    ///
    /// [`StoreError::Open`] naming the directory or server, for instance when another process
    /// uses the directory or the server cannot be reached.
    pub async fn open_storage(&self) -> Result<Storage, StoreError> {
        match self.storage {
            StorageEngine::Sled => Storage::sled(&self.data_dir),
            StorageEngine::Redb => Storage::redb(&self.data_dir),
            StorageEngine::Postgres => {
                let url = self.postgres_url.clone().unwrap_or_default();
                let config = PostgresConfig::new(url)
                    .schema(&self.postgres_schema)
                    .application_name(&self.name);
                Storage::postgres(config).await
            }
        }
    }

    /// Where the grain state is kept, for messages: the data directory or the server.
    pub fn storage_location(&self) -> String {
        match (&self.storage, &self.postgres_url) {
            (StorageEngine::Postgres, Some(url)) => PostgresConfig::new(url.clone()).redacted_url(),
            _ => self.data_dir.display().to_string(),
        }
    }

    /// Applies the runtime settings to a silo builder; the builder validates them on start.
    pub fn apply(&self, builder: SiloBuilder) -> SiloBuilder {
        let builder = builder
            .ask_timeout(self.ask_timeout)
            .idle_timeout(self.idle_timeout)
            .mailbox_capacity(self.mailbox_capacity)
            .shutdown_timeout(self.shutdown_timeout);
        match &self.cluster {
            Some(cluster) => builder.cluster(cluster.clone()),
            None => builder,
        }
    }
}

fn read_file(path: &Path) -> Result<FileSettings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|error| ConfigError::Parse {
        path: path.to_path_buf(),
        message: error.to_string(),
    })
}

fn address(setting: &'static str, value: String) -> Result<SocketAddr, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| ConfigError::Address { setting, value })
}

fn duration(setting: &'static str, value: String) -> Result<Duration, ConfigError> {
    humantime::parse_duration(value.trim()).map_err(|error| ConfigError::Duration {
        setting,
        reason: error.to_string(),
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(text.as_bytes()).expect("write temp file");
        file
    }

    #[test]
    fn defaults_without_file_or_flags() {
        assert_eq!(
            SiloConfig::load(Flags::default()).expect("defaults load"),
            SiloConfig::default()
        );
    }

    #[test]
    fn flags_override_the_file() {
        let f = file("name = \"from-file\"\nask_timeout = \"5s\"\nmailbox_capacity = 10\n");
        let config = SiloConfig::load(Flags {
            config: Some(f.path().to_path_buf()),
            name: Some("from-flag".into()),
            ..Flags::default()
        })
        .expect("config loads");
        assert_eq!(config.name, "from-flag");
        assert_eq!(config.ask_timeout, Duration::from_secs(5));
        assert_eq!(config.mailbox_capacity, 10);
        assert_eq!(config.idle_timeout, SiloConfig::default().idle_timeout);
    }

    #[test]
    fn unknown_key_is_named() {
        let f = file("ask_timout = \"5s\"\n");
        let error = SiloConfig::load(Flags {
            config: Some(f.path().to_path_buf()),
            ..Flags::default()
        })
        .expect_err("unknown key rejected");
        let text = error.to_string();
        assert!(text.contains("ask_timout"), "{text}");
        assert!(text.contains("invalid config file"), "{text}");
    }

    #[test]
    fn bad_duration_names_the_setting() {
        let error = SiloConfig::load(Flags {
            idle_timeout: Some("soon".into()),
            ..Flags::default()
        })
        .expect_err("bad duration rejected");
        assert!(
            error
                .to_string()
                .starts_with("invalid `idle_timeout` \"soon\""),
            "{error}"
        );
    }

    #[test]
    fn storage_defaults_to_redb_under_the_silo_name() {
        let config = SiloConfig::load(Flags {
            name: Some("east".into()),
            ..Flags::default()
        })
        .expect("config loads");
        assert_eq!(config.storage, StorageEngine::Redb);
        assert_eq!(config.data_dir, PathBuf::from("data/east"));
        let f = file("storage = \"sled\"\ndata_dir = \"/srv/grains\"\n");
        let config = SiloConfig::load(Flags {
            config: Some(f.path().to_path_buf()),
            ..Flags::default()
        })
        .expect("config loads");
        assert_eq!(config.storage, StorageEngine::Sled);
        assert_eq!(config.data_dir, PathBuf::from("/srv/grains"));
    }

    #[test]
    fn unknown_storage_engine_is_named() {
        let error = SiloConfig::load(Flags {
            storage: Some("rocksdb".into()),
            ..Flags::default()
        })
        .expect_err("unknown engine rejected");
        assert_eq!(
            error.to_string(),
            "invalid `storage` \"rocksdb\": expected \"redb\", \"sled\" or \"postgres\""
        );
    }

    #[test]
    fn postgres_storage_needs_a_url_and_keeps_it_out_of_messages() {
        let error = SiloConfig::load(Flags {
            storage: Some("postgres".into()),
            ..Flags::default()
        })
        .expect_err("no URL given");
        assert!(matches!(error, ConfigError::MissingPostgresUrl), "{error}");
        let f = file(
            "storage = \"postgres\"\npostgres_url = \"postgres://u:pw@db/grain\"\npostgres_schema = \"east\"\n",
        );
        let config = SiloConfig::load(Flags {
            config: Some(f.path().to_path_buf()),
            ..Flags::default()
        })
        .expect("config loads");
        assert_eq!(config.storage, StorageEngine::Postgres);
        assert_eq!(config.postgres_schema, "east");
        assert_eq!(config.storage_location(), "postgres://u:***@db/grain");
    }

    #[test]
    fn cluster_settings_come_from_the_file_and_flags() {
        assert!(
            SiloConfig::load(Flags::default())
                .unwrap()
                .cluster
                .is_none()
        );
        let f = file(
            "name = \"east\"\ncluster = \"shop\"\nlisten = \"127.0.0.1:11111\"\nseeds = [\"127.0.0.1:11112\"]\ndead_after = \"2s\"\n",
        );
        let config = SiloConfig::load(Flags {
            config: Some(f.path().to_path_buf()),
            seeds: Some(vec!["127.0.0.1:11113".into(), " 127.0.0.1:11114".into()]),
            ..Flags::default()
        })
        .expect("config loads");
        let cluster = config.cluster.expect("a cluster member");
        assert_eq!(cluster.node_name, "east");
        assert_eq!(cluster.cluster, "shop");
        assert_eq!(cluster.listen, "127.0.0.1:11111".parse().unwrap());
        assert_eq!(cluster.seeds, ["127.0.0.1:11113", "127.0.0.1:11114"]);
        assert_eq!(cluster.dead_after, Duration::from_secs(2));
    }

    #[test]
    fn a_bad_address_is_named() {
        let error = SiloConfig::load(Flags {
            listen: Some("localhost".into()),
            ..Flags::default()
        })
        .expect_err("bad address rejected");
        assert!(
            error
                .to_string()
                .starts_with("invalid `listen` \"localhost\""),
            "{error}"
        );
    }

    #[test]
    fn missing_file_is_named() {
        let error = SiloConfig::load(Flags {
            config: Some("/nonexistent/silo.toml".into()),
            ..Flags::default()
        })
        .expect_err("missing file rejected");
        assert!(
            error.to_string().contains("/nonexistent/silo.toml"),
            "{error}"
        );
    }
}

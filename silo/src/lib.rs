//! The process host around a [`Silo`](grain_runtime::Silo).
//!
//! [`SiloConfig`] gathers the settings from a TOML file, environment variables and command-line
//! flags; [`run`] starts a silo with them, logs, waits for SIGINT or SIGTERM, and shuts the silo
//! down gracefully. The `silo` binary hosts the example grains; an application with its own
//! grains calls [`run`] from its own `main`:
//!
//! ```no_run
//! use clap::Parser as _;
//! # use grain_runtime::prelude::*;
//! # #[grain] #[derive(Default)] struct MyGrain;
//! # #[grain] impl MyGrain { pub async fn ping(&self) {} }
//!
//! #[tokio::main]
//! async fn main() -> anyhow::Result<()> {
//!     let config = silo::SiloConfig::load(silo::Flags::parse())?;
//!     silo::run(config, |builder| builder.register::<MyGrain>()).await
//! }
//! ```

mod admin;
mod config;
mod host;

pub use admin::{copy_to_postgres, mark_lost};
pub use config::{Command, ConfigError, Flags, SiloConfig, StorageEngine};
pub use host::run;

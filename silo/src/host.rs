//! Running a silo as a process: logging, start, signals, graceful shutdown.

use std::io::IsTerminal as _;

use anyhow::Context as _;
use grain_runtime::{Silo, SiloBuilder};
use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;

use crate::config::SiloConfig;

/// Starts a silo with `config` and the grain types `register` adds, runs it until SIGINT or
/// SIGTERM, then shuts it down gracefully (drain, deactivate every grain) and returns.
///
/// # Errors
///
/// When the log filter is invalid, the silo cannot start (see
/// [`SiloError`](grain_runtime::SiloError)), or signal handlers cannot be installed.
pub async fn run(
    config: SiloConfig,
    register: impl FnOnce(SiloBuilder) -> SiloBuilder,
) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&config.log)
        .with_context(|| format!("invalid log filter {:?}", config.log))?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;

    let storage = config.open_storage().await.with_context(|| {
        format!(
            "opening the {} storage of silo {} at {}",
            config.storage,
            config.name,
            config.storage_location()
        )
    })?;
    tracing::info!(silo = %config.name, backend = storage.name(), location = %config.storage_location(), "storage open");
    let silo: Silo = register(config.apply(Silo::builder()).storage(storage))
        .start()
        .await
        .with_context(|| format!("starting silo {}", config.name))?;
    match silo.address() {
        Some(address) => {
            tracing::info!(silo = %config.name, %address, "silo running; SIGINT or SIGTERM stops it")
        }
        None => tracing::info!(silo = %config.name, "silo running; SIGINT or SIGTERM stops it"),
    }

    let signal = tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    };
    tracing::info!(silo = %config.name, signal, "shutting down");
    let report = silo.shutdown().await;
    let stats = silo.stats();
    tracing::info!(
        silo = %config.name,
        took = ?report.took,
        abandoned = report.abandoned,
        passivations = stats.passivations,
        "silo stopped"
    );
    Ok(())
}

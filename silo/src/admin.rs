//! Operator commands: sent from a `silo` invocation to the cluster its settings name.

use std::path::Path;

use anyhow::{Context as _, bail};
use grain_runtime::{Client, ClientConfig, PostgresConfig, Storage, StoreError};

use crate::config::SiloConfig;

/// Marks silo `name` lost in the cluster of `config` (see
/// [`Client::mark_lost`](grain_runtime::Client::mark_lost)), reaching it through the configured
/// seeds and listen address, and prints what was given up.
///
/// # Errors
///
/// When the settings name no cluster, no silo answers, or `name` is not down.
pub async fn mark_lost(config: &SiloConfig, name: &str) -> anyhow::Result<()> {
    let Some(cluster) = &config.cluster else {
        bail!("the settings name no cluster: set `listen` or `seeds` to reach one");
    };
    let mut seeds = cluster.seeds.clone();
    if cluster.listen.port() != 0 {
        seeds.push(cluster.listen.to_string());
    }
    let client = Client::connect_with(ClientConfig::new(seeds).cluster(&cluster.cluster))
        .await
        .with_context(|| format!("reaching cluster {}", cluster.cluster))?;
    let marked = client.mark_lost(name).await?;
    if marked.is_empty() {
        bail!(
            "silo {name} is not down in the view of cluster {}: nothing was given up",
            cluster.cluster
        );
    }
    for incarnation in marked {
        println!("marked {incarnation} lost: the state it held is given up");
    }
    Ok(())
}

/// Opens an embedded store in a data directory.
type Opener = fn(&Path) -> Result<Storage, StoreError>;

/// Copies the grain state of the `from` engine (`redb` or `sled`) in the data directory of
/// `config` into its PostgreSQL database (see
/// [`copy_to_postgres`](grain_runtime::copy_to_postgres)) and prints what was copied.
///
/// # Errors
///
/// When the settings name no PostgreSQL URL, `from` is no embedded engine, the data directory
/// holds no store of that engine, either store cannot be opened, or the database holds a
/// different history for a grain.
pub async fn copy_to_postgres(config: &SiloConfig, from: &str) -> anyhow::Result<()> {
    let Some(url) = &config.postgres_url else {
        bail!("set `postgres_url` (or SILO_POSTGRES_URL) to the database to copy into");
    };
    let dir = &config.data_dir;
    let (engine, file, open): (_, _, Opener) = match from.trim() {
        "redb" => ("redb", "grains.redb", |dir| Storage::redb(dir)),
        "sled" => ("sled", "conf", |dir| Storage::sled(dir)),
        other => bail!("invalid --from {other:?}: expected \"redb\" or \"sled\""),
    };
    if !dir.join(file).is_file() {
        bail!(
            "no {engine} store in {}: it holds no `{file}`; check --data-dir and --from",
            dir.display()
        );
    }
    let source =
        open(dir).with_context(|| format!("opening the {engine} store in {}", dir.display()))?;
    let target = PostgresConfig::new(url.clone())
        .schema(&config.postgres_schema)
        .application_name(&config.name);
    let shown = target.redacted_url();
    let report = grain_runtime::copy_to_postgres(&source, target)
        .await
        .with_context(|| format!("copying {} into {shown}", dir.display()))?;
    println!(
        "copied {} grains ({} events, {} snapshots) from {} into {shown}, schema {}; {} were there already",
        report.copied,
        report.events,
        report.snapshots,
        dir.display(),
        config.postgres_schema,
        report.already_there
    );
    Ok(())
}

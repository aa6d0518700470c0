//! Operator commands: sent from a `silo` invocation to the cluster its settings name.

use anyhow::{Context as _, bail};
use grain_runtime::{Client, ClientConfig};

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

//! The `silo` binary: hosts the example grains until SIGINT or SIGTERM, or runs an operator
//! command against a cluster.
//!
//! Run with `cargo run -p silo -- --config silo.toml`; `--help` lists every setting.

use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = silo::Flags::parse();
    let command = flags.command.clone();
    let config = silo::SiloConfig::load(flags)?;
    match command {
        Some(silo::Command::MarkLost { name }) => silo::mark_lost(&config, &name).await,
        Some(silo::Command::CopyToPostgres { from }) => {
            silo::copy_to_postgres(&config, &from).await
        }
        None => silo::run(config, |builder| builder.register::<ipseity::Namespace>()).await,
    }
}

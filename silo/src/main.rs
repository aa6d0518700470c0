//! The `silo` binary: hosts the example grains until SIGINT or SIGTERM.
//!
//! Run with `cargo run -p silo -- --config silo.toml`; `--help` lists every setting.

use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = silo::SiloConfig::load(silo::Flags::parse())?;
    silo::run(config, |builder| builder.register::<ipseity::Namespace>()).await
}

//! Durable appends, recovery and bytes on disk for the sled and redb stores.
//!
//! Run with `cargo run --release -p grain-benches --bin durability [-- --quick]`.

fn main() -> std::process::ExitCode {
    grain_benches::durability::main()
}

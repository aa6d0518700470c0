//! Compares grain-runtime with tokio, kameo, ractor and actix, and prints the table.
//!
//! Run with `cargo run --release -p grain-benches --bin compare [-- --quick]`.

fn main() -> std::process::ExitCode {
    grain_benches::main()
}

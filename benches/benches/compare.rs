//! `cargo bench -p grain-benches`: the same comparison as the `compare` binary.

fn main() -> std::process::ExitCode {
    grain_benches::main()
}

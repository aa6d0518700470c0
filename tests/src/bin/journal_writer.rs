//! The child process of the crash test `acknowledged_events_survive_kill`: appends to the store
//! until it is killed, printing one line per acknowledged append (see
//! `grain_tests::journal_writer`).
//!
//! Run with `journal_writer <sled|redb> <dir>`.

use std::path::Path;
use std::process::ExitCode;

use grain_tests::journal_writer;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [backend, dir] = args.as_slice() else {
        eprintln!("usage: journal_writer <sled|redb> <dir>");
        return ExitCode::from(2);
    };
    let storage = match journal_writer::open(backend, Path::new(dir)) {
        Ok(storage) => storage,
        Err(error) => {
            eprintln!("journal_writer: {error}");
            return ExitCode::FAILURE;
        }
    };
    let Err(error) = journal_writer::run(storage).await;
    eprintln!("journal_writer: {error}");
    ExitCode::FAILURE
}

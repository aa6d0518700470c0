//! The `silo` binary as a process: it starts from a config file, and SIGTERM stops it with exit 0.
//! Every run keeps its grain state in a temporary data directory.

mod support;

use support::wait_for;

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::sync::mpsc;

fn start_silo(
    config: &str,
    data_dir: &std::path::Path,
) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut file = tempfile::NamedTempFile::new().expect("temp config");
    file.write_all(config.as_bytes()).expect("write config");
    let (_, path) = file.keep().expect("keep temp config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_silo"))
        .arg("--config")
        .arg(&path)
        .env_remove("SILO_LOG")
        .env("SILO_DATA_DIR", data_dir)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn silo");
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
        let _ = std::fs::remove_file(path);
    });
    (child, rx)
}

#[test]
fn sigterm_shuts_down_gracefully_with_exit_zero() {
    let data = tempfile::tempdir().expect("temp data dir");
    let (mut child, lines) = start_silo("name = \"test-silo\"\nlog = \"info\"\n", data.path());
    wait_for(&lines, "silo running");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let stopped = wait_for(&lines, "silo stopped");
    assert!(stopped.contains("test-silo"), "{stopped}");
    assert!(stopped.contains("abandoned=0"), "{stopped}");
    let exit = child.wait().expect("wait for silo");
    assert!(exit.success(), "silo exited with {exit}");
}

#[test]
fn bad_config_fails_with_a_message_naming_the_key() {
    let mut file = tempfile::NamedTempFile::new().expect("temp config");
    file.write_all(b"mailbox_capacity = \"lots\"\n")
        .expect("write config");
    let data = tempfile::tempdir().expect("temp data dir");
    let output = Command::new(env!("CARGO_BIN_EXE_silo"))
        .arg("--config")
        .arg(file.path())
        .env("SILO_DATA_DIR", data.path())
        .output()
        .expect("run silo");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("mailbox_capacity"), "{stderr}");
}

#[test]
fn zero_capacity_is_rejected_at_start() {
    let data = tempfile::tempdir().expect("temp data dir");
    let output = Command::new(env!("CARGO_BIN_EXE_silo"))
        .args(["--mailbox-capacity", "0"])
        .env("SILO_DATA_DIR", data.path())
        .output()
        .expect("run silo");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid silo setting `mailbox_capacity`"),
        "{stderr}"
    );
}

#[test]
fn a_data_dir_in_use_is_refused_with_its_path() {
    let data = tempfile::tempdir().expect("temp data dir");
    let (mut first, lines) = start_silo("name = \"first\"\n", data.path());
    wait_for(&lines, "silo running");
    let output = Command::new(env!("CARGO_BIN_EXE_silo"))
        .args(["--name", "second"])
        .env("SILO_DATA_DIR", data.path())
        .output()
        .expect("run second silo");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("opening the redb storage of silo second"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&data.path().display().to_string()),
        "{stderr}"
    );
    first.kill().expect("kill first silo");
    first.wait().expect("wait for first silo");
}

#[test]
fn an_unknown_storage_engine_is_refused() {
    let data = tempfile::tempdir().expect("temp data dir");
    let output = Command::new(env!("CARGO_BIN_EXE_silo"))
        .args(["--storage", "rocksdb"])
        .env("SILO_DATA_DIR", data.path())
        .output()
        .expect("run silo");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid `storage` \"rocksdb\""), "{stderr}");
}

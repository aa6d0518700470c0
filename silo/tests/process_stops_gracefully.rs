//! The `silo` binary as a process: it starts from a config file, and SIGTERM stops it with exit 0.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn start_silo(config: &str) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut file = tempfile::NamedTempFile::new().expect("temp config");
    file.write_all(config.as_bytes()).expect("write config");
    let (_, path) = file.keep().expect("keep temp config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_silo"))
        .arg("--config")
        .arg(&path)
        .env_remove("SILO_LOG")
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

fn wait_for(lines: &mpsc::Receiver<String>, needle: &str) -> String {
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no log line containing {needle:?}"));
        if line.contains(needle) {
            return line;
        }
    }
}

#[test]
fn sigterm_shuts_down_gracefully_with_exit_zero() {
    let (mut child, lines) = start_silo("name = \"test-silo\"\nlog = \"info\"\n");
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
    let output = Command::new(env!("CARGO_BIN_EXE_silo"))
        .arg("--config")
        .arg(file.path())
        .output()
        .expect("run silo");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("mailbox_capacity"), "{stderr}");
}

#[test]
fn zero_capacity_is_rejected_at_start() {
    let output = Command::new(env!("CARGO_BIN_EXE_silo"))
        .args(["--mailbox-capacity", "0"])
        .output()
        .expect("run silo");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid silo setting `mailbox_capacity`"),
        "{stderr}"
    );
}

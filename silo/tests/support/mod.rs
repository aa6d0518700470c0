//! What the process tests share.

use std::sync::mpsc;
use std::time::Duration;

/// The first line from `lines` that contains `needle`; panics after 30 s without one.
pub(crate) fn wait_for(lines: &mpsc::Receiver<String>, needle: &str) -> String {
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no log line containing {needle:?}"));
        if line.contains(needle) {
            return line;
        }
    }
}

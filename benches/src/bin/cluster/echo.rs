//! The grain every measurement calls, registered by the parent's silos and by every silo child
//! (the same binary, so the same kind name).

use std::sync::OnceLock;

use grain_runtime::prelude::*;

/// The name of the silo this process hosts, set once by a silo child; empty in the parent.
static HOST: OnceLock<String> = OnceLock::new();

/// Records the name of the silo this process hosts, for [`Echo::host`].
pub(crate) fn set_host(name: &str) {
    let _ = HOST.set(name.to_string());
}

/// Answers pings and counts them.
#[grain]
#[derive(Default)]
pub(crate) struct Echo {
    n: u64,
}

#[grain]
impl Echo {
    /// Counts the call and returns `x`.
    pub(crate) async fn ping(&mut self, x: u64) -> u64 {
        self.n += 1;
        x
    }

    /// The name of the silo process this activation runs in (empty in the parent process):
    /// shows where a call actually ran.
    pub(crate) async fn host(&self) -> String {
        HOST.get().cloned().unwrap_or_default()
    }
}

//! [`Visits`]: the volatile grain of the cluster tests that count where calls ran.

use grain_runtime::prelude::*;

/// Counts the calls its activation got; a new activation starts from zero.
#[grain]
#[derive(Default)]
pub struct Visits {
    count: u64,
}

#[grain]
impl Visits {
    /// Counts a visit; returns the count.
    pub async fn visit(&mut self) -> u64 {
        self.count += 1;
        self.count
    }
}

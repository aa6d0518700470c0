use grain_runtime::prelude::*;

#[grain]
#[derive(Default)]
pub struct Counter;

#[grain(idle_timeout = "30s", reentrant)]
impl Counter {
    pub async fn get(&self) -> u64 {
        0
    }
}

fn main() {}

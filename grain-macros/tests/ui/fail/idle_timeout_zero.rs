use grain_runtime::prelude::*;

#[grain(idle_timeout = "0s")]
#[derive(Default)]
pub struct Counter;

#[grain]
impl Counter {
    pub async fn get(&self) -> u64 {
        0
    }
}

fn main() {}

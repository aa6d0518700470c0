use grain_runtime::prelude::*;

#[derive(Default)]
pub struct Counter {
    value: u64,
}

#[grain]
impl Counter {
    pub async fn add(&mut self, n: u64) -> u64 {
        self.value += n;
        self.value
    }

    pub async fn get(&self) -> u64 {
        self.value
    }
}

fn main() {}

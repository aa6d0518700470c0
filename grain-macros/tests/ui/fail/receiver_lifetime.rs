use grain_runtime::prelude::*;

#[grain]
#[derive(Default)]
pub struct Counter {
    value: u64,
}

#[grain]
impl Counter {
    pub async fn get(&'static self) -> u64 {
        self.value
    }
}

fn main() {}

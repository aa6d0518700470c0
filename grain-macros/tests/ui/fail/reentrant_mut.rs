use grain_runtime::prelude::*;

#[grain]
#[derive(Default)]
pub struct Counter {
    value: u64,
}

#[grain]
impl Counter {
    #[reentrant]
    pub async fn add(&mut self, n: u64) -> u64 {
        self.value += n;
        self.value
    }
}

fn main() {}

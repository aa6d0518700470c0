use grain_runtime::prelude::*;

#[grain]
#[derive(Default)]
pub struct Counter {
    value: u64,
}

#[grain]
impl Counter {
    #[reentrant]
    pub async fn zero() -> u64 {
        0
    }
}

fn main() {}

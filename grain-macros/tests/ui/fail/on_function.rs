use grain_runtime::prelude::*;

#[grain]
pub async fn counter(n: u64) -> u64 {
    n
}

fn main() {
    let _ = counter(1);
}

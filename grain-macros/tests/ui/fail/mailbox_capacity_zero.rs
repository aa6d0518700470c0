use grain_runtime::prelude::*;

#[grain(mailbox_capacity = 0)]
#[derive(Default)]
pub struct Counter;

#[grain]
impl Counter {
    pub async fn get(&self) -> u64 {
        0
    }
}

fn main() {}

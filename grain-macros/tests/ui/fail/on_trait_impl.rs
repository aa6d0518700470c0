use grain_runtime::prelude::*;

#[grain]
#[derive(Default)]
pub struct Counter {
    value: u64,
}

pub trait Get {
    fn get(&self) -> u64;
}

#[grain]
impl Get for Counter {
    fn get(&self) -> u64 {
        self.value
    }
}

fn main() {}

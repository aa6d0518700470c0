use grain_runtime::prelude::*;

#[grain]
#[derive(Default)]
pub struct Cache<T> {
    items: Vec<T>,
}

fn main() {}

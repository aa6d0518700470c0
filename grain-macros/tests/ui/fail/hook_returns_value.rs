use grain_runtime::prelude::*;

#[grain]
#[derive(Default)]
pub struct Counter;

#[grain]
impl Counter {
    async fn on_activate(&mut self) -> bool {
        true
    }
}

fn main() {}

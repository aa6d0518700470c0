use grain_runtime::prelude::*;

#[grain]
#[derive(Default)]
pub struct Counter {
    value: u64,
}

#[grain]
impl Counter {
    fn on_deactivate(&mut self) {
        self.value = 0;
    }
}

fn main() {}

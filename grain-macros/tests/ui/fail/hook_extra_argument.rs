use grain_runtime::prelude::*;

#[grain]
#[derive(Default)]
pub struct Counter {
    value: u64,
}

#[grain]
impl Counter {
    async fn on_activate(&mut self, ctx: &GrainContext<Self>, start: u64) {
        let _ = ctx;
        self.value = start;
    }
}

fn main() {}

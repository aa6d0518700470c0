use grain_runtime::prelude::*;

#[grain]
#[derive(Default)]
pub struct Counter;

#[grain]
impl Counter {
    pub async fn name(&self, ctx: GrainContext<Self>) -> String {
        ctx.id().to_string()
    }
}

fn main() {}

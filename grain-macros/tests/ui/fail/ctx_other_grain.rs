use grain_runtime::prelude::*;

#[grain]
#[derive(Default)]
pub struct Other;

#[grain]
impl Other {}

#[grain]
#[derive(Default)]
pub struct Counter;

#[grain]
impl Counter {
    pub async fn name(&self, ctx: &GrainContext<Other>) -> String {
        ctx.id().to_string()
    }
}

fn main() {}

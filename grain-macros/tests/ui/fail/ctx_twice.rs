use grain_runtime::prelude::*;

#[grain]
#[derive(Default)]
pub struct Counter;

#[grain]
impl Counter {
    pub async fn get(&self, ctx: &GrainContext<Self>, again: &GrainContext<Self>) -> String {
        let _ = again;
        ctx.id().to_string()
    }
}

fn main() {}

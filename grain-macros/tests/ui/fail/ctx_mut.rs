use grain_runtime::prelude::*;

#[grain]
#[derive(Default)]
pub struct Counter;

#[grain]
impl Counter {
    pub async fn get(&self, ctx: &mut GrainContext<Self>) -> String {
        ctx.id().to_string()
    }
}

fn main() {}

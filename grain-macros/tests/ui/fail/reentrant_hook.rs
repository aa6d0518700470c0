use grain_runtime::prelude::*;

#[grain]
#[derive(Default)]
pub struct Counter;

#[grain]
impl Counter {
    #[reentrant]
    async fn on_activate(&mut self) {}
}

fn main() {}

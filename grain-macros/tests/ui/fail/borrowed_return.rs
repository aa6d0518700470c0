use grain_runtime::prelude::*;

#[grain]
#[derive(Default)]
pub struct Greeter {
    name: String,
}

#[grain]
impl Greeter {
    pub async fn name(&self) -> &String {
        &self.name
    }
}

fn main() {}

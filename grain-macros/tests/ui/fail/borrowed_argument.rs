use grain_runtime::prelude::*;

#[grain]
#[derive(Default)]
pub struct Greeter;

#[grain]
impl Greeter {
    pub async fn greet(&self, name: &str) -> String {
        format!("hello {name}")
    }
}

fn main() {}

use grain_runtime::prelude::*;

#[grain(persistent)]
#[derive(Default)]
pub struct Profile {
    name: String,
}

#[grain]
impl Profile {
    pub async fn name(&self) -> String {
        self.name.clone()
    }
}

fn main() {}

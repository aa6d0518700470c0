use grain_runtime::prelude::*;
use serde::{Deserialize, Serialize};

#[grain(journaled, persistent)]
#[derive(Default, Serialize, Deserialize)]
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

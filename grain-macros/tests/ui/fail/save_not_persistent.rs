use grain_runtime::prelude::*;
use serde::{Deserialize, Serialize};

#[grain]
#[derive(Default, Serialize, Deserialize)]
pub struct Profile {
    name: String,
}

#[grain]
impl Profile {
    pub async fn rename(
        &mut self,
        ctx: &GrainContext<Self>,
        name: String,
    ) -> Result<u64, PersistError> {
        self.name = name;
        ctx.save(self).await
    }
}

fn main() {}

use grain_runtime::prelude::*;

pub struct Secret(u64);

#[grain]
#[derive(Default)]
pub struct Vault;

#[grain]
impl Vault {
    pub async fn reveal(&self) -> Secret {
        Secret(42)
    }
}

fn main() {}

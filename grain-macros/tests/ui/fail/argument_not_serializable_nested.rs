use grain_runtime::prelude::*;

pub struct Secret(u64);

#[grain]
#[derive(Default)]
pub struct Vault;

#[grain]
impl Vault {
    pub async fn store_all(&mut self, secrets: Vec<Secret>) -> usize {
        secrets.len()
    }
}

fn main() {}

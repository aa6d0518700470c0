use grain_runtime::prelude::*;

pub struct Secret(u64);

#[grain]
#[derive(Default)]
pub struct Vault;

#[grain]
impl Vault {
    pub async fn store(&mut self, secret: Secret) {
        let _ = secret.0;
    }
}

fn main() {}

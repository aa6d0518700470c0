use grain_runtime::prelude::*;

#[grain]
#[derive(Default)]
pub struct Store;

#[grain]
impl Store {
    pub async fn put<T: serde::Serialize>(&mut self, value: T) -> bool {
        let _ = value;
        true
    }
}

fn main() {}

use grain_runtime::prelude::*;

#[derive(Default)]
pub struct Cache<T> {
    items: Vec<T>,
}

#[grain]
impl<T: Send + 'static> Cache<T> {
    pub async fn len(&self) -> usize {
        self.items.len()
    }
}

fn main() {}

use grain_runtime::prelude::*;

#[grain]
#[derive(Default)]
pub struct Mailer;

#[grain]
impl Mailer {
    pub async fn tell(&self, text: String) -> usize {
        text.len()
    }
}

fn main() {}

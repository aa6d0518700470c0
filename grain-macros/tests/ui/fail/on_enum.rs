use grain_runtime::prelude::*;

#[grain]
#[derive(Default)]
pub enum Light {
    #[default]
    Off,
    On,
}

fn main() {
    let _ = Light::default();
}

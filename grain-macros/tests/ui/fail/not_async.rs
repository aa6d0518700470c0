use grain_runtime::prelude::*;

#[grain]
#[derive(Default)]
pub struct Counter {
    value: u64,
}

#[grain]
impl Counter {
    pub fn add(&mut self, n: u64) -> u64 {
        self.value += n;
        self.value
    }

    pub async fn get(&self, ctx: &GrainContext<Self>) -> u64 {
        let _ = ctx.id();
        self.value
    }
}

// The rest of the grain still works: the mistake above is the only error.
async fn get(silo: &Silo) -> Result<u64, CallError> {
    silo.grain::<Counter>("c").get().await
}

fn main() {
    let _ = get;
}

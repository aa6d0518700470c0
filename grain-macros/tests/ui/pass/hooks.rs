// Lifecycle hooks with and without `ctx`, on `&mut self` and `&self`, and a grain with no methods.
use grain_runtime::prelude::*;

#[grain]
#[derive(Default)]
pub struct WithCtx {
    activations: u32,
}

#[grain]
impl WithCtx {
    async fn on_activate(&mut self, ctx: &GrainContext<Self>) {
        let _ = ctx.id();
        self.activations += 1;
    }

    async fn on_deactivate(&mut self, ctx: &GrainContext<Self>) {
        let _ = ctx.id();
    }

    pub async fn activations(&self) -> u32 {
        self.activations
    }
}

#[grain]
#[derive(Default)]
pub struct WithoutCtx {
    activations: u32,
}

#[grain]
impl WithoutCtx {
    pub async fn on_activate(&mut self) {
        self.activations += 1;
    }

    async fn on_deactivate(&self) {}
}

#[grain]
#[derive(Default)]
pub struct OnlyDeactivate;

#[grain]
impl OnlyDeactivate {
    async fn on_deactivate(&mut self) {}
}

/// A grain with no grain methods at all.
#[grain]
#[derive(Default)]
pub struct Quiet;

#[grain]
impl Quiet {
    fn helper(&self) -> u8 {
        0
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let silo = Silo::builder()
        .register::<WithCtx>()
        .register::<WithoutCtx>()
        .register::<OnlyDeactivate>()
        .register::<Quiet>()
        .start()
        .await?;
    assert_eq!(silo.grain::<WithCtx>("a").activations().await?, 1);
    let _ = silo.grain::<Quiet>("q");
    let _ = Quiet.helper();
    silo.shutdown().await;
    Ok(())
}

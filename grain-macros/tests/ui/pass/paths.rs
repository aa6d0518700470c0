// The struct and its impl block in different modules, the impl naming the type by path.
use grain_runtime::prelude::*;

mod state {
    use grain_runtime::prelude::*;

    #[grain(kind = "paths.Counter")]
    #[derive(Default)]
    pub struct Counter {
        pub(crate) value: u64,
    }
}

mod behavior {
    use grain_runtime::prelude::*;

    #[grain]
    impl crate::state::Counter {
        pub async fn add(&mut self, n: u64) -> u64 {
            self.value += n;
            self.value
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let silo = Silo::builder().register::<state::Counter>().start().await?;
    let counter: VirtualActorRef<state::Counter> = silo.grain("c");
    assert_eq!(counter.add(2).await?, 2);
    let _: &behavior::CounterRef = &counter;
    silo.shutdown().await;
    Ok(())
}

// Grain methods: `&self` and `&mut self`, `#[reentrant]`, unit returns, several arguments,
// `ctx` in any position, and private helpers and associated functions left alone.
use grain_runtime::prelude::*;

#[grain]
#[derive(Default)]
pub struct Counter {
    value: u64,
    log: Vec<String>,
}

#[grain]
impl Counter {
    /// Adds `n` and returns the new value.
    pub async fn add(&mut self, n: u64) -> u64 {
        self.bump(n);
        self.value
    }

    #[reentrant]
    pub async fn get(&self) -> u64 {
        self.value
    }

    /// Returns nothing.
    pub async fn reset(&mut self) {
        self.value = 0;
    }

    pub async fn record(
        &mut self,
        line: String,
        times: usize,
        tags: Vec<(String, u8)>,
    ) -> Option<usize> {
        for _ in 0..times {
            self.log.push(line.clone());
        }
        Some(self.log.len() + tags.len())
    }

    pub async fn ctx_only(&self, ctx: &GrainContext<Self>) -> String {
        ctx.id().to_string()
    }

    pub async fn ctx_first(&mut self, ctx: &GrainContext<Self>, n: u64) -> String {
        self.value += n;
        ctx.id().to_string()
    }

    #[reentrant]
    pub async fn ctx_middle(&self, a: u64, ctx: &GrainContext<Counter>, b: String) -> String {
        format!("{a} {b} {}", ctx.id())
    }

    pub async fn ctx_last(&self, a: u64, ctx: &grain_runtime::GrainContext<Self>) -> u64 {
        let _ = ctx.id();
        a
    }

    pub async fn fails(&self, fail: bool) -> Result<u64, String> {
        if fail {
            Err("no".to_owned())
        } else {
            Ok(self.value)
        }
    }

    pub(crate) async fn crate_visible(&self) -> u64 {
        self.value
    }

    /// A private helper: not a grain method, may be sync and take borrows.
    fn bump(&mut self, n: u64) {
        self.value += n;
    }

    /// A private async helper taking a borrow.
    async fn helper(&self, _text: &str) -> &u64 {
        &self.value
    }

    /// An associated function: not a grain method.
    pub fn new(value: u64) -> Self {
        Self {
            value,
            log: Vec::new(),
        }
    }

    /// An associated async function that borrows.
    pub async fn describe(text: &str) -> usize {
        text.len()
    }

    pub const ZERO: u64 = 0;
}

async fn use_refs(
    counter: &VirtualActorRef<Counter>,
    ctx: &GrainContext<Counter>,
) -> Result<(), CallError> {
    let _: u64 = counter.add(1).await?;
    let _: u64 = counter.get().await?;
    let _: () = counter.reset().await?;
    let _: Option<usize> = counter
        .record("x".to_owned(), 2, vec![("t".to_owned(), 1)])
        .await?;
    let _: String = counter.ctx_only().await?;
    let _: String = counter.ctx_first(3).await?;
    let _: String = counter.ctx_middle(1, "b".to_owned()).await?;
    let _: u64 = counter.ctx_last(4).await?;
    let _: Result<u64, String> = counter.fails(false).await?;
    let _: u64 = counter
        .crate_visible()
        .timeout(std::time::Duration::from_secs(1))
        .await?;
    counter.tell().add(1)?;
    counter.tell().reset()?;
    counter.tell().ctx_middle(1, String::new())?;
    let _ = Counter::new(1).helper("x").await;
    let _ = Counter::describe("x").await;
    let _ = Counter::ZERO;
    let _ = ctx;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let silo = Silo::builder().register::<Counter>().start().await?;
    let counter = silo.grain::<Counter>("c");
    assert_eq!(counter.add(2).await?, 2);
    assert_eq!(
        counter.ctx_middle(1, "b".to_owned()).await?,
        "1 b Counter/\"c\""
    );
    let _ = use_refs;
    silo.shutdown().await;
    Ok(())
}

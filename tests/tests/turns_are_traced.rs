//! Every turn runs in a tracing span named `turn` with the fields `grain`, `method` and
//! `correlation_id`; calls a turn makes carry its correlation id, so one request can be followed
//! across grains.
//!
//! The tests install a capturing subscriber as the thread's default and run on a current-thread
//! runtime, so every turn (spawned on that same thread) is recorded.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use grain_runtime::prelude::*;
use grain_tests::{eventually, silo};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::{Layer, registry::Registry};

/// One span as it was opened: its name and the fields it was given.
#[derive(Debug, Clone)]
struct Captured {
    name: &'static str,
    fields: BTreeMap<String, String>,
}

impl Captured {
    fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or_else(
            || panic!("span {self:?} has no field {name}"),
            String::as_str,
        )
    }
}

/// Records every new span.
#[derive(Clone, Default)]
struct CaptureLayer {
    spans: Arc<Mutex<Vec<Captured>>>,
}

impl CaptureLayer {
    /// The `turn` spans of method calls, in the order they were opened. Lifecycle hooks run in
    /// `turn` spans too; they are left out here, since no caller's message starts them.
    fn turns(&self) -> Vec<Captured> {
        self.spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|span| span.name == "turn")
            .filter(|span| !matches!(span.field("method"), "on_activate" | "on_deactivate"))
            .cloned()
            .collect()
    }
}

struct FieldText<'a>(&'a mut BTreeMap<String, String>);

impl Visit for FieldText<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl<S: tracing::Subscriber> Layer<S> for CaptureLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut FieldText(&mut fields));
        self.spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Captured {
                name: attrs.metadata().name(),
                fields,
            });
    }
}

/// Installs a capturing subscriber on this thread until the guard drops.
fn capture() -> (CaptureLayer, tracing::subscriber::DefaultGuard) {
    let layer = CaptureLayer::default();
    let subscriber = Registry::default().with(layer.clone());
    (layer, tracing::subscriber::set_default(subscriber))
}

/// Forwards calls to `Back`.
#[grain]
#[derive(Default)]
pub struct Front;

#[grain]
impl Front {
    /// Asks `Back/"b".handle`.
    pub async fn forward(&self, ctx: &GrainContext<Self>) -> u64 {
        ctx.grain::<Back>("b").handle().await.unwrap()
    }

    /// Tells `Back/"b".handle`.
    pub async fn notify(&self, ctx: &GrainContext<Self>) {
        ctx.grain::<Back>("b").tell().handle().unwrap();
    }
}

/// The end of the chain.
#[grain]
#[derive(Default)]
pub struct Back {
    handled: u64,
}

#[grain]
impl Back {
    /// Counts one call.
    pub async fn handle(&mut self) -> u64 {
        self.handled += 1;
        self.handled
    }

    /// A reentrant read.
    #[reentrant]
    pub async fn peek(&self) -> u64 {
        self.handled
    }
}

async fn start() -> Silo {
    silo()
        .register::<Front>()
        .register::<Back>()
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn each_turn_has_a_span_with_grain_method_and_correlation_id() {
    let (layer, _guard) = capture();
    let silo = start().await;
    let back = silo.grain::<Back>("b");
    back.handle().await.unwrap();
    back.tell().handle().unwrap();
    assert_eq!(back.peek().await, Ok(2));

    let turns = layer.turns();
    assert_eq!(turns.len(), 3, "{turns:?}");
    for turn in &turns {
        assert_eq!(turn.field("grain"), "Back/\"b\"");
    }
    let methods: Vec<_> = turns.iter().map(|t| t.field("method")).collect();
    assert_eq!(methods, ["handle", "handle", "peek"]);
    let ids: Vec<u64> = turns
        .iter()
        .map(|t| t.field("correlation_id").parse().unwrap())
        .collect();
    assert!(
        ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2],
        "separate calls from outside share a correlation id: {ids:?}"
    );
}

#[tokio::test]
async fn an_ask_made_inside_a_turn_carries_its_correlation_id() {
    let (layer, _guard) = capture();
    let silo = start().await;
    let front = silo.grain::<Front>("f");
    assert_eq!(front.forward().await, Ok(1));
    assert_eq!(front.forward().await, Ok(2));

    let turns = layer.turns();
    let described: Vec<_> = turns
        .iter()
        .map(|t| format!("{}.{}", t.field("grain"), t.field("method")))
        .collect();
    assert_eq!(
        described,
        [
            "Front/\"f\".forward",
            "Back/\"b\".handle",
            "Front/\"f\".forward",
            "Back/\"b\".handle"
        ]
    );
    let id = |i: usize| turns[i].field("correlation_id").to_string();
    assert_eq!(id(0), id(1), "the inner ask has the outer turn's id");
    assert_eq!(id(2), id(3), "the inner ask has the outer turn's id");
    assert_ne!(id(0), id(2), "two requests share a correlation id");
}

#[tokio::test]
async fn a_tell_made_inside_a_turn_carries_its_correlation_id() {
    let (layer, _guard) = capture();
    let silo = start().await;
    let front = silo.grain::<Front>("f");
    front.notify().await.unwrap();
    eventually("the told turn", || layer.turns().len() == 2).await;

    let turns = layer.turns();
    assert_eq!(turns[1].field("method"), "handle");
    assert_eq!(
        turns[0].field("correlation_id"),
        turns[1].field("correlation_id")
    );
}

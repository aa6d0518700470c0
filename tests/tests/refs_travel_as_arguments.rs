//! A `VirtualActorRef` is a value: grain methods take and return refs, keep them in their state
//! and call them later; `ctx.this()` and `ctx.grain::<Other>(key)` make refs inside a turn, and a
//! serialized ref carries only its key, resolved against the silo of the turn that reads it, or
//! against the silo or client that decodes the call or reply carrying it across the network.

use grain_runtime::ClientConfig;
use grain_runtime::prelude::*;
use grain_runtime::testing::TestCluster;
use grain_tests::{eventually_async, silo};

/// Collects the messages delivered to it.
#[grain]
#[derive(Default)]
pub struct Inbox {
    messages: Vec<String>,
}

#[grain]
impl Inbox {
    /// Stores `text`; returns how many messages there are.
    pub async fn deliver(&mut self, text: String) -> usize {
        self.messages.push(text);
        self.messages.len()
    }

    /// Every message so far.
    pub async fn messages(&self) -> Vec<String> {
        self.messages.clone()
    }
}

/// Sends to the inboxes it is handed, or looks them up.
#[grain]
#[derive(Default)]
pub struct Mailer;

#[grain]
impl Mailer {
    /// Asks `inbox` to store `text`.
    pub async fn send_to(&self, inbox: VirtualActorRef<Inbox>, text: String) -> usize {
        inbox.deliver(text).await.unwrap()
    }

    /// Tells every inbox to store `text`.
    pub async fn broadcast(&self, inboxes: Vec<VirtualActorRef<Inbox>>, text: String) {
        for inbox in inboxes {
            inbox.tell().deliver(text.clone()).unwrap();
        }
    }

    /// A ref to the inbox called `name`, made inside the turn.
    pub async fn lookup(&self, ctx: &GrainContext<Self>, name: String) -> VirtualActorRef<Inbox> {
        ctx.grain::<Inbox>(name)
    }

    /// Reads a ref from its serialized form and asks it to store `text`.
    pub async fn send_to_serialized(&self, inbox: Vec<u8>, text: String) -> usize {
        let (inbox, _): (VirtualActorRef<Inbox>, usize) =
            bincode::serde::decode_from_slice(&inbox, bincode::config::standard()).unwrap();
        inbox.deliver(text).await.unwrap()
    }
}

/// Publishes to the subscribers it has stored.
#[grain]
#[derive(Default)]
pub struct Topic {
    subscribers: Vec<VirtualActorRef<Subscriber>>,
}

#[grain]
impl Topic {
    /// Stores a subscriber.
    pub async fn subscribe(&mut self, subscriber: VirtualActorRef<Subscriber>) {
        self.subscribers.push(subscriber);
    }

    /// Tells every stored subscriber about `event`.
    pub async fn publish(&self, event: String) {
        for subscriber in &self.subscribers {
            subscriber.tell().notify(event.clone()).unwrap();
        }
    }
}

/// Subscribes itself to a topic.
#[grain]
#[derive(Default)]
pub struct Subscriber {
    seen: Vec<String>,
}

#[grain]
impl Subscriber {
    /// Hands `ctx.this()` to the topic.
    pub async fn join(&self, ctx: &GrainContext<Self>, topic: String) {
        ctx.grain::<Topic>(topic)
            .subscribe(ctx.this())
            .await
            .unwrap();
    }

    /// Stores an event.
    pub async fn notify(&mut self, event: String) {
        self.seen.push(event);
    }

    /// The events seen.
    pub async fn seen(&self) -> Vec<String> {
        self.seen.clone()
    }
}

async fn start() -> Silo {
    silo()
        .register::<Inbox>()
        .register::<Mailer>()
        .register::<Topic>()
        .register::<Subscriber>()
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_method_takes_a_ref_and_calls_it() {
    let silo = start().await;
    let inbox = silo.grain::<Inbox>("ann");
    let mailer = silo.grain::<Mailer>("m");
    assert_eq!(mailer.send_to(inbox.clone(), "hello".into()).await, Ok(1));
    assert_eq!(mailer.send_to(inbox.clone(), "again".into()).await, Ok(2));
    assert_eq!(inbox.messages().await.unwrap(), ["hello", "again"]);
}

#[tokio::test]
async fn a_method_takes_many_refs() {
    let silo = start().await;
    let inboxes: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|name| silo.grain::<Inbox>(name))
        .collect();
    silo.grain::<Mailer>("m")
        .broadcast(inboxes.clone(), "news".into())
        .await
        .unwrap();
    for inbox in &inboxes {
        eventually_async("the broadcast to arrive", || async {
            inbox.messages().await.unwrap() == ["news"]
        })
        .await;
    }
}

#[tokio::test]
async fn a_method_returns_a_ref_made_with_ctx_grain() {
    let silo = start().await;
    let found = silo
        .grain::<Mailer>("m")
        .lookup("bob".into())
        .await
        .unwrap();
    assert_eq!(found, silo.grain::<Inbox>("bob"));
    assert_eq!(found.deliver("direct".into()).await, Ok(1));
    assert_eq!(
        silo.grain::<Inbox>("bob").messages().await.unwrap(),
        ["direct"]
    );
}

#[tokio::test]
async fn a_grain_hands_out_ctx_this_and_is_called_back_later() {
    let silo = start().await;
    let alice = silo.grain::<Subscriber>("alice");
    let bob = silo.grain::<Subscriber>("bob");
    alice.join("news".into()).await.unwrap();
    bob.join("news".into()).await.unwrap();
    let topic = silo.grain::<Topic>("news");
    topic.publish("first".into()).await.unwrap();
    topic.publish("second".into()).await.unwrap();
    for subscriber in [&alice, &bob] {
        eventually_async("both events to arrive", || async {
            subscriber.seen().await.unwrap() == ["first", "second"]
        })
        .await;
    }
}

#[tokio::test]
async fn a_serialized_ref_is_resolved_inside_a_turn() {
    let silo = start().await;
    let inbox = silo.grain::<Inbox>(7u64);
    let bytes = bincode::serde::encode_to_vec(&inbox, bincode::config::standard()).unwrap();
    let mailer = silo.grain::<Mailer>("m");
    assert_eq!(
        mailer
            .send_to_serialized(bytes.clone(), "wired".into())
            .await,
        Ok(1)
    );
    assert_eq!(inbox.messages().await.unwrap(), ["wired"]);

    // Outside a turn there is no silo to resolve it against.
    let outside = bincode::serde::decode_from_slice::<VirtualActorRef<Inbox>, _>(
        &bytes,
        bincode::config::standard(),
    );
    let error = outside.expect_err("resolved without a silo").to_string();
    assert!(error.contains("inside a grain turn"), "{error}");
}

/// Two clustered silos hosting every kind here, a client of them, and the key of a `Mailer`
/// owned by silo 1 and of an `Inbox` owned by silo 0: calls between them cross the network.
async fn two_silos() -> (TestCluster, Client, u64, String) {
    let cluster = TestCluster::start(2, |_, silo| {
        silo.register::<Inbox>()
            .register::<Mailer>()
            .register::<Topic>()
            .register::<Subscriber>()
    })
    .await
    .unwrap();
    let seed = cluster.silo(0).address().unwrap().to_string();
    let client = Client::connect_with(ClientConfig::new([seed]).cluster(cluster.cluster_name()))
        .await
        .unwrap();
    let owned_by = |index: usize| Some(TestCluster::silo_name(index));
    let mailer = (0u64..)
        .find(|&key| client.owner_of::<Mailer>(key) == owned_by(1))
        .unwrap();
    let inbox = (0u64..)
        .map(|n| format!("inbox-{n}"))
        .find(|name| client.owner_of::<Inbox>(name.as_str()) == owned_by(0))
        .unwrap();
    (cluster, client, mailer, inbox)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ref_passed_to_a_grain_on_another_silo_is_callable_there() {
    let (cluster, client, mailer, inbox) = two_silos().await;
    let here = cluster.silo(0);
    let sent = here
        .grain::<Mailer>(mailer)
        .send_to(here.grain::<Inbox>(inbox.as_str()), "over the wire".into())
        .await;
    assert_eq!(sent, Ok(1));
    let from_client = client
        .grain::<Mailer>(mailer)
        .send_to(
            client.grain::<Inbox>(inbox.as_str()),
            "from a client".into(),
        )
        .await;
    assert_eq!(from_client, Ok(2));
    client
        .grain::<Mailer>(mailer)
        .tell()
        .broadcast(vec![client.grain::<Inbox>(inbox.as_str())], "told".into())
        .unwrap();
    eventually_async("the broadcast to arrive", || async {
        here.grain::<Inbox>(inbox.as_str())
            .messages()
            .await
            .unwrap()
            == ["over the wire", "from a client", "told"]
    })
    .await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ref_returned_from_another_silo_is_callable_by_the_caller() {
    let (cluster, client, mailer, inbox) = two_silos().await;
    let here = cluster.silo(0);
    let found = here
        .grain::<Mailer>(mailer)
        .lookup(inbox.clone())
        .await
        .expect("a reply carrying a ref decodes on the calling silo");
    assert_eq!(found, here.grain::<Inbox>(inbox.as_str()));
    assert_eq!(found.deliver("local owner".into()).await, Ok(1));

    let found = client
        .grain::<Mailer>(mailer)
        .lookup(inbox.clone())
        .await
        .expect("a reply carrying a ref decodes on the client");
    assert_eq!(found.deliver("via the client".into()).await, Ok(2));
    assert_eq!(
        here.grain::<Inbox>(inbox.as_str())
            .messages()
            .await
            .unwrap(),
        ["local owner", "via the client"]
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grain_on_one_silo_stores_refs_from_another_and_calls_them_back() {
    let (cluster, client, _, _) = two_silos().await;
    let owned_by = |index: usize| Some(TestCluster::silo_name(index));
    let topic = (0u64..)
        .map(|n| format!("topic-{n}"))
        .find(|name| client.owner_of::<Topic>(name.as_str()) == owned_by(1))
        .unwrap();
    let subscribers: Vec<String> = (0u64..)
        .map(|n| format!("subscriber-{n}"))
        .filter(|name| client.owner_of::<Subscriber>(name.as_str()) == owned_by(0))
        .take(2)
        .collect();
    for name in &subscribers {
        client
            .grain::<Subscriber>(name.as_str())
            .join(topic.clone())
            .await
            .unwrap();
    }
    client
        .grain::<Topic>(topic.as_str())
        .publish("crossed twice".into())
        .await
        .unwrap();
    for name in &subscribers {
        eventually_async("the event to come back across", || async {
            client
                .grain::<Subscriber>(name.as_str())
                .seen()
                .await
                .unwrap()
                == ["crossed twice"]
        })
        .await;
    }
    cluster.shutdown().await;
}

//! Messages from one sender to one grain are handled in the order they were sent, tells and
//! asks alike, whether the sender is outside the silo or another grain's turn.

use grain_runtime::prelude::*;
use grain_tests::silo;

/// Appends what it is sent.
#[grain]
#[derive(Default)]
pub struct List {
    items: Vec<(u32, u32)>,
}

#[grain]
impl List {
    /// Appends `(sender, seq)`.
    pub async fn push(&mut self, sender: u32, seq: u32) {
        self.items.push((sender, seq));
    }

    /// Appends `(sender, seq)` and returns how many items the list holds.
    pub async fn push_and_count(&mut self, sender: u32, seq: u32) -> usize {
        self.items.push((sender, seq));
        self.items.len()
    }

    /// Every item so far, in the order handled.
    pub async fn items(&self) -> Vec<(u32, u32)> {
        self.items.clone()
    }
}

/// Sends a sequence of messages to a `List` from inside its own turn.
#[grain]
#[derive(Default)]
pub struct Producer;

#[grain]
impl Producer {
    /// Tells `count` pushes to the list, asking for its length every tenth message.
    pub async fn produce(&self, ctx: &GrainContext<Self>, count: u32) -> Vec<(u32, u32)> {
        let list = ctx.grain::<List>("from-grain");
        for seq in 0..count {
            if seq % 10 == 9 {
                let len = list.push_and_count(7, seq).await.unwrap();
                assert_eq!(len, seq as usize + 1);
            } else {
                list.tell().push(7, seq).unwrap();
            }
        }
        list.items().await.unwrap()
    }
}

fn sequence(sender: u32, count: u32) -> Vec<(u32, u32)> {
    (0..count).map(|seq| (sender, seq)).collect()
}

#[tokio::test]
async fn ten_thousand_tells_then_an_ask_are_handled_in_send_order() {
    let silo = silo().register::<List>().start().await.unwrap();
    let list = silo.grain::<List>("l");
    for seq in 0..10_000 {
        list.tell().push(0, seq).unwrap();
    }
    assert_eq!(list.items().await.unwrap(), sequence(0, 10_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asks_and_tells_mixed_keep_their_order() {
    let silo = silo().register::<List>().start().await.unwrap();
    let list = silo.grain::<List>("l");
    for seq in 0..2_000u32 {
        if seq % 100 == 99 {
            let len = list.push_and_count(0, seq).await.unwrap();
            assert_eq!(len, seq as usize + 1, "an ask overtook earlier tells");
        } else {
            list.tell().push(0, seq).unwrap();
        }
    }
    assert_eq!(list.items().await.unwrap(), sequence(0, 2_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_of_many_senders_keeps_its_own_order() {
    let silo = silo().register::<List>().start().await.unwrap();
    let list = silo.grain::<List>("shared");
    let senders = (0..4u32).map(|sender| {
        let list = list.clone();
        tokio::spawn(async move {
            for seq in 0..2_500 {
                list.tell().push(sender, seq).unwrap();
                if seq % 500 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    });
    for sender in futures::future::join_all(senders).await {
        sender.unwrap();
    }
    let items = list.items().await.unwrap();
    assert_eq!(items.len(), 10_000);
    for sender in 0..4 {
        let own: Vec<_> = items
            .iter()
            .copied()
            .filter(|(s, _)| *s == sender)
            .collect();
        assert_eq!(own, sequence(sender, 2_500), "sender {sender} out of order");
    }
}

#[tokio::test]
async fn a_grain_calling_a_grain_keeps_send_order() {
    let silo = silo()
        .register::<List>()
        .register::<Producer>()
        .start()
        .await
        .unwrap();
    let items = silo.grain::<Producer>("p").produce(1_000).await.unwrap();
    assert_eq!(items, sequence(7, 1_000));
}

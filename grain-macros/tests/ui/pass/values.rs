// Argument and return types: user serde structs and enums, refs to other grains, `Self` inside
// a serializable type, and paths through modules.
use grain_runtime::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Order {
    pub id: u64,
    pub lines: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug)]
pub enum Outcome {
    Accepted(u64),
    Rejected { reason: String },
}

mod model {
    #[derive(serde::Serialize, serde::Deserialize)]
    pub struct Note(pub String);
}

#[grain]
#[derive(Default)]
pub struct Inventory {
    stock: u64,
}

#[grain]
impl Inventory {
    pub async fn reserve(&mut self, n: u64) -> bool {
        if self.stock >= n {
            self.stock -= n;
            true
        } else {
            false
        }
    }
}

#[grain]
#[derive(Default, Serialize, Deserialize, Clone)]
pub struct Cart {
    orders: Vec<Order>,
}

#[grain]
impl Cart {
    pub async fn place(&mut self, order: Order, inventory: VirtualActorRef<Inventory>) -> Outcome {
        match inventory.reserve(order.lines.len() as u64).await {
            Ok(true) => {
                self.orders.push(order);
                Outcome::Accepted(self.orders.len() as u64)
            }
            _ => Outcome::Rejected {
                reason: "out of stock".to_owned(),
            },
        }
    }

    pub async fn note(&self, note: model::Note) -> model::Note {
        note
    }

    pub async fn merge(&mut self, others: Vec<Self>) -> Self {
        for other in others {
            self.orders.extend(other.orders);
        }
        self.clone()
    }

    pub async fn peers(
        &self,
        peers: Vec<VirtualActorRef<Cart>>,
    ) -> Option<VirtualActorRef<Inventory>> {
        let _ = peers;
        None
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let silo = Silo::builder()
        .register::<Cart>()
        .register::<Inventory>()
        .start()
        .await?;
    let cart = silo.grain::<Cart>("c");
    let inventory = silo.grain::<Inventory>("i");
    let order = Order {
        id: 1,
        lines: vec![],
    };
    let _: Outcome = cart.place(order, inventory).await?;
    let _: Cart = cart.merge(vec![Cart::default()]).await?;
    silo.shutdown().await;
    Ok(())
}

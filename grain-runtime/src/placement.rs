//! Placement: which silo of the cluster owns a grain.

mod ring;

pub use ring::{Ring, VIRTUAL_NODES, grain_point};

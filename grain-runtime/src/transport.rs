//! The silo transport: how calls and replies travel between silos and clients.

pub(crate) mod wire;

//! The silo process host.

fn main() {}

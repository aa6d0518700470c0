//! Ipseity.

fn main() {}

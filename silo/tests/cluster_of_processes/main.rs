//! Clusters of `silo` processes on 127.0.0.1 with a client in this process: on embedded storage
//! (a data directory per silo) and on one shared PostgreSQL schema.

#[path = "../support/mod.rs"]
mod support;

mod churn;
mod on_embedded;
mod on_postgres;
mod silos;

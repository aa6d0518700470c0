//! Support code shared by the integration tests.

//! The encoding of persisted events and states: MessagePack with field and variant names.
//!
//! Persisted data must outlive the code that wrote it, so the encoding is self-describing:
//! struct fields are stored by name (a field added with `#[serde(default)]` reads old data, a
//! removed field is skipped) and enum variants by name (adding a variant leaves old data valid).
//! The wire codec for remote calls is a different, compact one.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encodes a persisted value.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    rmp_serde::to_vec_named(value).map_err(|error| error.to_string())
}

/// Decodes a persisted value.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    rmp_serde::from_slice(bytes).map_err(|error| error.to_string())
}

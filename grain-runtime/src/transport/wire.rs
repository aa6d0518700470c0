//! The wire encoding of remote calls: the one module that knows it is bincode 2 over serde, so
//! that changing the format is a one-file change. Persisted data does not use it (see
//! `persistence::codec`): bincode is not tolerant of schema change.

use bincode::config::{Configuration, Limit, LittleEndian, Varint};

/// The largest value a single decode may allocate, whatever length prefixes the input claims.
const DECODE_LIMIT: usize = 64 * 1024 * 1024;

type Config = Configuration<LittleEndian, Varint, Limit<DECODE_LIMIT>>;

const CONFIG: Config = bincode::config::standard().with_limit::<DECODE_LIMIT>();

/// Why a value could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WireError(String);

/// Appends the encoding of `value` to `out`.
pub(crate) fn encode_into<T: serde::Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    encode_to_writer(value, out)
}

/// Writes the encoding of `value` to `out`.
pub(crate) fn encode_to_writer<T: serde::Serialize + ?Sized>(
    value: &T,
    mut out: impl std::io::Write,
) -> Result<(), WireError> {
    bincode::serde::encode_into_std_write(value, &mut out, CONFIG)
        .map(|_| ())
        .map_err(|e| WireError(format!("cannot encode: {e}")))
}

/// Decodes one value from the front of `bytes`, returning it and the bytes it used.
pub(crate) fn decode_prefix<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
) -> Result<(T, usize), WireError> {
    bincode::serde::decode_from_slice(bytes, CONFIG)
        .map_err(|e| WireError(format!("cannot decode: {e}")))
}

/// Decodes one value that is the whole of `bytes`, with no limit on its size: for grain state
/// assembled from pieces, which may exceed the limit of a single call. Memory still follows
/// the input's length, since serde pre-allocates at most about a megabyte per container
/// whatever its length prefix claims.
pub(crate) fn decode_whole<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    let (value, used) = bincode::serde::decode_from_slice(bytes, bincode::config::standard())
        .map_err(|e| WireError(format!("cannot decode: {e}")))?;
    if used != bytes.len() {
        return Err(WireError(format!(
            "cannot decode: {} bytes left over after the value",
            bytes.len() - used
        )));
    }
    Ok(value)
}

//! A grain call in wire form: the method's name, its encoded arguments, and where the encoded
//! reply goes. `#[grain]` generates the conversions between a grain's call enum and this form;
//! the transport moves it between silos.

use crate::call::Fault;
use crate::transport::wire::{self, WireError};

/// Receives a call's encoded result (or the fault that replaced it) on the silo that made the
/// call, or passes it on to the connection a remote caller waits on.
pub type RemoteReply = Box<dyn FnOnce(Result<Vec<u8>, Fault>) + Send>;

/// Bounds every grain method argument and return type must meet, with a message that says so.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be passed to or returned from a grain method",
    label = "grain method arguments and results must be owned, `Send` and serializable",
    note = "derive `serde::Serialize` and `serde::Deserialize` for `{Self}`; borrowed types such as `&str` must become owned ones such as `String`"
)]
pub trait GrainValue: serde::Serialize + serde::de::DeserializeOwned + Send + 'static {}

impl<T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static> GrainValue for T {}

/// Decodes one value from the front of a buffer, returning it and the bytes it used.
type DecodeFn<T> = fn(&[u8]) -> Result<(T, usize), WireError>;

/// How values of one grain method argument or result type are encoded for the wire.
///
/// Generated code gets every codec from [`codec`], the one place that requires [`GrainValue`]:
/// a type that is not serializable then yields one error, at the user's type, however many
/// places the generated code moves it over the wire.
#[doc(hidden)]
pub struct ValueCodec<T> {
    pub(crate) encode: fn(&T, &mut Vec<u8>) -> Result<(), WireError>,
    pub(crate) decode: DecodeFn<T>,
}

impl<T> Clone for ValueCodec<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for ValueCodec<T> {}

/// The codec of `T`; fails to compile, at the type's span, unless `T` is a [`GrainValue`].
#[doc(hidden)]
pub const fn codec<T: GrainValue>() -> ValueCodec<T> {
    ValueCodec {
        encode: wire::encode_into::<T>,
        decode: wire::decode_prefix::<T>,
    }
}

/// A call taken out of its grain's call enum, ready for the transport.
#[doc(hidden)]
pub struct WireCall {
    /// The method called.
    pub method: &'static str,
    /// The arguments, encoded in declaration order, or why they could not be encoded.
    pub payload: Result<Vec<u8>, WireError>,
    /// Where the encoded reply goes: `None` for a tell.
    pub reply: Option<RemoteReply>,
}

/// Encodes a method's arguments one after another, remembering the first failure.
#[doc(hidden)]
pub struct ArgsWriter {
    bytes: Result<Vec<u8>, WireError>,
}

impl ArgsWriter {
    /// An empty argument list.
    pub fn new() -> Self {
        Self {
            bytes: Ok(Vec::new()),
        }
    }

    /// Appends one argument.
    pub fn push<T>(&mut self, codec: ValueCodec<T>, value: &T) {
        if let Ok(bytes) = &mut self.bytes
            && let Err(e) = (codec.encode)(value, bytes)
        {
            self.bytes = Err(e);
        }
    }

    /// The encoded arguments.
    pub fn finish(self) -> Result<Vec<u8>, WireError> {
        self.bytes
    }
}

impl Default for ArgsWriter {
    fn default() -> Self {
        Self::new()
    }
}

/// Decodes a method's arguments in declaration order.
#[doc(hidden)]
pub struct ArgsReader<'a> {
    method: &'static str,
    rest: &'a [u8],
    index: usize,
}

impl<'a> ArgsReader<'a> {
    /// Reads the arguments of `method` from `payload`.
    pub fn new(method: &'static str, payload: &'a [u8]) -> Self {
        Self {
            method,
            rest: payload,
            index: 0,
        }
    }

    /// The next argument.
    pub fn arg<T>(&mut self, codec: ValueCodec<T>) -> Result<T, String> {
        let (value, used) = (codec.decode)(self.rest).map_err(|e| {
            format!(
                "argument {} of {} ({}): {e}",
                self.index,
                self.method,
                std::any::type_name::<T>()
            )
        })?;
        self.rest = self.rest.get(used..).unwrap_or_default();
        self.index += 1;
        Ok(value)
    }

    /// Checks that every byte was an argument.
    pub fn finish(self) -> Result<(), String> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} takes {} arguments but {} bytes follow them",
                self.method,
                self.index,
                self.rest.len()
            ))
        }
    }
}

/// The error of a call for a method the grain type does not have.
#[doc(hidden)]
pub fn unknown_method(kind: &str, method: &str) -> String {
    format!("grain kind `{kind}` has no method `{method}`")
}

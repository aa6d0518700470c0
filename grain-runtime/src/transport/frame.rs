//! Frames: the unit of the silo transport.
//!
//! On the wire a frame is `[u32 big-endian length][u8 version][head][payload]`: the length counts
//! everything after itself, the head is one [`Head`] in the wire encoding, and the payload is the
//! rest of the frame (a call's encoded arguments, or a reply's encoded value), kept as raw bytes
//! so that it is never copied into a second buffer.

use std::net::SocketAddr;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use tokio_util::codec::Decoder;

use super::wire;
use crate::call::Fault;
use crate::id::GrainId;

/// The frame format this build speaks; a peer with another one is refused at the handshake.
pub(crate) const VERSION: u8 = 2;

/// The largest frame accepted by default (8 MiB), length prefix excluded.
pub(crate) const DEFAULT_MAX_FRAME: usize = 8 * 1024 * 1024;

/// The fixed part of a frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Head {
    /// The first frame each side sends: who it is and which cluster it belongs to.
    Hello {
        /// The cluster the sender belongs to; a connection between clusters is refused.
        cluster: String,
        /// The sender's silo name, or a client's self-chosen name.
        from: String,
    },
    /// Sent before closing a connection, saying why.
    Refused {
        /// What was wrong.
        reason: String,
    },
    /// A call; the payload holds its encoded arguments.
    Request(RequestHead),
    /// The outcome of request `id`: the payload holds the encoded value when `fault` is `None`.
    Reply {
        /// The id of the request this answers.
        id: u64,
        /// What replaced the value, if the call failed.
        fault: Option<Fault>,
        /// Set when the silo the call was sent to passed it on to the grain's owner, so that the
        /// caller can send the grain's next calls there directly.
        owner: Option<OwnerHint>,
    },
}

/// The silo that owns a grain, as told by a silo that forwarded a call to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OwnerHint {
    /// The grain called.
    pub(crate) grain: GrainId,
    /// The owner's silo name.
    pub(crate) silo: String,
    /// Where the owner listens.
    pub(crate) address: SocketAddr,
}

/// What a silo needs to route and run one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RequestHead {
    /// Matches the reply to its request, unique per connection; unused by tells.
    pub(crate) id: u64,
    /// The grain called.
    pub(crate) grain: GrainId,
    /// The method called.
    pub(crate) method: String,
    /// Microseconds left until the caller stops waiting; `None` for a tell, which wants no reply.
    pub(crate) deadline_us: Option<u64>,
    /// The correlation id of the call chain, carried into the grain's turn.
    pub(crate) correlation: u64,
    /// Set by a silo that passed the call on because it does not own the grain: a call is
    /// forwarded at most once.
    pub(crate) forwarded: bool,
}

impl RequestHead {
    /// Whether the caller waits for a reply.
    pub(crate) fn is_ask(&self) -> bool {
        self.deadline_us.is_some()
    }
}

/// One decoded frame.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) head: Head,
    pub(crate) payload: Bytes,
}

/// Why bytes read from a connection are not a frame. Every one of them closes the connection:
/// after a bad frame nothing says where the next one starts.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    /// The length prefix announced more than the limit.
    #[error("frame of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    /// The frame is empty, so it has no version byte.
    #[error("empty frame")]
    Empty,
    /// The peer speaks another frame format.
    #[error("frame version {found} is not supported (this silo speaks version {VERSION})")]
    Version { found: u8 },
    /// The head is not a valid [`Head`].
    #[error("malformed frame head: {0}")]
    Head(wire::WireError),
    /// Reading from the socket failed.
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
}

/// Splits a byte stream into [`Frame`]s, refusing one longer than the limit from its length
/// prefix alone, before buffering it.
#[derive(Debug)]
pub(crate) struct FrameCodec {
    limit: usize,
}

impl FrameCodec {
    /// A codec accepting frames of at most `limit` bytes.
    pub(crate) fn new(limit: usize) -> Self {
        Self { limit }
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let Some(prefix) = src.get(..4) else {
            return Ok(None);
        };
        let size = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        if size > self.limit {
            return Err(FrameError::TooLarge {
                size,
                limit: self.limit,
            });
        }
        if src.len() < 4 + size {
            src.reserve(4 + size - src.len());
            return Ok(None);
        }
        src.advance(4);
        parse(src.split_to(size)).map(Some)
    }
}

/// Reads the version and head of a frame body; the rest is the payload.
fn parse(mut body: BytesMut) -> Result<Frame, FrameError> {
    let Some(&version) = body.first() else {
        return Err(FrameError::Empty);
    };
    if version != VERSION {
        return Err(FrameError::Version { found: version });
    }
    body.advance(1);
    let (head, used) = wire::decode_prefix::<Head>(&body).map_err(FrameError::Head)?;
    body.advance(used);
    Ok(Frame {
        head,
        payload: body.freeze(),
    })
}

/// Appends the frame `head` + `payload` to `out`, or says why it cannot be sent: its head does
/// not encode, or it would exceed `limit`. `out` is unchanged on error.
pub(crate) fn encode(
    head: &Head,
    payload: &[u8],
    limit: usize,
    out: &mut BytesMut,
) -> Result<(), String> {
    let start = out.len();
    out.put_u32(0);
    out.put_u8(VERSION);
    if let Err(e) = wire::encode_to_writer(head, (&mut *out).writer()) {
        out.truncate(start);
        return Err(e.to_string());
    }
    let size = out.len() - start - 4 + payload.len();
    if size > limit {
        out.truncate(start);
        return Err(format!(
            "frame of {size} bytes exceeds the limit of {limit} bytes"
        ));
    }
    out.extend_from_slice(payload);
    let prefix = u32::try_from(size).map_err(|_| format!("frame of {size} bytes is too large"))?;
    out[start..start + 4].copy_from_slice(&prefix.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{GrainKey, GrainKind};
    use proptest::prelude::*;

    fn request(id: u64) -> Head {
        Head::Request(RequestHead {
            id,
            grain: GrainId::new(GrainKind::from_static("Counter"), GrainKey::from("alice")),
            method: "add".into(),
            deadline_us: Some(500_000),
            correlation: 7,
            forwarded: false,
        })
    }

    fn decode_all(codec: &mut FrameCodec, bytes: &[u8]) -> Result<Vec<Frame>, FrameError> {
        let mut src = BytesMut::from(bytes);
        let mut frames = Vec::new();
        while let Some(frame) = codec.decode(&mut src)? {
            frames.push(frame);
        }
        Ok(frames)
    }

    #[test]
    fn frames_round_trip_back_to_back() {
        let mut out = BytesMut::new();
        encode(&request(1), b"args", 1024, &mut out).unwrap();
        let reply = Head::Reply {
            id: 1,
            fault: Some(Fault::Rejected("no".into())),
            owner: Some(OwnerHint {
                grain: GrainId::new(GrainKind::from_static("Counter"), GrainKey::from("bob")),
                silo: "silo-2".into(),
                address: "127.0.0.1:4000".parse().unwrap(),
            }),
        };
        encode(&reply, b"", 1024, &mut out).unwrap();
        let frames = decode_all(&mut FrameCodec::new(1024), &out).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].head, request(1));
        assert_eq!(&frames[0].payload[..], b"args");
        assert_eq!(frames[1].head, reply);
        assert!(frames[1].payload.is_empty());
    }

    #[test]
    fn a_partial_frame_waits_for_the_rest() {
        let mut out = BytesMut::new();
        encode(&request(9), b"payload", 1024, &mut out).unwrap();
        let mut codec = FrameCodec::new(1024);
        let mut src = BytesMut::from(&out[..out.len() - 3]);
        assert!(codec.decode(&mut src).unwrap().is_none());
        src.extend_from_slice(&out[out.len() - 3..]);
        let frame = codec.decode(&mut src).unwrap().unwrap();
        assert_eq!(&frame.payload[..], b"payload");
    }

    #[test]
    fn an_oversized_frame_is_refused_from_its_prefix_alone() {
        let mut codec = FrameCodec::new(100);
        let mut src = BytesMut::from(&(1_000_000u32.to_be_bytes())[..]);
        let error = codec.decode(&mut src).unwrap_err();
        assert!(
            matches!(
                error,
                FrameError::TooLarge {
                    size: 1_000_000,
                    limit: 100
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn encoding_refuses_a_frame_over_the_limit_and_leaves_the_buffer_alone() {
        let mut out = BytesMut::new();
        encode(&request(1), b"x", 1024, &mut out).unwrap();
        let before = out.clone();
        let error = encode(&request(2), &[0; 2000], 1024, &mut out).unwrap_err();
        assert!(error.contains("exceeds the limit of 1024"), "{error}");
        assert_eq!(out, before);
    }

    #[test]
    fn another_version_and_a_garbled_head_are_named() {
        let mut codec = FrameCodec::new(1024);
        let error = decode_all(&mut codec, &[0, 0, 0, 2, 9, 0]).unwrap_err();
        assert!(error.to_string().contains("frame version 9"), "{error}");
        let error = decode_all(&mut codec, &[0, 0, 0, 3, VERSION, 0xff, 0xff]).unwrap_err();
        assert!(
            error.to_string().contains("malformed frame head"),
            "{error}"
        );
        let error = decode_all(&mut codec, &[0, 0, 0, 0]).unwrap_err();
        assert!(matches!(error, FrameError::Empty), "{error}");
    }

    proptest! {
        /// Arbitrary bytes never panic the decoder, and it never buffers a frame past the limit.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let mut codec = FrameCodec::new(256);
            let mut src = BytesMut::from(&bytes[..]);
            while let Ok(Some(frame)) = codec.decode(&mut src) {
                prop_assert!(frame.payload.len() <= 256);
            }
        }

        /// Valid frames split at arbitrary points decode to what was sent.
        #[test]
        fn split_streams_decode_to_what_was_sent(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..8),
            cut in 0usize..2048,
        ) {
            let mut out = BytesMut::new();
            for (id, payload) in payloads.iter().enumerate() {
                encode(&request(id as u64), payload, 4096, &mut out).unwrap();
            }
            let cut = cut.min(out.len());
            let mut codec = FrameCodec::new(4096);
            let mut src = BytesMut::from(&out[..cut]);
            let mut frames = Vec::new();
            while let Some(frame) = codec.decode(&mut src).unwrap() {
                frames.push(frame);
            }
            src.extend_from_slice(&out[cut..]);
            while let Some(frame) = codec.decode(&mut src).unwrap() {
                frames.push(frame);
            }
            prop_assert_eq!(frames.len(), payloads.len());
            for (id, (frame, payload)) in frames.iter().zip(&payloads).enumerate() {
                prop_assert_eq!(&frame.head, &request(id as u64));
                prop_assert_eq!(&frame.payload[..], &payload[..]);
            }
        }
    }
}

//! Framing: Kong sends MessagePack objects back to back, with no length prefix, so the only way
//! to know where a request ends is to walk its structure.
//!
//! The walk resumes where the last read left it ([`Framer`]), so a request that arrives in a
//! thousand reads is walked once, not a thousand times, and it is held to [`Limits`] while it
//! arrives: a length that cannot fit is refused when its header is read, not when its bytes
//! have been buffered.

/// Values one request may hold at most: a few dozen bytes each once decoded, so about 40 MiB
/// of decoded request at most. Kong's largest, a parsed body or a header table, hold far fewer.
pub const MAX_VALUES: u64 = 1 << 20;

/// What one request may be at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of one request.
    pub max_bytes: usize,
    /// Values in one request, containers and scalars alike: each costs a few dozen bytes once
    /// decoded, whatever its encoded size.
    pub max_values: u64,
}

impl Limits {
    /// No limit but the address space, for bytes the server produced itself.
    pub const NONE: Limits = Limits {
        max_bytes: usize::MAX,
        max_values: u64::MAX,
    };
}

/// Why a byte stream is not a request this server takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Not MessagePack: there is no way to find where the next request starts.
    #[error("invalid MessagePack: byte 0x{byte:02x} at offset {offset} is not a valid marker")]
    Marker {
        /// The offending byte.
        byte: u8,
        /// Where it is.
        offset: usize,
    },
    /// A request, or a length inside it, beyond [`Limits::max_bytes`].
    #[error("request larger than the limit of {limit} bytes (it needs at least {needs})")]
    TooLarge {
        /// Bytes the request needs at least, from what was read so far.
        needs: u64,
        /// The limit.
        limit: usize,
    },
    /// More values than [`Limits::max_values`].
    #[error("request of more than the limit of {limit} values (it declares at least {declares})")]
    TooManyValues {
        /// Values declared so far.
        declares: u64,
        /// The limit.
        limit: u64,
    },
}

/// Finds where requests end, one read at a time.
#[derive(Debug, Default, Clone)]
pub struct Framer {
    /// Where the walk stands, from the start of the request.
    pos: usize,
    /// Values still to walk; 0 before the request's first byte.
    pending: u64,
    /// Values met so far.
    values: u64,
}

impl Framer {
    /// The length of the request at the start of `buf`, `None` while only part of it is there.
    /// Call again with the same start and more bytes; after `Some`, the next call starts a new
    /// request. Walks iteratively, so deep nesting cannot exhaust the stack.
    pub fn next(&mut self, buf: &[u8], limits: Limits) -> Result<Option<usize>, FrameError> {
        if self.pending == 0 && self.pos == 0 {
            self.pending = 1;
            self.values = 0;
        }
        while self.pending > 0 {
            let pos = self.pos;
            let Some(&marker) = buf.get(pos) else {
                return Ok(None);
            };
            let Some((header, payload, children)) = element(buf, pos, marker)? else {
                return Ok(None);
            };
            let needs = pos as u64 + header as u64 + payload;
            if needs > limits.max_bytes as u64 {
                return Err(FrameError::TooLarge {
                    needs,
                    limit: limits.max_bytes,
                });
            }
            self.values += 1;
            self.pending = self.pending - 1 + children;
            // Every value still to come is at least one more.
            let declares = self.values.saturating_add(self.pending);
            if declares > limits.max_values {
                return Err(FrameError::TooManyValues {
                    declares,
                    limit: limits.max_values,
                });
            }
            self.pos = needs as usize;
        }
        if self.pos > buf.len() {
            // The last value's payload is still arriving.
            return Ok(None);
        }
        let len = self.pos;
        *self = Framer::default();
        Ok(Some(len))
    }
}

/// The length of the first complete MessagePack object in `buf`, `None` when `buf` holds only
/// part of it.
pub fn object_len(buf: &[u8]) -> Result<Option<usize>, FrameError> {
    Framer::default().next(buf, Limits::NONE)
}

/// The value whose marker is at `pos`: its header's length, its payload's length and how many
/// values it contains; `None` while its length bytes are still to come.
fn element(buf: &[u8], pos: usize, marker: u8) -> Result<Option<(usize, u64, u64)>, FrameError> {
    let sized = |width: usize, header: usize| size(buf, pos, width).map(|n| (header, n));
    Ok(Some(match marker {
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (1, 0, 0),
        0x80..=0x8f => (1, 0, 2 * u64::from(marker & 0x0f)),
        0x90..=0x9f => (1, 0, u64::from(marker & 0x0f)),
        0xa0..=0xbf => (1, u64::from(marker & 0x1f), 0),
        0xc1 => {
            return Err(FrameError::Marker {
                byte: marker,
                offset: pos,
            });
        }
        0xc4 | 0xd9 => match sized(1, 2) {
            Some((h, n)) => (h, n, 0),
            None => return Ok(None),
        },
        0xc5 | 0xda => match sized(2, 3) {
            Some((h, n)) => (h, n, 0),
            None => return Ok(None),
        },
        0xc6 | 0xdb => match sized(4, 5) {
            Some((h, n)) => (h, n, 0),
            None => return Ok(None),
        },
        // ext 8/16/32: the type byte follows the length.
        0xc7 => match sized(1, 3) {
            Some((h, n)) => (h, n, 0),
            None => return Ok(None),
        },
        0xc8 => match sized(2, 4) {
            Some((h, n)) => (h, n, 0),
            None => return Ok(None),
        },
        0xc9 => match sized(4, 6) {
            Some((h, n)) => (h, n, 0),
            None => return Ok(None),
        },
        0xca => (5, 0, 0),
        0xcb => (9, 0, 0),
        0xcc | 0xd0 => (2, 0, 0),
        0xcd | 0xd1 => (3, 0, 0),
        0xce | 0xd2 => (5, 0, 0),
        0xcf | 0xd3 => (9, 0, 0),
        0xd4 => (3, 0, 0),
        0xd5 => (4, 0, 0),
        0xd6 => (6, 0, 0),
        0xd7 => (10, 0, 0),
        0xd8 => (18, 0, 0),
        0xdc => match sized(2, 3) {
            Some((h, n)) => (h, 0, n),
            None => return Ok(None),
        },
        0xdd => match sized(4, 5) {
            Some((h, n)) => (h, 0, n),
            None => return Ok(None),
        },
        0xde => match sized(2, 3) {
            Some((h, n)) => (h, 0, 2 * n),
            None => return Ok(None),
        },
        0xdf => match sized(4, 5) {
            Some((h, n)) => (h, 0, 2 * n),
            None => return Ok(None),
        },
    }))
}

/// The big-endian size of `width` bytes after the marker at `pos`.
fn size(buf: &[u8], pos: usize, width: usize) -> Option<u64> {
    let bytes = buf.get(pos + 1..pos + 1 + width)?;
    Some(bytes.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmpv::Value;

    fn encode(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, v).unwrap();
        out
    }

    fn samples() -> Vec<Value> {
        vec![
            Value::Nil,
            Value::from(true),
            Value::from(-5),
            Value::from(u64::MAX),
            Value::from(i64::MIN),
            Value::F32(1.5),
            Value::F64(2.5),
            Value::from("x".repeat(40)),
            Value::from("y".repeat(300)),
            Value::from("z".repeat(70_000)),
            Value::Binary(vec![1; 300]),
            Value::Ext(5, vec![1, 2, 3, 4]),
            Value::Ext(5, vec![9; 20]),
            Value::Array((0..20).map(Value::from).collect()),
            Value::Map(vec![(Value::from(1), Value::Array(vec![Value::Nil; 3]))]),
            Value::Array(vec![
                Value::from(0),
                Value::from(1u64 << 53),
                Value::from("plugin.Step"),
                Value::Array(vec![Value::Map(vec![(
                    Value::from("EventId"),
                    Value::from(3),
                )])]),
            ]),
        ]
    }

    #[test]
    fn complete_objects_have_their_exact_length() {
        for v in samples() {
            let bytes = encode(&v);
            assert_eq!(object_len(&bytes), Ok(Some(bytes.len())), "{v}");
            let mut two = bytes.clone();
            two.extend_from_slice(&bytes);
            assert_eq!(object_len(&two), Ok(Some(bytes.len())), "{v}");
        }
    }

    #[test]
    fn every_prefix_is_incomplete() {
        for v in samples() {
            let bytes = encode(&v);
            for cut in 0..bytes.len() {
                assert_eq!(object_len(&bytes[..cut]), Ok(None), "{v} cut at {cut}");
            }
        }
    }

    #[test]
    fn reserved_marker_is_an_error() {
        assert_eq!(
            object_len(&[0x92, 0x01, 0xc1]),
            Err(FrameError::Marker {
                byte: 0xc1,
                offset: 2
            })
        );
    }

    #[test]
    fn deep_nesting_does_not_recurse() {
        let mut bytes = vec![0x91; 1_000_000];
        bytes.push(0xc0);
        assert_eq!(object_len(&bytes), Ok(Some(bytes.len())));
    }

    #[test]
    fn a_request_read_in_pieces_is_walked_once() {
        let whole = encode(&Value::Array(vec![Value::Nil; 5000]));
        let mut framer = Framer::default();
        let mut walked = 0;
        for end in 1..whole.len() {
            assert_eq!(framer.next(&whole[..end], Limits::NONE), Ok(None));
            walked = framer.pos;
        }
        assert_eq!(walked, whole.len() - 1, "the walk resumed, never restarted");
        assert_eq!(framer.next(&whole, Limits::NONE), Ok(Some(whole.len())));
        // And the next request starts afresh.
        assert_eq!(framer.next(&[0xc0], Limits::NONE), Ok(Some(1)));
    }

    #[test]
    fn declared_lengths_beyond_the_limit_are_refused_from_their_header() {
        let limits = Limits {
            max_bytes: 1024,
            max_values: 100,
        };
        // A str32 claiming 4 GB: five bytes are enough to refuse it.
        let header = [0xdb, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            Framer::default().next(&header, limits),
            Err(FrameError::TooLarge { limit: 1024, .. })
        ));
        // An array32 declaring a billion elements.
        let header = [0xdd, 0x40, 0, 0, 0];
        assert!(matches!(
            Framer::default().next(&header, limits),
            Err(FrameError::TooManyValues { limit: 100, .. })
        ));
        // Exactly at the limit is fine; one byte more is not.
        let mut at = vec![0xc5, 0x03, 0xfd];
        at.resize(1024, 0);
        assert_eq!(Framer::default().next(&at, limits), Ok(Some(1024)));
        let over = [0xc5, 0x03, 0xfe];
        assert!(Framer::default().next(&over, limits).is_err());
    }
}

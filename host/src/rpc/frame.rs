//! Framing: Kong sends MessagePack objects back to back, with no length prefix, so the only way
//! to know where a request ends is to walk its structure.

/// Why a byte stream is not MessagePack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MessagePack: byte 0x{byte:02x} at offset {offset} is not a valid marker")]
pub struct FrameError {
    /// The offending byte.
    pub byte: u8,
    /// Where it is.
    pub offset: usize,
}

/// The length of the first complete MessagePack object in `buf`, `None` when `buf` holds only
/// part of it. Walks iteratively, so a deeply nested object cannot exhaust the stack.
pub fn object_len(buf: &[u8]) -> Result<Option<usize>, FrameError> {
    let mut pos = 0usize;
    // Objects still to read: containers add their elements as they are met.
    let mut pending: u64 = 1;
    while pending > 0 {
        let Some(&marker) = buf.get(pos) else {
            return Ok(None);
        };
        pending -= 1;
        let (header, payload, children) = match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (1, 0, 0),
            0x80..=0x8f => (1, 0, 2 * u64::from(marker & 0x0f)),
            0x90..=0x9f => (1, 0, u64::from(marker & 0x0f)),
            0xa0..=0xbf => (1, usize::from(marker & 0x1f), 0),
            0xc1 => {
                return Err(FrameError {
                    byte: marker,
                    offset: pos,
                });
            }
            0xc4 | 0xd9 => match size(buf, pos, 1) {
                Some(n) => (2, n, 0),
                None => return Ok(None),
            },
            0xc5 | 0xda => match size(buf, pos, 2) {
                Some(n) => (3, n, 0),
                None => return Ok(None),
            },
            0xc6 | 0xdb => match size(buf, pos, 4) {
                Some(n) => (5, n, 0),
                None => return Ok(None),
            },
            0xc7 => match size(buf, pos, 1) {
                Some(n) => (3, n, 0),
                None => return Ok(None),
            },
            0xc8 => match size(buf, pos, 2) {
                Some(n) => (4, n, 0),
                None => return Ok(None),
            },
            0xc9 => match size(buf, pos, 4) {
                Some(n) => (6, n, 0),
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
            0xdc => match size(buf, pos, 2) {
                Some(n) => (3, 0, n as u64),
                None => return Ok(None),
            },
            0xdd => match size(buf, pos, 4) {
                Some(n) => (5, 0, n as u64),
                None => return Ok(None),
            },
            0xde => match size(buf, pos, 2) {
                Some(n) => (3, 0, 2 * n as u64),
                None => return Ok(None),
            },
            0xdf => match size(buf, pos, 4) {
                Some(n) => (5, 0, 2 * n as u64),
                None => return Ok(None),
            },
        };
        pos += header + payload;
        pending += children;
    }
    Ok((pos <= buf.len()).then_some(pos))
}

/// The big-endian size of `width` bytes after the marker at `pos`.
fn size(buf: &[u8], pos: usize, width: usize) -> Option<usize> {
    let bytes = buf.get(pos + 1..pos + 1 + width)?;
    Some(bytes.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b)))
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
            Err(FrameError {
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
}

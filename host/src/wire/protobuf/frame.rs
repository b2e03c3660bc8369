//! ProtoBuf:1 framing: every message is a little-endian u32 length, then that many bytes.
//! A zero length is a message too (an empty message: Kong's nil, or "the handler is done").

use std::ops::Range;

/// The length prefix's size.
pub const HEADER: usize = 4;

/// Why bytes are not a frame this server takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a ProtoBuf:1 frame declares {declared} bytes, beyond the limit of {limit} (-max-request-bytes)"
)]
pub struct TooLarge {
    /// The length the frame declares.
    pub declared: u64,
    /// The limit.
    pub limit: usize,
}

/// Where the payload of the frame at the start of `buf` lies, `None` while it is incomplete.
/// A length beyond `limit` is refused as soon as the prefix is read.
pub fn next(buf: &[u8], limit: usize) -> Result<Option<Range<usize>>, TooLarge> {
    let Some(prefix) = buf.first_chunk::<HEADER>() else {
        return Ok(None);
    };
    let declared = u32::from_le_bytes(*prefix);
    let len = usize::try_from(declared).unwrap_or(usize::MAX);
    if len > limit {
        return Err(TooLarge {
            declared: u64::from(declared),
            limit,
        });
    }
    let end = HEADER + len;
    Ok((buf.len() >= end).then_some(HEADER..end))
}

/// Appends `payload` as one frame to `out`.
pub fn push(out: &mut Vec<u8>, payload: &[u8]) {
    // Payloads are the server's own, far below 4 GiB.
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Appends a frame whose payload `write` appends, filling in its length after.
pub fn push_with(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    write(out);
    let len = (out.len() - start - HEADER) as u32;
    out[start..start + HEADER].copy_from_slice(&len.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_empty_partial_and_too_large() {
        let mut out = Vec::new();
        push(&mut out, b"");
        push(&mut out, b"\x08\x03");
        assert_eq!(out, [0, 0, 0, 0, 2, 0, 0, 0, 8, 3]);
        assert_eq!(next(&out, 16), Ok(Some(4..4)));
        assert_eq!(next(&out[4..], 16), Ok(Some(4..6)));
        assert_eq!(next(&out[4..9], 16), Ok(None));
        assert_eq!(next(&out[..3], 16), Ok(None));
        assert_eq!(
            next(&[0xff, 0xff, 0xff, 0xff], 1024),
            Err(TooLarge {
                declared: u64::from(u32::MAX),
                limit: 1024
            })
        );
        let mut framed = Vec::new();
        push_with(&mut framed, |out| out.extend_from_slice(b"abc"));
        assert_eq!(framed, [3, 0, 0, 0, b'a', b'b', b'c']);
    }
}

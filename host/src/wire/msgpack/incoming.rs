//! What the server makes of a client's bytes, short of answering: framed as they arrive, in
//! reads of any size, then decoded. The MsgPack:1 session ([`crate::serving::session::msgpack`]) does this inline;
//! this is the same work on a byte string, for the fuzz target and its corpus replay.

use super::{
    frame::{FrameError, Framer, Limits},
    message::{Incoming, decode},
};

/// The requests in `data`, read `chunk` bytes at a time (at least 1), with what stopped the
/// reading, if anything did. Checks on the way what must always hold: a frame found in pieces
/// is the frame found at once, and is never empty nor longer than the limit.
pub fn read_requests(
    data: &[u8],
    chunk: usize,
    limits: Limits,
) -> (Vec<Incoming>, Option<FrameError>) {
    let chunk = chunk.max(1);
    let mut framer = Framer::default();
    let mut requests = Vec::new();
    let mut start = 0;
    let mut end = 0;
    while end < data.len() {
        end = (end + chunk).min(data.len());
        loop {
            match framer.next(&data[start..end], limits) {
                Ok(Some(len)) => {
                    assert!(len > 0 && len <= limits.max_bytes);
                    let whole = Framer::default().next(&data[start..], limits);
                    assert_eq!(whole, Ok(Some(len)), "framing in pieces differs");
                    requests.push(decode(&data[start..start + len]));
                    start += len;
                }
                Ok(None) => break,
                Err(e) => return (requests, Some(e)),
            }
        }
    }
    (requests, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_split_anywhere_read_the_same() {
        let mut data = Vec::new();
        for msgid in 0..3u8 {
            data.extend_from_slice(&[0x94, 0x00, msgid, 0xb0]);
            data.extend_from_slice(b"plugin.GetStatus");
            data.extend_from_slice(&[0x91, 0xc0]);
        }
        for chunk in 1..data.len() {
            let (requests, error) = read_requests(&data, chunk, Limits::NONE);
            assert_eq!(error, None);
            assert_eq!(requests.len(), 3);
            assert!(requests.iter().all(|r| matches!(r, Incoming::Request(_))));
        }
    }
}

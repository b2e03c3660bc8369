//! What the server makes of a ProtoBuf:1 client's bytes, short of answering: frames found as
//! they arrive, in reads of any size, each decoded as Kong's `RpcCall` and as the answer to a
//! PDK call. The connection loop does this inline; this is the same work on a byte string, for
//! the fuzz target and its corpus replay.

use prost::Message;

use super::{
    answers,
    frame::{self, TooLarge},
    messages::RpcCall,
    methods::METHODS,
};

/// The calls decoded from the frames of `data`, read `chunk` bytes at a time, and what stopped
/// the reading, if anything did. Every frame is also decoded as the answer of one of the PDK
/// methods (chosen by its length), which must never panic. Checks on the way what must always
/// hold: a frame found in pieces is the frame found at once, and never longer than the limit.
pub fn read_calls(
    data: &[u8],
    chunk: usize,
    limit: usize,
) -> (Vec<Result<RpcCall, prost::DecodeError>>, Option<TooLarge>) {
    let chunk = chunk.max(1);
    let mut calls = Vec::new();
    let mut start = 0;
    let mut end = 0;
    while end < data.len() {
        end = (end + chunk).min(data.len());
        loop {
            match frame::next(&data[start..end], limit) {
                Ok(Some(payload)) => {
                    assert!(payload.len() <= limit);
                    assert_eq!(
                        frame::next(&data[start..], limit),
                        Ok(Some(payload.clone())),
                        "framing in pieces differs"
                    );
                    let bytes = &data[start + payload.start..start + payload.end];
                    let method = &METHODS[bytes.len() % METHODS.len()];
                    let _ = answers::decode(method, bytes);
                    calls.push(RpcCall::decode(bytes));
                    start += payload.end;
                }
                Ok(None) => break,
                Err(e) => return (calls, Some(e)),
            }
        }
    }
    (calls, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::protobuf::messages::{Call, CmdHandleEvent};

    #[test]
    fn calls_split_anywhere_read_the_same() {
        let mut data = Vec::new();
        for sequence in 2..5 {
            let call = RpcCall {
                sequence,
                call: Some(Call::CmdHandleEvent(CmdHandleEvent {
                    instance_id: 7,
                    event_name: "access".into(),
                })),
            };
            frame::push(&mut data, &call.encode_to_vec());
        }
        frame::push(&mut data, b"");
        for chunk in 1..data.len() {
            let (calls, error) = read_calls(&data, chunk, 1024);
            assert_eq!(error, None);
            assert_eq!(calls.len(), 4);
            assert_eq!(calls[2].as_ref().unwrap().sequence, 4);
        }
        let (_, error) = read_calls(&[9, 9, 9, 9], 1, 1024);
        assert!(error.is_some());
    }
}

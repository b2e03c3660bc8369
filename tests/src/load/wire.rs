//! One connection of the load generator: Kong's cosocket, on an async runtime. A request is
//! written whole, then objects are read until the response; the `serverPid` notification that
//! opens every connection is skipped, as Kong skips it.

use std::{io, path::Path};

use rmpv::{Value, ValueRef};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::UnixStream,
};

use crate::encode::kong_pack;

/// A pooled connection.
pub struct Conn {
    stream: UnixStream,
    buf: Vec<u8>,
    /// Bytes written and read since [`Conn::take_traffic`].
    traffic: (u64, u64),
}

impl Conn {
    /// Connects to the socket at `path`.
    pub async fn open(path: &Path) -> io::Result<Conn> {
        Ok(Conn {
            stream: UnixStream::connect(path).await?,
            buf: Vec::with_capacity(4096),
            traffic: (0, 0),
        })
    }

    /// Sends `[0, msgid, method, [param]]` and returns the response's result, or its error
    /// text. A broken connection or a response Kong would refuse is an `io::Error`.
    pub async fn rpc(
        &mut self,
        msgid: u64,
        method: &str,
        param: Value,
    ) -> io::Result<Result<Value, String>> {
        let request = Value::Array(vec![
            Value::from(0),
            Value::from(msgid),
            Value::from(method),
            Value::Array(vec![param]),
        ]);
        self.call(&kong_pack(&request), msgid, |result| result.to_owned())
            .await
    }

    /// Sends an encoded request and hands the response's result to `read`, without copying
    /// it out of the read buffer. The load loop uses this: decoding whole responses into owned
    /// values would make the load generator, not the server, the bottleneck.
    pub async fn call<T>(
        &mut self,
        request: &[u8],
        msgid: u64,
        read: impl FnOnce(&ValueRef<'_>) -> T,
    ) -> io::Result<Result<T, String>> {
        self.write(request).await?;
        let mut read = Some(read);
        loop {
            let used = self.complete_object().await?;
            let mut frame = &self.buf[..used];
            let message = rmpv::decode::read_value_ref(&mut frame)
                .map_err(|e| invalid(format!("undecodable response: {e}")))?;
            let ValueRef::Array(items) = &message else {
                return Err(invalid(format!(
                    "a message must be an array, got {message}"
                )));
            };
            let outcome = match items.as_slice() {
                [kind, ..] if kind.as_u64() == Some(2) => None,
                [kind, id, error, result] if kind.as_u64() == Some(1) => {
                    if id.as_u64() != Some(msgid) {
                        return Err(invalid(format!(
                            "unexpected RPC response ID {id} (sent {msgid})"
                        )));
                    }
                    Some(match error {
                        ValueRef::Nil => Ok(read.take().expect("one response per request")(result)),
                        ValueRef::String(s) => Err(s.as_str().unwrap_or("?").to_owned()),
                        other => Err(other.to_string()),
                    })
                }
                _ => return Err(invalid(format!("not a response: {message}"))),
            };
            self.buf.drain(..used);
            if let Some(outcome) = outcome {
                return Ok(outcome);
            }
        }
    }

    /// Writes `frame` and reads the same number of bytes back (the echo baseline).
    pub async fn echo(&mut self, frame: &[u8]) -> io::Result<()> {
        self.write(frame).await?;
        while self.buf.len() < frame.len() {
            if self.read_more().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        self.buf.drain(..frame.len());
        Ok(())
    }

    /// Bytes written and read since the last call.
    pub fn take_traffic(&mut self) -> (u64, u64) {
        std::mem::take(&mut self.traffic)
    }

    async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.traffic.0 += bytes.len() as u64;
        Ok(())
    }

    async fn read_more(&mut self) -> io::Result<usize> {
        let n = self.stream.read_buf(&mut self.buf).await?;
        self.traffic.1 += n as u64;
        Ok(n)
    }

    /// Writes one ProtoBuf:1 frame: the u32-LE length, then `payload`, in one write.
    pub async fn send_frame(&mut self, payload: &[u8], scratch: &mut Vec<u8>) -> io::Result<()> {
        scratch.clear();
        scratch.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        scratch.extend_from_slice(payload);
        self.write(scratch).await
    }

    /// Reads one ProtoBuf:1 frame and hands its payload to `read`.
    pub async fn read_frame<T>(&mut self, read: impl FnOnce(&[u8]) -> T) -> io::Result<T> {
        loop {
            if let Some(prefix) = self.buf.first_chunk::<4>() {
                let end = 4 + u32::from_le_bytes(*prefix) as usize;
                if self.buf.len() >= end {
                    let value = read(&self.buf[4..end]);
                    self.buf.drain(..end);
                    return Ok(value);
                }
            }
            if self.read_more().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Reads until the buffer starts with a complete object; returns its length.
    async fn complete_object(&mut self) -> io::Result<usize> {
        loop {
            let mut cursor = self.buf.as_slice();
            match rmpv::decode::read_value_ref(&mut cursor) {
                Ok(_) => return Ok(self.buf.len() - cursor.len()),
                Err(e) if is_short(&e) => {}
                Err(e) => return Err(invalid(format!("undecodable response: {e}"))),
            }
            if self.read_more().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

/// Appends `s` as Kong's lua-MessagePack writes a string.
pub fn kong_str(out: &mut Vec<u8>, s: &str) {
    crate::encode::write_str(out, s.as_bytes());
}

/// Appends the head of a request, `[0, msgid, method, [`, leaving its one parameter to write.
pub fn request_head(out: &mut Vec<u8>, msgid: u64, method: &str) {
    out.extend_from_slice(&[0x94, 0x00]);
    let _ = rmp::encode::write_uint(out, msgid);
    kong_str(out, method);
    out.push(0x91);
}

/// Appends the parameter of `plugin.HandleEvent`, `{InstanceId, EventName}`.
pub fn handle_event_param(out: &mut Vec<u8>, instance: u64, phase: &str) {
    out.push(0x82);
    kong_str(out, "InstanceId");
    let _ = rmp::encode::write_uint(out, instance);
    kong_str(out, "EventName");
    kong_str(out, phase);
}

/// The value under the string key `key` of a map read in place.
pub fn field<'v, 'a>(map: &'v ValueRef<'a>, key: &str) -> Option<&'v ValueRef<'a>> {
    let ValueRef::Map(entries) = map else {
        return None;
    };
    entries.iter().find_map(|(k, v)| match k {
        ValueRef::String(s) if s.as_bytes() == key.as_bytes() => Some(v),
        _ => None,
    })
}

/// Whether decoding failed only because the object is not all there yet.
fn is_short(e: &rmpv::decode::Error) -> bool {
    match e {
        rmpv::decode::Error::InvalidMarkerRead(io) | rmpv::decode::Error::InvalidDataRead(io) => {
            io.kind() == io::ErrorKind::UnexpectedEof
        }
        _ => false,
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

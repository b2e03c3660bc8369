//! A MsgPack:1 client on one connection, as Kong's is: requests in turn, each answered before
//! the next, notifications (`serverPid`) read and passed over. `pluginhost event` drives a
//! running server with it, and an engine passes an older engine the Steps of its events.

use std::{
    io::{BufReader, BufWriter, Write},
    os::unix::net::UnixStream,
};

use rmpv::Value;

/// One connection's client.
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: BufWriter<UnixStream>,
    msgid: u64,
}

impl Client {
    /// A client on `stream`.
    pub fn new(stream: UnixStream) -> std::io::Result<Client> {
        Ok(Client {
            reader: BufReader::new(stream.try_clone()?),
            writer: BufWriter::new(stream),
            msgid: 0,
        })
    }

    /// Sends `method` with `param` and waits for its answer; the server's error as `Err`.
    pub fn call(&mut self, method: &str, param: Value) -> Result<Value, String> {
        self.msgid += 1;
        let request = Value::Array(vec![
            Value::from(0),
            Value::from(self.msgid),
            Value::from(method),
            Value::Array(vec![param]),
        ]);
        let sent = rmpv::encode::write_value(&mut self.writer, &request)
            .map_err(std::io::Error::from)
            .and_then(|()| self.writer.flush());
        sent.map_err(|e| format!("cannot send {method}: {e}"))?;
        loop {
            let message = rmpv::decode::read_value(&mut self.reader)
                .map_err(|e| format!("no answer to {method}: {e}"))?;
            let Some([kind, rest @ ..]) = message.as_array().map(Vec::as_slice) else {
                return Err(format!(
                    "{method}: not a MessagePack-RPC message: {message}"
                ));
            };
            // Notifications (`serverPid`) come before answers; Kong only notes them.
            if kind.as_u64() == Some(2) {
                continue;
            }
            let [msgid, error, result] = rest else {
                return Err(format!("{method}: not a response: {message}"));
            };
            if msgid.as_u64() != Some(self.msgid) {
                return Err(format!("{method}: the answer is for msgid {msgid}"));
            }
            return match error {
                Value::Nil => Ok(result.clone()),
                error => Err(error
                    .as_str()
                    .map_or_else(|| error.to_string(), str::to_owned)),
            };
        }
    }
}

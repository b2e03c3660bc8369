//! Kong's ProtoBuf:1 client, as `pb_rpc.lua` behaves (Kong 2.4 on), per Kong generation.
//! Every message it writes or reads goes through the `pluginsocket.proto` that Kong release
//! ships ([`crate::kong_proto`]), never through the server's own types.
//!
//! Every call takes an idle connection from the pool (or opens one), writes one `RpcCall`
//! frame with Kong's sequence number (its per-Rpc counter plus one: 2, 3, 4...), and asserts
//! that the `RpcReturn` echoes it. `cmd_handle_event` holds its connection for the whole event:
//! Kong reads a method-name frame, then its argument frame, unwraps the arguments as Kong
//! does, answers with the method's output message (nil as an empty frame), until the empty
//! frame that ends the handler. A method name outside `service Kong`, or arguments that do
//! not decode, abort the call as Kong's Lua would, closing the connection.
//!
//! Errors, by generation: Kong 3.0 and later take an error containing `closed` or
//! `no plugin instance` as a lost instance and start a new one (see [`crate::kong::Entity`]);
//! Kong 2.4 - 2.8 only log it, and the plugin stays broken. Kong 3.8 and later answer the
//! request with HTTP 500 for any error (its [`Client::status_of`]).

use std::{
    io::{Read, Write},
    os::unix::net::UnixStream,
    path::PathBuf,
    sync::{
        Mutex,
        atomic::{AtomicI64, Ordering},
    },
};

use plugin_abi::schema::KongVersion;
use rmpv::Value;

use crate::{
    kong::{Answer, Call, Client, Outcome, READ_TIMEOUT, map},
    kong_proto::{Schema, answer_frame, unwrap_args},
};

/// One connection to the server.
pub struct Conn {
    stream: UnixStream,
}

impl Conn {
    fn open(socket: &std::path::Path) -> std::io::Result<Conn> {
        let stream = UnixStream::connect(socket)?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        Ok(Conn { stream })
    }

    /// Writes one frame.
    pub fn send(&mut self, payload: &[u8]) -> Result<(), String> {
        let mut framed = (payload.len() as u32).to_le_bytes().to_vec();
        framed.extend_from_slice(payload);
        self.stream.write_all(&framed).map_err(closed)
    }

    /// Writes raw bytes: part of a frame, or several.
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream.write_all(bytes).map_err(closed)
    }

    /// Reads one frame, as Kong does: `receive(4)`, then `receive(len)`.
    pub fn read(&mut self) -> Result<Vec<u8>, String> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).map_err(closed)?;
        let mut payload = vec![0u8; u32::from_le_bytes(len) as usize];
        self.stream.read_exact(&mut payload).map_err(closed)?;
        Ok(payload)
    }

    /// Whether the server closed the connection (waits up to `READ_TIMEOUT`).
    pub fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        // One read: a reset is reported once, and the read after it sees the end.
        match self.stream.read(&mut byte) {
            Ok(0) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
            Ok(_) => false,
        }
    }
}

/// The text Kong's cosocket gives for a connection the server closed.
fn closed(e: std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof
        | std::io::ErrorKind::ConnectionReset
        | std::io::ErrorKind::BrokenPipe => "closed".into(),
        _ => format!("closed: {e}"),
    }
}

/// One Kong worker's ProtoBuf:1 RPC object for a plugin server socket.
pub struct ProtoBufKong {
    socket: PathBuf,
    kong: KongVersion,
    schema: &'static Schema,
    idle: Mutex<Vec<Conn>>,
    counter: AtomicI64,
    /// Every connection opened.
    pub opened: std::sync::atomic::AtomicU64,
}

impl ProtoBufKong {
    /// A client of the server on `socket`, behaving as Kong release `kong` (2.4 or later).
    pub fn new(socket: impl Into<PathBuf>, kong: KongVersion) -> Self {
        assert!(
            kong >= KongVersion::new(2, 4, 0),
            "Kong {kong} has no ProtoBuf:1"
        );
        ProtoBufKong {
            socket: socket.into(),
            kong,
            schema: Schema::of(kong),
            idle: Mutex::default(),
            counter: AtomicI64::new(0),
            opened: Default::default(),
        }
    }

    /// Takes an idle pooled connection, or opens one.
    pub fn acquire(&self) -> Conn {
        if let Some(conn) = self.idle.lock().unwrap().pop() {
            return conn;
        }
        self.opened.fetch_add(1, Ordering::Relaxed);
        Conn::open(&self.socket).expect("cannot connect to pluginhost")
    }

    fn release(&self, conn: Conn) {
        self.idle.lock().unwrap().push(conn);
    }

    /// The sequence of the next call: Kong increments its counter, then sends it plus one.
    fn next_sequence(&self) -> i64 {
        self.counter.fetch_add(1, Ordering::Relaxed) + 2
    }

    /// Writes the `RpcCall` with `command` set to `args`, reads the `RpcReturn`, checks its
    /// sequence, and gives the return field set, if any (its name and value).
    fn call(
        &self,
        conn: &mut Conn,
        command: &str,
        args: &Value,
    ) -> Result<Option<(String, Value)>, String> {
        let sequence = self.next_sequence();
        conn.send(&self.schema.rpc_call(sequence, command, args))?;
        self.read_return(conn, sequence)
    }

    fn read_return(
        &self,
        conn: &mut Conn,
        sequence: i64,
    ) -> Result<Option<(String, Value)>, String> {
        let (echoed, returned) = self.schema.rpc_return(&conn.read()?).expect("an RpcReturn");
        assert_eq!(echoed, sequence, "RpcReturn.sequence echoes the call's");
        Ok(returned)
    }

    /// One call over a pooled connection, put back only if it worked (Kong's `setkeepalive`
    /// after success; a failed connection is closed).
    fn command(&self, command: &str, args: &Value) -> Result<Option<(String, Value)>, String> {
        let mut conn = self.acquire();
        let ret = self.call(&mut conn, command, args)?;
        self.release(conn);
        Ok(ret)
    }
}

impl Client for ProtoBufKong {
    fn start_instance(&self, name: &str, config: &serde_json::Value) -> Result<u64, String> {
        let args = map([
            ("name", Value::from(name)),
            ("config", Value::Binary(config.to_string().into_bytes())),
        ]);
        match self.command("cmd_start_instance", &args)? {
            Some((field, status)) if field == "instance_status" => {
                let id = crate::kong::get(&status, "instance_id")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                assert!(id > 0, "a usable int32 id");
                Ok(id as u64)
            }
            other => panic!("cmd_start_instance answers an instance_status, got {other:?}"),
        }
    }

    fn handle_event(
        &self,
        instance_id: u64,
        phase: &str,
        pdk: &mut dyn FnMut(&Call) -> Answer,
    ) -> Result<Outcome, String> {
        let mut conn = self.acquire();
        let sequence = self.next_sequence();
        let instance_id = i32::try_from(instance_id).map_err(|_| "an int32 id".to_owned())?;
        let args = map([
            ("instance_id", Value::from(instance_id)),
            ("event_name", Value::from(phase)),
        ]);
        conn.send(&self.schema.rpc_call(sequence, "cmd_handle_event", &args))?;
        let mut calls = Vec::new();
        loop {
            let name = conn.read()?;
            if name.is_empty() {
                break;
            }
            let name = String::from_utf8(name).map_err(|_| "a method name is UTF-8")?;
            let Some(method) = self.schema.method(&name) else {
                return Err(format!("method \"{name}\" not found"));
            };
            let args = unwrap_args(method, &conn.read()?)
                .map_err(|e| format!("{name}: decoding the arguments failed: {e}"))?;
            let call = Call { method: name, args };
            let answer = pdk(&call);
            let terminal = call.method == "kong.response.exit";
            calls.push(call);
            if terminal {
                // ngx.exit: the request ends here, and the connection with it.
                return Ok(Outcome {
                    calls,
                    exited: true,
                });
            }
            conn.send(&answer_frame(method, answer_value(&answer)))?;
        }
        let returned = self.read_return(&mut conn, sequence)?;
        assert_eq!(returned, None, "a handled event returns nothing");
        self.release(conn);
        Ok(Outcome {
            calls,
            exited: false,
        })
    }

    fn close_instance(&self, id: u64) -> Result<(), String> {
        let instance_id = i32::try_from(id).expect("int32 ids");
        self.command(
            "cmd_close_instance",
            &map([("instance_id", Value::from(instance_id))]),
        )
        .map(drop)
    }

    fn lost_instance(&self, error: &str) -> bool {
        self.kong >= KongVersion::new(3, 0, 0)
            && (error.contains("closed") || error.contains("no plugin instance"))
    }

    /// Kong 3.8 and later answer 500 for an event that ended with an error; before, the
    /// request goes on without the plugin, as over MsgPack:1.
    fn status_of(&self, result: &Result<Outcome, String>) -> u16 {
        match result {
            Err(_) if self.kong >= KongVersion::new(3, 8, 0) => 500,
            Err(_) => 200,
            Ok(outcome) => outcome.status(),
        }
    }
}

/// The Lua result Kong encodes for `answer`: none for nil, and none for a Kong 2.x error
/// (the dialect has no error answer).
pub fn answer_value(answer: &Answer) -> Option<&Value> {
    match answer {
        Answer::Value(v) => Some(v),
        Answer::Nil | Answer::Error(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_upstream_is_answered_as_each_release_answers_it() {
        let answer = |kong| {
            let method = Schema::of(kong)
                .method("kong.service.set_upstream")
                .expect("a method of every release");
            answer_frame(method, Some(&Value::Boolean(true)))
        };
        assert!(answer(KongVersion::new(3, 6, 1)).is_empty());
        // Bool {v = true}: field 1, varint 1.
        assert_eq!(answer(KongVersion::new(3, 7, 0)), vec![0x08, 0x01]);
    }
}

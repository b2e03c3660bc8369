//! Kong's ProtoBuf:1 client, as `pb_rpc.lua` behaves (Kong 2.4 on), per Kong generation.
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
use pluginhost::protobuf::{
    messages::{
        AuthenticateArgs, AuthenticatedCredential, Bool, ByteString, Call as RpcCommand,
        CmdHandleEvent, CmdStartInstance, Consumer, ConsumerSpec, DictStats, ExitArgs, InstanceRef,
        Int, Key, Kv, ListValue, MemoryStats, Number, RawBody, RawBodyResult, Return, Route,
        RpcCall, RpcReturn, Service, SharedDicts, Struct, Target, Text, UriCapturesResult,
        Value as PbValue, WorkerVm,
    },
    methods::{Input, Method, Output, find},
    structpb::{from_struct, from_value, to_struct, to_value},
};
use prost::Message;
use rmpv::Value;

use crate::kong::{Answer, Call, Client, Outcome, READ_TIMEOUT, get};

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

    /// Writes `call`, reads the `RpcReturn`, checks its sequence.
    fn call(&self, conn: &mut Conn, call: RpcCommand) -> Result<RpcReturn, String> {
        let sequence = self.next_sequence();
        let call = RpcCall {
            sequence,
            call: Some(call),
        };
        conn.send(&call.encode_to_vec())?;
        let ret = RpcReturn::decode(conn.read()?.as_slice()).expect("an RpcReturn");
        assert_eq!(
            ret.sequence, sequence,
            "RpcReturn.sequence echoes the call's"
        );
        Ok(ret)
    }

    /// One call over a pooled connection, put back only if it worked (Kong's `setkeepalive`
    /// after success; a failed connection is closed).
    fn command(&self, command: RpcCommand) -> Result<RpcReturn, String> {
        let mut conn = self.acquire();
        let ret = self.call(&mut conn, command)?;
        self.release(conn);
        Ok(ret)
    }

    /// The message this Kong release answers `method` with: `kong.service.set_upstream`
    /// answered `Empty` up to Kong 3.6 and `Bool` from 3.7.
    fn output(&self, method: &Method) -> Output {
        match method.name {
            "kong.service.set_upstream" if self.kong < KongVersion::new(3, 7, 0) => Output::Empty,
            _ => method.output,
        }
    }
}

impl Client for ProtoBufKong {
    fn start_instance(&self, name: &str, config: &serde_json::Value) -> Result<u64, String> {
        let ret = self.command(RpcCommand::CmdStartInstance(CmdStartInstance {
            name: name.into(),
            config: config.to_string().into_bytes(),
        }))?;
        match ret.r#return {
            Some(Return::InstanceStatus(status)) => {
                assert!(status.instance_id > 0, "a usable int32 id");
                Ok(status.instance_id as u64)
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
        let call = RpcCall {
            sequence,
            call: Some(RpcCommand::CmdHandleEvent(CmdHandleEvent {
                instance_id: i32::try_from(instance_id).map_err(|_| "an int32 id".to_owned())?,
                event_name: phase.into(),
            })),
        };
        conn.send(&call.encode_to_vec())?;
        let mut calls = Vec::new();
        loop {
            let name = conn.read()?;
            if name.is_empty() {
                break;
            }
            let name = String::from_utf8(name).map_err(|_| "a method name is UTF-8")?;
            let Some(method) = find(&name) else {
                return Err(format!("method \"{name}\" not found"));
            };
            let args = unwrap_args(method.input, &conn.read()?)
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
            conn.send(&wrap_result(self.output(method), &answer))?;
        }
        let ret = RpcReturn::decode(conn.read()?.as_slice()).expect("an RpcReturn");
        assert_eq!(
            ret.sequence, sequence,
            "RpcReturn.sequence echoes the call's"
        );
        assert_eq!(ret.r#return, None, "a handled event returns nothing");
        self.release(conn);
        Ok(Outcome {
            calls,
            exited: false,
        })
    }

    fn close_instance(&self, id: u64) -> Result<(), String> {
        let instance_id = i32::try_from(id).expect("int32 ids");
        self.command(RpcCommand::CmdCloseInstance(InstanceRef { instance_id }))
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

/// The Lua arguments Kong unwraps from a method's input message.
pub fn unwrap_args(input: Input, frame: &[u8]) -> Result<Vec<Value>, prost::DecodeError> {
    let text = |s: String| Value::from(s);
    Ok(match input {
        Input::Empty => Vec::new(),
        Input::Text => vec![text(Text::decode(frame)?.v)],
        Input::Int | Input::Max => vec![Value::from(Int::decode(frame)?.v)],
        Input::Bool => vec![Value::Boolean(Bool::decode(frame)?.v)],
        Input::Bytes => vec![Value::Binary(ByteString::decode(frame)?.v)],
        Input::Kv => {
            let kv = Kv::decode(frame)?;
            vec![text(kv.k), kv.v.as_ref().map_or(Value::Nil, from_value)]
        }
        Input::Exit => {
            let exit = ExitArgs::decode(frame)?;
            let mut args = vec![Value::from(exit.status)];
            let body = Value::from(String::from_utf8_lossy(&exit.body).into_owned());
            match exit.headers {
                Some(headers) => args.extend([body, from_struct(&headers)]),
                None if !exit.body.is_empty() => args.push(body),
                None => {}
            }
            args
        }
        Input::Target => {
            let t = Target::decode(frame)?;
            vec![text(t.host), Value::from(t.port)]
        }
        Input::ConsumerSpec => {
            let c = ConsumerSpec::decode(frame)?;
            vec![text(c.id), Value::Boolean(c.by_username)]
        }
        Input::Authenticate => {
            let a = AuthenticateArgs::decode(frame)?;
            let consumer = a.consumer.map_or(Value::Nil, |c| {
                crate::kong::map([("id", text(c.id)), ("username", text(c.username))])
            });
            let credential = a.credential.map_or(Value::Nil, |c| {
                crate::kong::map([("id", text(c.id)), ("consumer_id", text(c.consumer_id))])
            });
            vec![consumer, credential]
        }
        Input::List => ListValue::decode(frame)?
            .values
            .iter()
            .map(from_value)
            .collect(),
        Input::Table => vec![from_struct(&Struct::decode(frame)?)],
    })
}

/// Kong's answer frame for a Lua result: its output message, or an empty frame for nil (a
/// Kong 2.x error is a nil result here: the dialect has no error answer).
pub fn wrap_result(output: Output, answer: &Answer) -> Vec<u8> {
    let value = match answer {
        Answer::Value(v) => v,
        Answer::Nil | Answer::Error(_) => return Vec::new(),
    };
    let text = |v: &Value| match v {
        Value::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        Value::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        other => other.to_string(),
    };
    let number = |v: &Value| {
        v.as_f64()
            .or_else(|| v.as_i64().map(|i| i as f64))
            .unwrap_or(0.0)
    };
    let field = |key: &str| get(value, key).cloned().unwrap_or(Value::Nil);
    let field_text = |key: &str| get(value, key).map(text).unwrap_or_default();
    let field_int = |key: &str| get(value, key).and_then(Value::as_i64).unwrap_or(0);
    let field_bool = |key: &str| get(value, key).and_then(Value::as_bool).unwrap_or(false);
    let field_texts = |key: &str| match get(value, key) {
        Some(Value::Array(items)) => items.iter().map(text).collect(),
        _ => Vec::new(),
    };
    let key = |key: &str| {
        get(value, key).map(|k| Key {
            id: get(k, "id").map(text).unwrap_or_default(),
        })
    };
    match output {
        Output::Empty => Vec::new(),
        Output::Text => Text { v: text(value) }.encode_to_vec(),
        Output::Int => Int {
            v: number(value) as i32,
        }
        .encode_to_vec(),
        Output::Number => Number { v: number(value) }.encode_to_vec(),
        Output::Bool => Bool {
            v: value.as_bool().unwrap_or(false),
        }
        .encode_to_vec(),
        Output::Bytes => ByteString {
            v: match value {
                Value::Binary(b) => b.clone(),
                other => text(other).into_bytes(),
            },
        }
        .encode_to_vec(),
        Output::Value => to_value(value).encode_to_vec(),
        Output::Table => match value {
            Value::Map(entries) => to_struct(entries).encode_to_vec(),
            _ => Vec::new(),
        },
        Output::Credential => AuthenticatedCredential {
            id: field_text("id"),
            consumer_id: field_text("consumer_id"),
        }
        .encode_to_vec(),
        Output::Consumer => Consumer {
            id: field_text("id"),
            created_at: field_int("created_at"),
            username: field_text("username"),
            custom_id: field_text("custom_id"),
            tags: field_texts("tags"),
        }
        .encode_to_vec(),
        Output::Route => Route {
            id: field_text("id"),
            created_at: field_int("created_at"),
            updated_at: field_int("updated_at"),
            name: field_text("name"),
            protocols: field_texts("protocols"),
            methods: field_texts("methods"),
            hosts: field_texts("hosts"),
            paths: field_texts("paths"),
            https_redirect_status_code: field_int("https_redirect_status_code") as i32,
            regex_priority: field_int("regex_priority") as i32,
            strip_path: field_bool("strip_path"),
            preserve_host: field_bool("preserve_host"),
            snis: field_texts("snis"),
            tags: field_texts("tags"),
            service: key("service"),
            ..Default::default()
        }
        .encode_to_vec(),
        Output::Service => Service {
            id: field_text("id"),
            created_at: field_int("created_at"),
            updated_at: field_int("updated_at"),
            name: field_text("name"),
            retries: field_int("retries") as i32,
            protocol: field_text("protocol"),
            host: field_text("host"),
            port: field_int("port") as i32,
            path: field_text("path"),
            connect_timeout: field_int("connect_timeout") as i32,
            write_timeout: field_int("write_timeout") as i32,
            read_timeout: field_int("read_timeout") as i32,
            tags: field_texts("tags"),
            client_certificate: key("client_certificate"),
        }
        .encode_to_vec(),
        Output::MemoryStats => {
            let dicts = field("lua_shared_dicts");
            let dict = |name: &str| {
                get(&dicts, name).map(|d| DictStats {
                    allocated_slabs: get(d, "allocated_slabs")
                        .and_then(Value::as_i64)
                        .unwrap_or(0),
                    capacity: get(d, "capacity").and_then(Value::as_i64).unwrap_or(0),
                })
            };
            let vms = match field("workers_lua_vms") {
                Value::Array(items) => items
                    .iter()
                    .map(|w| WorkerVm {
                        http_allocated_gc: get(w, "http_allocated_gc")
                            .and_then(Value::as_i64)
                            .unwrap_or(0),
                        pid: get(w, "pid").and_then(Value::as_i64).unwrap_or(0),
                    })
                    .collect(),
                _ => Vec::new(),
            };
            MemoryStats {
                lua_shared_dicts: Some(SharedDicts {
                    kong: dict("kong"),
                    kong_db_cache: dict("kong_db_cache"),
                }),
                workers_lua_vms: vms,
            }
            .encode_to_vec()
        }
        Output::RawBody => RawBodyResult {
            kind: Some(RawBody::Content(match value {
                Value::Binary(b) => b.clone(),
                other => text(other).into_bytes(),
            })),
        }
        .encode_to_vec(),
        Output::UriCaptures => {
            let bytes = |v: &Value| match v {
                Value::Binary(b) => b.clone(),
                other => text(other).into_bytes(),
            };
            UriCapturesResult {
                unnamed: match field("unnamed") {
                    Value::Array(items) => items.iter().map(bytes).collect(),
                    _ => Vec::new(),
                },
                named: match field("named") {
                    Value::Map(entries) => {
                        entries.iter().map(|(k, v)| (text(k), bytes(v))).collect()
                    }
                    _ => Default::default(),
                },
            }
            .encode_to_vec()
        }
    }
}

/// A structpb value, for tests that build Kong's answers by hand.
pub fn pb_value(value: &Value) -> PbValue {
    to_value(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_upstream_is_answered_as_each_release_answers_it() {
        let method = find("kong.service.set_upstream").unwrap();
        let answer = |kong| {
            let client = ProtoBufKong::new("/nonexistent", kong);
            wrap_result(client.output(method), &Answer::Value(Value::Boolean(true)))
        };
        assert!(answer(KongVersion::new(3, 6, 1)).is_empty());
        assert_eq!(
            answer(KongVersion::new(3, 7, 0)),
            Bool { v: true }.encode_to_vec()
        );
    }
}

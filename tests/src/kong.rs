//! Kong's MsgPack-RPC client, as `kong/runloop/plugin_servers/rpc/mp_rpc.lua` behaves, per
//! Kong generation.
//!
//! Every call takes an idle connection from the pool (or opens one; a pooled connection the
//! server closed while it was idle is gone from the pool, as nginx's keepalive handler drops
//! it), writes one request, reads objects until the response, checks the response's msgid,
//! and puts the connection back. So one event's RPCs travel over whichever connection is free,
//! as in Kong. A `serverPid` notification read on the way that names another pid than the last
//! one makes Kong forget every instance id it holds for the server.
//!
//! A failed `HandleEvent` means a lost instance when its error says `No plugin instance`
//! (exactly so before Kong 2.5, in any case from 2.5); Kong then starts a new instance and
//! tries again: once in Kong 2.0 - 2.2, again and again from 2.3.

use std::{
    io::{Read, Write},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use plugin_abi::schema::KongVersion;
use rmpv::Value;

use crate::encode::kong_pack;

/// How long any read waits before the test fails instead of hanging.
pub const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// One connection to the server, with the bytes read past the last response.
pub struct Conn {
    stream: UnixStream,
    buf: Vec<u8>,
    /// The pids announced by `serverPid` notifications on this connection.
    pub server_pids: Vec<u64>,
}

impl Conn {
    /// Opens a connection. Like Kong, it does not read `serverPid` until it reads a response.
    pub fn open(socket: &Path) -> std::io::Result<Conn> {
        let stream = UnixStream::connect(socket)?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        Ok(Conn {
            stream,
            buf: Vec::new(),
            server_pids: Vec::new(),
        })
    }

    /// Fails a read after `limit` instead of [`READ_TIMEOUT`]: a test that counts answers
    /// given within a few seconds.
    pub fn set_read_timeout(&self, limit: Duration) {
        self.stream
            .set_read_timeout(Some(limit))
            .expect("a positive read timeout");
    }

    /// Writes raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Writes the request `[0, msgid, method, [param]]` in Kong's encoding.
    pub fn send(&mut self, msgid: u64, method: &str, param: Value) -> std::io::Result<()> {
        let request = Value::Array(vec![
            Value::from(0),
            Value::from(msgid),
            Value::from(method),
            Value::Array(vec![param]),
        ]);
        self.send_raw(&kong_pack(&request))
    }

    /// Reads the next object that is not a notification. `None` when the server closed the
    /// connection.
    pub fn read_message(&mut self) -> Option<Value> {
        match self.next_message() {
            Ok(message) => message,
            Err(e) => panic!("reading from pluginhost failed: {e}"),
        }
    }

    /// The next object that is not a notification (noting each `serverPid`); `None` when the
    /// server closed the connection.
    fn next_message(&mut self) -> std::io::Result<Option<Value>> {
        loop {
            while let Some(value) = self.take_object() {
                match value.as_array().map(Vec::as_slice) {
                    Some([kind, label, pid]) if kind.as_u64() == Some(2) => {
                        if label.as_str() == Some("serverPid") {
                            self.server_pids.push(pid.as_u64().unwrap_or(0));
                        }
                    }
                    _ => return Ok(Some(value)),
                }
            }
            if self.read_more()? == 0 {
                return Ok(None);
            }
        }
    }

    /// Reads what the server sent into the buffer; 0 when it closed the connection.
    fn read_more(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// [`Conn::read_response`], but a connection the server closed or reset is the error
    /// Kong's client gets (`closed`), as when a server exits with RPCs in flight.
    pub fn try_read_response(&mut self, msgid: u64) -> Result<Value, String> {
        match self.next_message() {
            Ok(Some(message)) => check_response(&message, msgid),
            Ok(None) => Err("closed".into()),
            Err(e) => Err(format!("closed: {e}")),
        }
    }

    /// Reads the response to `msgid`, asserting what Kong asserts.
    pub fn read_response(&mut self, msgid: u64) -> Result<Value, String> {
        let message = self
            .read_message()
            .expect("pluginhost closed the connection instead of answering");
        check_response(&message, msgid)
    }
    /// Whether the server closed this idle connection: it reads as ended without waiting.
    fn closed_by_peer(&self) -> bool {
        let mut byte = [0u8; 1];
        let flags = rustix::net::RecvFlags::PEEK | rustix::net::RecvFlags::DONTWAIT;
        matches!(
            rustix::net::recv(&self.stream, &mut byte, flags),
            Ok((0, _))
        )
    }

    /// Whether the server has closed this connection (waits up to `READ_TIMEOUT`), answering
    /// nothing more. A reset counts: the server closed it with requests unread.
    pub fn is_closed(&mut self) -> bool {
        loop {
            if self.take_object().is_some_and(|v| {
                !matches!(v.as_array().and_then(|a| a.first()), Some(k) if k.as_u64() == Some(2))
            }) {
                return false;
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => panic!("reading from pluginhost failed: {e}"),
            }
        }
    }

    fn take_object(&mut self) -> Option<Value> {
        let mut cursor = self.buf.as_slice();
        let value = rmpv::decode::read_value(&mut cursor).ok()?;
        let used = self.buf.len() - cursor.len();
        self.buf.drain(..used);
        Some(value)
    }
}

/// The result of `message`, the response to `msgid`, asserting what Kong asserts.
fn check_response(message: &Value, msgid: u64) -> Result<Value, String> {
    let items = message.as_array().expect("a response is an array");

    assert_eq!(items.len(), 4, "a response has 4 elements: {message}");
    assert_eq!(
        items[0].as_u64(),
        Some(1),
        "RPC response expected: {message}"
    );
    assert_eq!(
        items[1].as_u64(),
        Some(msgid),
        "unexpected RPC response ID: {message}"
    );
    match &items[2] {
        Value::Nil => Ok(items[3].clone()),
        Value::String(s) => {
            assert!(items[3].is_nil(), "an error response has a nil result");
            Err(s.as_str().expect("error text is UTF-8").to_owned())
        }
        other => panic!("the error of a response must be nil or a string, got {other}"),
    }
}

/// What Kong answers to a PDK call.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The function's result.
    Value(Value),
    /// No result: `Data` is left out of the Step.
    Nil,
    /// Kong 2.x: the function returned `nil, err` (sent as `plugin.StepError`).
    Error(String),
}

/// A PDK call the plugin made.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The dotted method name.
    pub method: String,
    /// The arguments.
    pub args: Vec<Value>,
}

/// How an event ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Every PDK call, in order.
    pub calls: Vec<Call>,
    /// Whether it ended with `kong.response.exit` (or `error`) rather than `"ret"`.
    pub exited: bool,
}

impl Outcome {
    /// The status the event ended the request with (`kong.response.exit`'s first argument),
    /// or 200 when it let the request go on.
    pub fn status(&self) -> u16 {
        let exit = self.calls.last().filter(|_| self.exited);
        exit.and_then(|c| c.args.first()?.as_u64())
            .map_or(200, |status| status as u16)
    }

    /// The value the event set last for response header `name`.
    pub fn response_header(&self, name: &str) -> Option<&str> {
        self.calls
            .iter()
            .rev()
            .find(|c| c.method == "kong.response.set_header" && c.args[0].as_str() == Some(name))
            .and_then(|c| c.args[1].as_str())
    }
}

/// The answer `nil` to every PDK call.
pub fn nil(_: &Call) -> Answer {
    Answer::Nil
}

/// The `plugin.Step*` method Kong uses to answer a PDK call (`get_step_method`).
pub fn step_method(pdk_method: &str, answer: &Answer) -> &'static str {
    if matches!(answer, Answer::Error(_)) {
        return "plugin.StepError";
    }
    match pdk_method {
        "kong.client.get_credential" | "kong.client.authenticate" => "plugin.StepCredential",
        "kong.client.load_consumer" | "kong.client.get_consumer" => "plugin.StepConsumer",
        "kong.node.get_memory_stats" => "plugin.StepMemoryStats",
        "kong.router.get_route" => "plugin.StepRoute",
        "kong.router.get_service" => "plugin.StepService",
        "kong.request.get_query"
        | "kong.request.get_headers"
        | "kong.response.get_headers"
        | "kong.service.response.get_headers" => "plugin.StepMultiMap",
        _ => "plugin.Step",
    }
}

/// A map with string keys.
pub fn map<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

/// The value under `key` of a map.
pub fn get<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    v.as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

/// What a Kong worker does with a plugin server, in either dialect: [`Kong`] speaks
/// MsgPack:1, [`crate::protobuf::ProtoBufKong`] ProtoBuf:1.
pub trait Client: Sync {
    /// Starts an instance of plugin `name` with `config` (sent as Kong's JSON text); returns
    /// its id.
    fn start_instance(&self, name: &str, config: &serde_json::Value) -> Result<u64, String>;

    /// Runs one `phase` event of instance `instance_id` as Kong's event loop does, answering
    /// each PDK call with `pdk`.
    fn handle_event(
        &self,
        instance_id: u64,
        phase: &str,
        pdk: &mut dyn FnMut(&Call) -> Answer,
    ) -> Result<Outcome, String>;

    /// Closes instance `id`.
    fn close_instance(&self, id: u64) -> Result<(), String>;

    /// Whether Kong takes `error` to mean the server lost the instance, and starts another.
    fn lost_instance(&self, error: &str) -> bool;

    /// How many times an event is tried with a new instance after a lost one (bounded here:
    /// Kong from 2.3 on retries without end).
    fn retries(&self) -> usize {
        2
    }

    /// How many times the client forgot every instance id it held (MsgPack:1's `serverPid`
    /// rule); an id started before the last time is not used again.
    fn forgotten(&self) -> u64 {
        0
    }

    /// The HTTP status Kong answers its client with for an event that ended with `result`:
    /// the status of the plugin's `kong.response.exit`, or, for a handler that returned, 200
    /// (the request goes on to the service, which answers 200 here). Over MsgPack:1 an error
    /// is logged and the request goes on without the plugin (spec §4.2), so 200 too.
    fn status_of(&self, result: &Result<Outcome, String>) -> u16 {
        result.as_ref().map_or(200, Outcome::status)
    }
}

impl Client for Kong {
    fn start_instance(&self, name: &str, config: &serde_json::Value) -> Result<u64, String> {
        Kong::start_instance(self, name, config)
    }

    fn handle_event(
        &self,
        instance_id: u64,
        phase: &str,
        pdk: &mut dyn FnMut(&Call) -> Answer,
    ) -> Result<Outcome, String> {
        Kong::handle_event(self, instance_id, phase, pdk)
    }

    fn close_instance(&self, id: u64) -> Result<(), String> {
        self.call("plugin.CloseInstance", Value::from(id)).map(drop)
    }

    fn lost_instance(&self, error: &str) -> bool {
        if self.kong >= KongVersion::new(2, 5, 0) {
            error.to_lowercase().contains("no plugin instance")
        } else {
            error.contains("No plugin instance")
        }
    }

    fn retries(&self) -> usize {
        if self.kong < KongVersion::new(2, 3, 0) {
            1
        } else {
            2
        }
    }

    fn forgotten(&self) -> u64 {
        self.forgotten.load(Ordering::Relaxed)
    }
}

/// One Kong worker's RPC object for a plugin server socket.
pub struct Kong {
    socket: PathBuf,
    kong: KongVersion,
    idle: Mutex<Vec<Conn>>,
    msgid: AtomicU64,
    /// Every pid seen in a `serverPid` notification.
    pub server_pids: Mutex<Vec<u64>>,
    forgotten: AtomicU64,
    /// Whether a connection closed under a call is Kong's error rather than a test failure.
    tolerant: bool,
}

impl Kong {
    /// A client of the server listening on `socket`, as the newest Kong behaves.
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Kong::of(socket, KongVersion::new(3, 9, 0))
    }

    /// A client of the server listening on `socket`, as Kong release `kong` behaves.
    pub fn of(socket: impl Into<PathBuf>, kong: KongVersion) -> Self {
        Kong {
            socket: socket.into(),
            kong,
            idle: Mutex::default(),
            msgid: AtomicU64::new(0),
            server_pids: Mutex::default(),
            forgotten: AtomicU64::new(0),
            tolerant: false,
        }
    }

    /// A client that, as Kong does, takes a connection the server closed or reset under a
    /// call for that call's error (`closed`), where every other client fails the test: for
    /// tests of servers that come and go.
    pub fn tolerant(socket: impl Into<PathBuf>) -> Self {
        Kong {
            tolerant: true,
            ..Kong::new(socket)
        }
    }

    /// Opens a connection outside the pool.
    pub fn open(&self) -> Conn {
        Conn::open(&self.socket).expect("cannot connect to pluginhost")
    }

    /// Takes an idle pooled connection the server has not closed, or opens one.
    pub fn acquire(&self) -> Conn {
        self.try_acquire().expect("cannot connect to pluginhost")
    }

    /// [`Kong::acquire`], with the error Kong gets when nothing answers on the socket.
    pub fn try_acquire(&self) -> std::io::Result<Conn> {
        let mut idle = self.idle.lock().unwrap();
        while let Some(conn) = idle.pop() {
            if !conn.closed_by_peer() {
                return Ok(conn);
            }
        }
        drop(idle);
        Conn::open(&self.socket)
    }

    /// Returns a connection to the pool, after taking note of the `serverPid`s read on it.
    pub fn release(&self, mut conn: Conn) {
        let mut seen = self.server_pids.lock().unwrap();
        for pid in conn.server_pids.drain(..) {
            if seen.last().is_some_and(|&last| last != pid) {
                self.forgotten.fetch_add(1, Ordering::Relaxed);
            }
            seen.push(pid);
        }
        drop(seen);
        self.idle.lock().unwrap().push(conn);
    }

    /// The next msgid, as Kong's per-Rpc counter gives them.
    pub fn next_msgid(&self) -> u64 {
        self.msgid.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Makes one RPC over a pooled connection. A connection that cannot be made, or written
    /// to, is an error, as Kong logs it (`trying to connect: ...`) and goes on without the
    /// plugin.
    pub fn call(&self, method: &str, param: Value) -> Result<Value, String> {
        let mut conn = self
            .try_acquire()
            .map_err(|e| format!("trying to connect: {e}"))?;
        let msgid = self.next_msgid();
        conn.send(msgid, method, param)
            .map_err(|e| format!("failed to send {method}: {e}"))?;
        if self.tolerant {
            // A connection that failed is not put back, as Kong closes it.
            let result = conn.try_read_response(msgid);
            if !result.as_ref().is_err_and(|e| e.starts_with("closed")) {
                self.release(conn);
            }
            return result;
        }
        let result = conn.read_response(msgid);
        self.release(conn);
        result
    }

    /// `plugin.StartInstance` with `config` as Kong's JSON text; returns the instance id.
    pub fn start_instance(&self, name: &str, config: &serde_json::Value) -> Result<u64, String> {
        let param = map([
            ("Name", Value::from(name)),
            ("Config", Value::from(config.to_string())),
        ]);
        let status = self.call("plugin.StartInstance", param)?;
        Ok(get(&status, "Id")
            .and_then(Value::as_u64)
            .expect("StartInstance returns an Id"))
    }

    /// Runs one event as Kong's `bridge_loop` does, answering each PDK call with `pdk`.
    pub fn handle_event(
        &self,
        instance_id: u64,
        phase: &str,
        mut pdk: impl FnMut(&Call) -> Answer,
    ) -> Result<Outcome, String> {
        let param = map([
            ("InstanceId", Value::from(instance_id)),
            ("EventName", Value::from(phase)),
        ]);
        let mut step = self.call("plugin.HandleEvent", param)?;
        let event_id = get(&step, "EventId")
            .cloned()
            .expect("a step has an EventId");
        let mut calls = Vec::new();
        loop {
            let data = get(&step, "Data").cloned().unwrap_or(Value::Nil);
            if data.as_str() == Some("ret") {
                return Ok(Outcome {
                    calls,
                    exited: false,
                });
            }
            let call = parse_call(&data);
            let terminal = matches!(
                call.method.as_str(),
                "kong.response.exit" | "kong.response.error"
            );
            let answer = pdk(&call);
            calls.push(call);
            if terminal {
                return Ok(Outcome {
                    calls,
                    exited: true,
                });
            }
            let method = step_method(&calls.last().expect("pushed").method, &answer);
            let mut entries = vec![(Value::from("EventId"), event_id.clone())];
            match answer {
                Answer::Value(v) => entries.push((Value::from("Data"), v)),
                Answer::Error(e) => entries.push((Value::from("Data"), Value::from(e))),
                Answer::Nil => {}
            }
            step = self.call(method, Value::Map(entries))?;
        }
    }
}

/// A `Data` that is a PDK call `{Method, Args}`; panics as Kong's Lua would error otherwise.
pub fn parse_call(data: &Value) -> Call {
    let method = get(data, "Method")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("Data must be \"ret\" or {{Method, Args}}, got {data}"))
        .to_owned();
    let args = match get(data, "Args") {
        Some(Value::Array(items)) => items.clone(),
        None | Some(Value::Nil) => Vec::new(),
        Some(other) => panic!("Args must be an array, got {other}"),
    };
    Call { method, args }
}

/// A plugin entity as Kong's `get_instance_id` keeps it: starts an instance on first use, and
/// starts a new one when the client forgot its id or the server lost it.
pub struct Entity<'k> {
    kong: &'k dyn Client,
    name: String,
    config: serde_json::Value,
    /// Its instance's id, and [`Client::forgotten`] when it was started.
    id: Mutex<Option<(u64, u64)>>,
    /// How many instances were started for it.
    pub starts: AtomicU64,
    /// How many events were tried again because the server had lost the instance.
    pub retried: AtomicU64,
}

impl<'k> Entity<'k> {
    /// An entity of plugin `name` with `config`.
    pub fn new(kong: &'k dyn Client, name: &str, config: serde_json::Value) -> Self {
        Entity {
            kong,
            name: name.to_owned(),
            config,
            id: Mutex::new(None),
            starts: AtomicU64::new(0),
            retried: AtomicU64::new(0),
        }
    }

    /// The id of its instance, once started.
    pub fn id(&self) -> Option<u64> {
        self.id.lock().unwrap().map(|(id, _)| id)
    }

    fn instance(&self) -> Result<u64, String> {
        let mut id = self.id.lock().unwrap();
        match *id {
            Some((id, since)) if since == self.kong.forgotten() => return Ok(id),
            _ => {}
        }
        let new = self.kong.start_instance(&self.name, &self.config)?;
        self.starts.fetch_add(1, Ordering::Relaxed);
        *id = Some((new, self.kong.forgotten()));
        Ok(new)
    }

    /// Runs `phase`, trying again with a new instance when the server lost ours (the client's
    /// rules: see [`Client::lost_instance`] and [`Client::retries`]).
    pub fn run(
        &self,
        phase: &str,
        mut pdk: impl FnMut(&Call) -> Answer,
    ) -> Result<Outcome, String> {
        let mut tries = 0;
        loop {
            let id = self.instance()?;
            match self.kong.handle_event(id, phase, &mut pdk) {
                Err(e) if self.kong.lost_instance(&e) => {
                    *self.id.lock().unwrap() = None;
                    if tries == self.kong.retries() {
                        return Err(e);
                    }
                    tries += 1;
                    self.retried.fetch_add(1, Ordering::Relaxed);
                }
                other => return other,
            }
        }
    }
}

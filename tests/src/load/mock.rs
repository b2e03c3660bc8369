//! The protocol baseline: a server that answers Kong's event exchange with no plugin runtime.
//!
//! It speaks the same MessagePack-RPC as pluginhost on one async thread: `StartInstance` gives
//! an id, `HandleEvent` and each `Step` answer the next call of a fixed script (already
//! encoded), then `"ret"`. Events live in one table keyed by id, since Kong's Steps come over
//! any pooled connection. What pluginhost does beyond this (running plugin code, checking
//! requests) is what the ratio to this server measures.

use std::{cell::RefCell, collections::HashMap, io, path::Path, rc::Rc};

use rmpv::{Value, ValueRef};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{UnixListener, UnixStream},
};

use super::wire::field;

/// The PDK calls one event makes, in order.
#[derive(Debug, Clone)]
pub struct Script {
    /// `(method, encoded argument array)` for each call.
    pub calls: Vec<(String, Vec<u8>)>,
}

impl Script {
    /// hello's access phase: read `host`, set one response header.
    pub fn hello() -> Script {
        Script::of(vec![
            ("kong.request.get_header", vec![Value::from("host")]),
            (
                "kong.response.set_header",
                vec![
                    Value::from("x-hello-from-rust"),
                    Value::from("Rust says hello to example.com"),
                ],
            ),
        ])
    }

    /// The ten-call exchange of `rust-request-transformer` adding nine headers: read the
    /// headers, set nine on the service request.
    pub fn ten_calls() -> Script {
        let mut calls = vec![("kong.request.get_headers", vec![Value::Nil])];
        for i in 1..=9 {
            calls.push((
                "kong.service.request.set_header",
                vec![
                    Value::from(format!("x-bench-{i}")),
                    Value::from(i.to_string()),
                ],
            ));
        }
        Script::of(calls)
    }

    fn of(calls: Vec<(&str, Vec<Value>)>) -> Script {
        let calls = calls
            .into_iter()
            .map(|(method, args)| {
                let mut bytes = Vec::new();
                let _ = rmpv::encode::write_value(&mut bytes, &Value::Array(args));
                (method.to_owned(), bytes)
            })
            .collect();
        Script { calls }
    }
}

struct State {
    script: Script,
    /// Event id → index of the call it is suspended at.
    events: RefCell<HashMap<u64, usize>>,
    next_id: RefCell<u64>,
}

/// Serves the mock on `socket` until the process is killed.
pub fn serve(socket: &Path, script: Script) -> io::Result<()> {
    let _ = std::fs::remove_file(socket);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
        let listener = UnixListener::bind(socket)?;
        let state = Rc::new(State {
            script,
            events: RefCell::default(),
            next_id: RefCell::new(0),
        });
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::task::spawn_local(connection(Rc::clone(&state), stream));
        }
    })
}

async fn connection(state: Rc<State>, mut stream: UnixStream) -> io::Result<()> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&[0x93, 0x02, 0xa9]);
    out.extend_from_slice(b"serverPid");
    let _ = rmp::encode::write_uint(&mut out, u64::from(std::process::id()));
    stream.write_all(&out).await?;
    let mut buf = Vec::with_capacity(4096);
    loop {
        let mut cursor = buf.as_slice();
        match rmpv::decode::read_value_ref(&mut cursor) {
            Ok(request) => {
                let used = buf.len() - cursor.len();
                out.clear();
                state.answer(&request, &mut out);
                buf.drain(..used);
                stream.write_all(&out).await?;
                continue;
            }
            Err(
                rmpv::decode::Error::InvalidMarkerRead(e) | rmpv::decode::Error::InvalidDataRead(e),
            ) if e.kind() == io::ErrorKind::UnexpectedEof => {}
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
    }
}

impl State {
    fn answer(&self, request: &ValueRef<'_>, out: &mut Vec<u8>) {
        let ValueRef::Array(items) = request else {
            return;
        };
        let (msgid, method, param) = match items.as_slice() {
            [_, msgid, ValueRef::String(method), ValueRef::Array(params)] => (
                msgid,
                method.as_str().unwrap_or_default(),
                params.first().unwrap_or(&ValueRef::Nil),
            ),
            _ => return,
        };
        let _ = rmp::encode::write_array_len(out, 4);
        let _ = rmp::encode::write_uint(out, 1);
        let _ = rmpv::encode::write_value_ref(out, msgid);
        match method {
            "plugin.StartInstance" => {
                let _ = rmp::encode::write_nil(out);
                let _ = rmp::encode::write_map_len(out, 1);
                let _ = rmp::encode::write_str(out, "Id");
                let _ = rmp::encode::write_uint(out, 1);
            }
            "plugin.HandleEvent" => {
                let id = {
                    let mut next = self.next_id.borrow_mut();
                    *next += 1;
                    *next
                };
                self.step(id, 0, out);
            }
            _ if method.starts_with("plugin.Step") => {
                let id = field(param, "EventId")
                    .and_then(ValueRef::as_u64)
                    .unwrap_or(0);
                let at = self.events.borrow_mut().remove(&id);
                match at {
                    Some(at) => self.step(id, at + 1, out),
                    None => {
                        let _ = rmp::encode::write_str(out, &format!("No running event {id}"));
                        let _ = rmp::encode::write_nil(out);
                    }
                }
            }
            other => {
                let _ = rmp::encode::write_str(out, &format!("rpc: can't find method {other}"));
                let _ = rmp::encode::write_nil(out);
            }
        }
    }

    /// Writes the `{EventId, Data}` result for call `at` of event `id` (or `"ret"`).
    fn step(&self, id: u64, at: usize, out: &mut Vec<u8>) {
        let _ = rmp::encode::write_nil(out);
        let _ = rmp::encode::write_map_len(out, 2);
        let _ = rmp::encode::write_str(out, "EventId");
        let _ = rmp::encode::write_uint(out, id);
        let _ = rmp::encode::write_str(out, "Data");
        match self.script.calls.get(at) {
            Some((method, args)) => {
                self.events.borrow_mut().insert(id, at);
                let _ = rmp::encode::write_map_len(out, 2);
                let _ = rmp::encode::write_str(out, "Method");
                let _ = rmp::encode::write_str(out, method);
                let _ = rmp::encode::write_str(out, "Args");
                out.extend_from_slice(args);
            }
            None => {
                let _ = rmp::encode::write_str(out, "ret");
            }
        }
    }
}

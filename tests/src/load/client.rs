//! The load generator's client: Kong's plugin-server side, as one nginx worker drives it.
//!
//! `in_flight` events run at once on one thread (an nginx worker is one thread too). Every RPC
//! takes the most recently returned idle connection (the cosocket pool is LIFO) or opens a new
//! one, and gives it back when the response is in, so one event's RPCs travel over whichever
//! connection is free. At most `pool_size` idle connections are kept, as
//! `lua_socket_pool_size` does. No request is pipelined.

use std::{
    cell::{Cell, RefCell},
    io,
    path::{Path, PathBuf},
    rc::Rc,
    time::{Duration, Instant},
};

use rmpv::{Value, ValueRef};

use super::{
    procfs,
    wire::{Conn, field, handle_event_param, kong_str, request_head},
};
use crate::{
    kong::{Answer, get, map, step_method},
    kong_proto::{Schema, answer_frame},
    protobuf::answer_value,
};
use plugin_abi::schema::KongVersion;
use pluginhost::wire::protobuf::messages::{
    Call as PbCall, CmdHandleEvent, CmdStartInstance, Return, RpcCall, RpcReturn,
};
use prost::Message;

/// The schema of the Kong release the load's ProtoBuf:1 answers are encoded for: the PDK's
/// answers come from Kong's `pluginsocket.proto`, as Kong encodes them.
fn kong_proto() -> &'static Schema {
    Schema::of(KongVersion::new(3, 9, 0))
}

/// Kong's default `lua_socket_pool_size`.
pub const KONG_POOL_SIZE: usize = 256;

/// What one unit of load is.
#[derive(Debug, Clone)]
pub enum Exchange {
    /// One request/response round trip of `frame` on a server that echoes bytes.
    Echo {
        /// The bytes sent and expected back.
        frame: Vec<u8>,
    },
    /// One event: `HandleEvent`, a `Step` answering each PDK call, until `"ret"`.
    Event {
        /// The instance the events run on (from `plugin.StartInstance`).
        instance: u64,
        /// The phase.
        phase: String,
    },
    /// One event over ProtoBuf:1: `cmd_handle_event`, Kong's answer frame to each PDK call,
    /// on the one connection, until the empty frame and the `RpcReturn`.
    ProtoBufEvent {
        /// The instance the events run on (from `cmd_start_instance`).
        instance: u64,
        /// The phase.
        phase: String,
    },
}

/// A measurement to make.
#[derive(Debug, Clone)]
pub struct Load {
    /// The server's socket.
    pub socket: PathBuf,
    /// Events (or echoes) running at once.
    pub in_flight: usize,
    /// Idle connections kept.
    pub pool_size: usize,
    /// Load before measuring, to open connections and warm caches.
    pub warmup: Duration,
    /// How long to measure.
    pub measure: Duration,
    /// The server process, for its CPU time.
    pub server_pid: Option<u32>,
    /// The request's `Authorization` header, which `kong.request.get_header("authorization")`
    /// is answered with; `None`: every header is `example.com`.
    pub authorization: Option<String>,
    /// What each unit of load is.
    pub exchange: Exchange,
}

impl Load {
    /// `instance`'s access events on the server at `socket` (process `pid`), as the benchmark
    /// runs them: Kong's pool size, 300 ms of warm-up, then `measure`.
    pub fn access(
        socket: &std::path::Path,
        pid: u32,
        instance: u64,
        in_flight: usize,
        measure: Duration,
    ) -> Load {
        Load {
            socket: socket.to_owned(),
            in_flight,
            pool_size: KONG_POOL_SIZE,
            warmup: Duration::from_millis(300),
            measure,
            server_pid: Some(pid),
            authorization: None,
            exchange: Exchange::Event {
                instance,
                phase: "access".into(),
            },
        }
    }
}

/// What one measurement found.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// Events (or echoes) running at once.
    pub in_flight: usize,
    /// Events completed in the window.
    pub events: u64,
    /// RPCs completed in the window.
    pub rpcs: u64,
    /// The window.
    pub seconds: f64,
    /// Median time from the first request of an event to the last response.
    pub p50: Duration,
    /// 99th percentile of the same.
    pub p99: Duration,
    /// The server's CPU time in the window, divided by `events`.
    pub server_cpu_per_event: Option<Duration>,
    /// The load generator's own CPU time per event.
    pub client_cpu_per_event: Option<Duration>,
    /// Connections opened.
    pub connections: usize,
    /// Bytes Kong wrote to the server in the window: what Kong's side encoded.
    pub bytes_to_server: u64,
    /// Bytes Kong read from the server in the window: what Kong's side decoded.
    pub bytes_from_server: u64,
    /// Events Kong gave up on in the window (no answer within its timeout; see
    /// [`run_as_kong`]).
    pub given_up: u64,
    /// Events that failed in the window (an RPC answered with an error; see [`run_as_kong`]).
    pub failed: u64,
}

impl Figures {
    /// Events per second.
    pub fn events_per_s(&self) -> f64 {
        self.events as f64 / self.seconds
    }

    /// RPCs per second.
    pub fn rpcs_per_s(&self) -> f64 {
        self.rpcs as f64 / self.seconds
    }
}

/// A short load of `instance`'s access events on the server at `socket` (4 in flight for
/// 200 ms), so that its phase has shown it is quick and its threads have started.
pub fn warm_up(socket: &Path, instance: u64) -> io::Result<Figures> {
    run(&Load {
        socket: socket.to_owned(),
        in_flight: 4,
        pool_size: KONG_POOL_SIZE,
        warmup: Duration::ZERO,
        measure: Duration::from_millis(200),
        server_pid: None,
        authorization: None,
        exchange: Exchange::Event {
            instance,
            phase: "access".into(),
        },
    })
}

/// Starts an instance of `plugin` with `config` and returns its id.
pub fn start_instance(socket: &Path, plugin: &str, config: &serde_json::Value) -> io::Result<u64> {
    let runtime = runtime()?;
    runtime.block_on(async {
        let mut conn = Conn::open(socket).await?;
        let param = map([
            ("Name", Value::from(plugin)),
            ("Config", Value::from(config.to_string())),
        ]);
        let status = conn
            .rpc(1, "plugin.StartInstance", param)
            .await?
            .map_err(io::Error::other)?;
        get(&status, "Id")
            .and_then(Value::as_u64)
            .ok_or_else(|| io::Error::other(format!("StartInstance returned no Id: {status}")))
    })
}

/// Starts an instance of `plugin` with `config` over ProtoBuf:1 and returns its id.
pub fn start_instance_protobuf(
    socket: &Path,
    plugin: &str,
    config: &serde_json::Value,
) -> io::Result<u64> {
    runtime()?.block_on(async {
        let mut conn = Conn::open(socket).await?;
        let call = RpcCall {
            sequence: 2,
            call: Some(PbCall::CmdStartInstance(CmdStartInstance {
                name: plugin.into(),
                config: config.to_string().into_bytes(),
            })),
        };
        conn.send_frame(&call.encode_to_vec(), &mut Vec::new())
            .await?;
        let ret = conn
            .read_frame(|frame| RpcReturn::decode(frame))
            .await?
            .map_err(io::Error::other)?;
        match ret.r#return {
            Some(Return::InstanceStatus(status)) => Ok(status.instance_id as u64),
            other => Err(io::Error::other(format!(
                "cmd_start_instance returned {other:?}"
            ))),
        }
    })
}

/// Runs `load` and returns its figures. Fails on the first broken connection or RPC error:
/// a benchmark of a server that answers errors measures nothing.
pub fn run(load: &Load) -> io::Result<Figures> {
    runtime()?.block_on(drive(load, None))
}

/// Runs `load` as Kong does when a server may be slow or refuse: an event with no answer
/// within `give_up` is given up (its connection closed, as Kong's timeout does), an event
/// answered with an error is counted as failed, and the load goes on either way. Only a
/// connection that cannot be made ends it.
pub fn run_as_kong(load: &Load, give_up: Duration) -> io::Result<Figures> {
    runtime()?.block_on(drive(load, Some(give_up)))
}

fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

struct Shared {
    socket: PathBuf,
    idle: RefCell<Vec<Conn>>,
    pool_size: usize,
    opened: Cell<usize>,
    msgid: Cell<u64>,
    measuring: Cell<bool>,
    stop: Cell<bool>,
    latencies: RefCell<Vec<Duration>>,
    given_up: Cell<u64>,
    failed: Cell<u64>,
    rpcs: Cell<u64>,
    bytes_out: Cell<u64>,
    bytes_in: Cell<u64>,
    answers: Answers,
}

impl Shared {
    fn new(socket: &Path, pool_size: usize, authorization: Option<&str>) -> Shared {
        Shared {
            socket: socket.to_owned(),
            idle: RefCell::default(),
            pool_size,
            opened: Cell::new(0),
            msgid: Cell::new(0),
            measuring: Cell::new(false),
            stop: Cell::new(false),
            latencies: RefCell::default(),
            given_up: Cell::new(0),
            failed: Cell::new(0),
            rpcs: Cell::new(0),
            bytes_out: Cell::new(0),
            bytes_in: Cell::new(0),
            answers: Answers::new(authorization),
        }
    }

    async fn acquire(&self) -> io::Result<Conn> {
        let idle = self.idle.borrow_mut().pop();
        match idle {
            Some(conn) => Ok(conn),
            None => {
                self.opened.set(self.opened.get() + 1);
                Conn::open(&self.socket).await
            }
        }
    }

    fn release(&self, mut conn: Conn) {
        let (sent, received) = conn.take_traffic();
        if self.measuring.get() {
            self.bytes_out.set(self.bytes_out.get() + sent);
            self.bytes_in.set(self.bytes_in.get() + received);
        }
        let mut idle = self.idle.borrow_mut();
        if idle.len() < self.pool_size {
            idle.push(conn);
        }
    }

    /// One RPC on a pooled connection; `write_param` appends the request's one parameter.
    async fn rpc<T>(
        &self,
        method: &str,
        write_param: impl FnOnce(&mut Vec<u8>),
        read: impl FnOnce(&ValueRef<'_>) -> T,
    ) -> io::Result<T> {
        let mut conn = self.acquire().await?;
        let msgid = self.msgid.get() + 1;
        self.msgid.set(msgid);
        let mut request = Vec::with_capacity(96);
        request_head(&mut request, msgid, method);
        write_param(&mut request);
        let result = conn.call(&request, msgid, read).await?;
        self.release(conn);
        self.count_rpc();
        result.map_err(|e| io::Error::other(format!("{method} failed: {e}")))
    }

    async fn echo(&self, frame: &[u8]) -> io::Result<()> {
        let mut conn = self.acquire().await?;
        conn.echo(frame).await?;
        self.release(conn);
        self.count_rpc();
        Ok(())
    }

    fn count_rpc(&self) {
        if self.measuring.get() {
            self.rpcs.set(self.rpcs.get() + 1);
        }
    }

    /// One access event as Kong's `bridge_loop` runs it.
    async fn event(&self, instance: u64, phase: &str) -> io::Result<()> {
        let mut next = self
            .rpc(
                "plugin.HandleEvent",
                |out| handle_event_param(out, instance, phase),
                Next::of,
            )
            .await??;
        loop {
            let (event_id, method, authorization) = match next {
                Next::Ret => return Ok(()),
                Next::Call {
                    event_id,
                    method,
                    authorization,
                } => (event_id, method, authorization),
            };
            if matches!(
                method.as_str(),
                "kong.response.exit" | "kong.response.error"
            ) {
                return Ok(());
            }
            let answer = self.answers.for_call(&method, authorization);
            next = self
                .rpc(
                    answer.step_method,
                    |out| {
                        out.push(if answer.data.is_empty() { 0x81 } else { 0x82 });
                        kong_str(out, "EventId");
                        let _ = rmp::encode::write_uint(out, event_id);
                        if !answer.data.is_empty() {
                            kong_str(out, "Data");
                            out.extend_from_slice(&answer.data);
                        }
                    },
                    Next::of,
                )
                .await??;
        }
    }
}

impl Shared {
    /// One access event as Kong's ProtoBuf:1 client runs it, on one pooled connection.
    async fn protobuf_event(&self, instance: u64, phase: &str) -> io::Result<()> {
        let mut conn = self.acquire().await?;
        let sequence = self.msgid.get() + 2;
        self.msgid.set(self.msgid.get() + 1);
        let call = RpcCall {
            sequence: sequence as i64,
            call: Some(PbCall::CmdHandleEvent(CmdHandleEvent {
                instance_id: instance as i32,
                event_name: phase.into(),
            })),
        };
        let mut scratch = Vec::with_capacity(64);
        conn.send_frame(&call.encode_to_vec(), &mut scratch).await?;
        loop {
            let method = conn
                .read_frame(|name| std::str::from_utf8(name).map(str::to_owned))
                .await?
                .map_err(|_| io::Error::other("a method name that is not UTF-8"))?;
            if method.is_empty() {
                break;
            }
            // The arguments: read, as Kong decodes them.
            conn.read_frame(|_| ()).await?;
            if self.measuring.get() {
                self.rpcs.set(self.rpcs.get() + 1);
            }
            let answer = self.answers.protobuf(&method)?;
            conn.send_frame(answer, &mut scratch).await?;
        }
        let returned = conn
            .read_frame(|frame| RpcReturn::decode(frame).map(|r| r.sequence))
            .await?
            .map_err(io::Error::other)?;
        if returned != sequence as i64 {
            return Err(io::Error::other(format!(
                "RpcReturn.sequence {returned}, sent {sequence}"
            )));
        }
        self.release(conn);
        self.count_rpc();
        Ok(())
    }
}

/// What a step result asks for next.
enum Next {
    Ret,
    Call {
        event_id: u64,
        method: String,
        /// Whether its first argument is `authorization` (a `get_header` for it).
        authorization: bool,
    },
}

impl Next {
    /// Reads `{EventId, Data}`, where `Data` is `"ret"` or `{Method, Args}`.
    fn of(result: &ValueRef<'_>) -> io::Result<Next> {
        let bad = || io::Error::other(format!("not a step result: {result}"));
        let event_id = field(result, "EventId")
            .and_then(ValueRef::as_u64)
            .ok_or_else(bad)?;
        let data = field(result, "Data").ok_or_else(bad)?;
        if let ValueRef::String(s) = data {
            return match s.as_str() {
                Some("ret") => Ok(Next::Ret),
                _ => Err(bad()),
            };
        }
        let method = match field(data, "Method") {
            Some(ValueRef::String(s)) => s.as_str().ok_or_else(bad)?.to_owned(),
            _ => return Err(bad()),
        };
        let authorization = match field(data, "Args") {
            Some(ValueRef::Array(args)) => args.first().is_some_and(|a| {
                matches!(a, ValueRef::String(s) if s.as_str().is_some_and(|n| n.eq_ignore_ascii_case("authorization")))
            }),
            _ => false,
        };
        Ok(Next::Call {
            event_id,
            method,
            authorization,
        })
    }
}

/// Kong's answer to one PDK method, encoded once.
struct EncodedAnswer {
    step_method: &'static str,
    /// The encoded `Data`; empty when Kong leaves `Data` out (a `nil` result).
    data: Vec<u8>,
    /// The same answer as the method's ProtoBuf:1 output message.
    protobuf: Option<Vec<u8>>,
}

/// The answers the load generator gives, by method.
struct Answers {
    by_method: Vec<(&'static str, EncodedAnswer)>,
    other: EncodedAnswer,
    /// `get_header("authorization")`'s answer, when the load sends one.
    authorization: Option<EncodedAnswer>,
}

impl Answers {
    fn new(authorization: Option<&str>) -> Answers {
        let encode_answer = |method: &'static str, answer: Answer| {
            let data = match &answer {
                Answer::Value(v) => crate::encode::kong_pack(v),
                Answer::Error(e) => crate::encode::kong_pack(&Value::from(e.as_str())),
                Answer::Nil => Vec::new(),
            };
            EncodedAnswer {
                step_method: step_method(method, &answer),
                data,
                protobuf: kong_proto()
                    .method(method)
                    .map(|m| answer_frame(m, answer_value(&answer))),
            }
        };
        let encode = |method: &'static str| encode_answer(method, answer(method));
        Answers {
            by_method: ANSWERED.iter().map(|&m| (m, encode(m))).collect(),
            other: encode(""),
            authorization: authorization.map(|value| {
                encode_answer("kong.request.get_header", Answer::Value(Value::from(value)))
            }),
        }
    }

    /// The answer to a call of `method`: the load's own `authorization` for a `get_header`
    /// of that header (`authorization`), when the load has one.
    fn for_call(&self, method: &str, authorization: bool) -> &EncodedAnswer {
        match &self.authorization {
            Some(answer) if authorization && method == "kong.request.get_header" => answer,
            _ => self.for_method(method),
        }
    }

    /// The ProtoBuf:1 answer frame for `method`.
    fn protobuf(&self, method: &str) -> io::Result<&[u8]> {
        if let Some((_, a)) = self.by_method.iter().find(|(m, _)| *m == method) {
            return a
                .protobuf
                .as_deref()
                .ok_or_else(|| io::Error::other(format!("method \"{method}\" not found")));
        }
        kong_proto()
            .method(method)
            .map(|_| &[][..])
            .ok_or_else(|| io::Error::other(format!("method \"{method}\" not found")))
    }

    fn for_method(&self, method: &str) -> &EncodedAnswer {
        self.by_method
            .iter()
            .find(|(m, _)| *m == method)
            .map_or(&self.other, |(_, a)| a)
    }
}

/// The methods [`answer`] gives a value; every other call is answered `nil`.
const ANSWERED: [&str; 4] = [
    "kong.request.get_header",
    "kong.request.get_headers",
    "kong.nginx.req_start_time",
    "kong.client.get_forwarded_ip",
];

/// What Kong answers to the PDK calls the benchmarked plugins make: a request with two
/// headers, from one client, at one moment (so that rate-limit counts in one window).
pub fn answer(method: &str) -> Answer {
    match method {
        "kong.request.get_header" => Answer::Value(Value::from("example.com")),
        "kong.request.get_headers" => Answer::Value(map([
            ("host", Value::from("example.com")),
            ("user-agent", Value::from("kong-sim-loadgen")),
        ])),
        "kong.nginx.req_start_time" => Answer::Value(Value::F64(1_000_000_000.0)),
        "kong.client.get_forwarded_ip" => Answer::Value(Value::from("192.0.2.1")),
        _ => Answer::Nil,
    }
}

async fn drive(load: &Load, give_up: Option<Duration>) -> io::Result<Figures> {
    let shared = Shared::new(&load.socket, load.pool_size, load.authorization.as_deref());
    // Room for every latency of a run, so that growing the list never lands in the window.
    shared.latencies.borrow_mut().reserve(1 << 20);
    let shared = Rc::new(shared);
    let local = tokio::task::LocalSet::new();
    let mut workers = Vec::new();
    for _ in 0..load.in_flight {
        let shared = Rc::clone(&shared);
        let exchange = load.exchange.clone();
        workers.push(local.spawn_local(async move {
            while !shared.stop.get() {
                let started = Instant::now();
                let exchanged = async {
                    match &exchange {
                        Exchange::Echo { frame } => shared.echo(frame).await,
                        Exchange::Event { instance, phase } => shared.event(*instance, phase).await,
                        Exchange::ProtoBufEvent { instance, phase } => {
                            shared.protobuf_event(*instance, phase).await
                        }
                    }
                };
                let Some(limit) = give_up else {
                    exchanged.await?;
                    if shared.measuring.get() {
                        shared.latencies.borrow_mut().push(started.elapsed());
                    }
                    continue;
                };
                let counter = match tokio::time::timeout(limit, exchanged).await {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) if e.kind() == io::ErrorKind::Other => Some(&shared.failed),
                    Ok(Err(e)) => return Err(e),
                    Err(_elapsed) => Some(&shared.given_up),
                };
                if let Some(counter) = counter {
                    if shared.measuring.get() {
                        counter.set(counter.get() + 1);
                    }
                    // Kong's requests come at the clients' pace: the client of a failed event
                    // comes back later, not at once.
                    if std::ptr::eq(counter, &shared.failed) {
                        tokio::time::sleep(limit).await;
                    }
                    continue;
                }
                if shared.measuring.get() {
                    shared.latencies.borrow_mut().push(started.elapsed());
                }
            }
            Ok::<(), io::Error>(())
        }));
    }
    let me = std::process::id();
    let window = local
        .run_until(async {
            tokio::time::sleep(load.warmup).await;
            let server_before = load.server_pid.and_then(procfs::cpu_time);
            let client_before = procfs::cpu_time(me);
            let started = Instant::now();
            shared.measuring.set(true);
            tokio::time::sleep(load.measure).await;
            shared.measuring.set(false);
            let seconds = started.elapsed().as_secs_f64();
            let server = load
                .server_pid
                .and_then(procfs::cpu_time)
                .zip(server_before)
                .map(|(after, before)| after.saturating_sub(before));
            let client = procfs::cpu_time(me)
                .zip(client_before)
                .map(|(after, before)| after.saturating_sub(before));
            shared.stop.set(true);
            for worker in workers {
                worker
                    .await
                    .map_err(|e| io::Error::other(format!("a load task failed: {e}")))??;
            }
            Ok::<_, io::Error>((seconds, server, client))
        })
        .await?;
    let (seconds, server_cpu, client_cpu) = window;
    let mut latencies = shared.latencies.take();
    latencies.sort_unstable();
    let events = latencies.len() as u64;
    let per_event = |total: Duration| total.checked_div(events.max(1) as u32);
    Ok(Figures {
        in_flight: load.in_flight,
        events,
        rpcs: shared.rpcs.get(),
        seconds,
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        server_cpu_per_event: server_cpu.and_then(per_event),
        client_cpu_per_event: client_cpu.and_then(per_event),
        connections: shared.opened.get(),
        bytes_to_server: shared.bytes_out.get(),
        bytes_from_server: shared.bytes_in.get(),
        given_up: shared.given_up.get(),
        failed: shared.failed.get(),
    })
}

/// Starts `count` events of `instance` (`concurrency` at a time) and never answers their
/// first PDK call, as Kong does when a Lua error ends a request mid-event. Returns how many the
/// server started.
pub fn abandon(
    socket: &Path,
    instance: u64,
    count: usize,
    concurrency: usize,
) -> io::Result<usize> {
    let shared = Rc::new(Shared::new(socket, KONG_POOL_SIZE, None));
    let left = Rc::new(Cell::new(count));
    let local = tokio::task::LocalSet::new();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let shared = Rc::clone(&shared);
        let left = Rc::clone(&left);
        workers.push(local.spawn_local(async move {
            let mut started = 0;
            while left.get() > 0 {
                left.set(left.get() - 1);
                let param = |out: &mut Vec<u8>| handle_event_param(out, instance, "access");
                if let Next::Call { .. } =
                    shared.rpc("plugin.HandleEvent", param, Next::of).await??
                {
                    started += 1;
                }
            }
            Ok::<usize, io::Error>(started)
        }));
    }
    runtime()?.block_on(local.run_until(async {
        let mut started = 0;
        for worker in workers {
            started += worker
                .await
                .map_err(|e| io::Error::other(format!("a load task failed: {e}")))??;
        }
        Ok(started)
    }))
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let ms = |n| Duration::from_millis(n);
        let sorted: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(percentile(&sorted, 0.50), ms(50));
        assert_eq!(percentile(&sorted, 0.99), ms(99));
        assert_eq!(percentile(&[ms(7)], 0.99), ms(7));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }
}

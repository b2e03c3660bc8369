//! How the simulated Kong answers each PDK function: it reads or changes the simulated request
//! as Kong's Lua PDK would, including the phase checks Kong makes.

use serde_json::{Value as Json, json};

use super::{
    Answer, Call,
    http::{Headers, LogLine, encode_query, parse_query, query_to_kong},
    state::State,
    to_json,
};
use crate::{
    Phase,
    pdk::{LogLevel, MultiMap},
};

/// The node id `kong.node.get_id` answers.
const NODE_ID: &str = "6f2c1a7e-8d3b-4c55-9a0e-1b2c3d4e5f60";
/// The request id `$request_id` holds.
const REQUEST_ID: &str = "4bf2c9a1d3e5f7a9b1c3d5e7f9a1b3c5";
/// When the simulated request started, in seconds.
const START_TIME: f64 = 1_764_000_000.25;

/// Kong's default `max_headers`/`max_args`.
const DEFAULT_MAX: usize = 100;

/// The answer to `call`, changing `state` as Kong would.
pub(super) fn answer(state: &mut State, call: &Call) -> Answer {
    let args = Args(&call.args);
    let method = call.method.as_str();
    if let Some(refusal) = phase_check(method, state.phase) {
        return refusal;
    }
    if let Some(level) = log_level(method) {
        let message = call.args.iter().map(display).collect::<String>();
        state.logs.push(LogLine { level, message });
        return Answer::Nil;
    }
    let request = &state.request;
    match method {
        "kong.client.get_ip" | "kong.client.get_forwarded_ip" => text(&request.client_ip),
        "kong.client.get_port" | "kong.client.get_forwarded_port" => number(request.client_port),
        "kong.client.get_protocol" => text(&request.scheme),
        "kong.client.get_credential" => entity(&state.credential),
        "kong.client.get_consumer" => entity(&state.consumer),
        "kong.client.load_consumer" => {
            let key = args.text(0);
            let by_username = args.flag(1);
            let found = state.consumers.iter().find(|c| match by_username {
                true => c.username.as_deref() == key.as_deref(),
                false => Some(c.id.as_str()) == key.as_deref(),
            });
            entity(&found.cloned())
        }
        "kong.client.authenticate" => {
            let consumer = args.decode(0);
            let credential = args.decode(1);
            if consumer.is_none() && credential.is_none() {
                return Answer::Error("either credential or consumer must be provided".into());
            }
            state.consumer = consumer;
            state.credential = credential;
            Answer::Nil
        }
        "kong.ctx.shared.set" => store(&mut state.shared, &args),
        "kong.ctx.shared.get" => {
            Answer::json(args.text(0).and_then(|k| state.shared.get(&k).cloned()))
        }
        "kong.nginx.set_ctx" => store(&mut state.nginx_ctx, &args),
        "kong.nginx.get_ctx" => {
            Answer::json(args.text(0).and_then(|k| state.nginx_ctx.get(&k).cloned()))
        }
        "kong.ip.is_trusted" => Answer::from(false),
        "kong.log.set_serialize_value" => match args.text(0) {
            Some(key) => {
                state.serialize_values.insert(key, args.json(1));
                Answer::Nil
            }
            None => Answer::Error("key must be a string".into()),
        },
        "kong.log.serialize" => text(&serialize(state).to_string()),
        "kong.nginx.get_var" => Answer::json(args.text(0).and_then(|n| nginx_var(state, &n))),
        "kong.nginx.get_tls1_version_str" => match request.scheme.as_str() {
            "https" => text("TLSv1.3"),
            _ => Answer::Nil,
        },
        "kong.nginx.req_start_time" => Answer::from(START_TIME),
        "kong.nginx.get_subsystem" => text("http"),
        "kong.node.get_id" => text(NODE_ID),
        "kong.node.get_memory_stats" => Answer::json(Some(memory_stats())),
        "kong.request.get_scheme" | "kong.request.get_forwarded_scheme" => text(&request.scheme),
        "kong.request.get_host" | "kong.request.get_forwarded_host" => text(&request.host),
        "kong.request.get_port" | "kong.request.get_forwarded_port" => number(request.port),
        "kong.request.get_http_version" => Answer::from(1.1),
        "kong.request.get_method" => text(&request.method),
        "kong.request.get_path" => text(&request.path),
        "kong.request.get_path_with_query" => match request.raw_query.as_str() {
            "" => text(&request.path),
            query => text(&format!("{}?{query}", request.path)),
        },
        "kong.request.get_raw_query" => text(&request.raw_query),
        "kong.request.get_query_arg" => {
            let name = args.text(0);
            let found = parse_query(&request.raw_query)
                .into_iter()
                .find(|(n, _)| Some(n) == name.as_ref());
            match found {
                Some((_, Some(value))) => text(&value),
                Some((_, None)) => Answer::from(true),
                None => Answer::Nil,
            }
        }
        "kong.request.get_query" => {
            Answer::json(Some(query_to_kong(&request.raw_query, args.max(0))))
        }
        "kong.request.get_header" => header(&request.headers, &args),
        "kong.request.get_headers" => Answer::json(Some(request.headers.to_kong(args.max(0)))),
        "kong.request.get_raw_body" => Answer::Value(request.body.clone().into()),
        "kong.request.get_uri_captures" => Answer::json(Some(
            json!({"unnamed": [request.path.clone()], "named": {}}),
        )),
        "kong.response.get_status" => number(state.response.status),
        "kong.response.get_header" => header(&state.response.headers, &args),
        "kong.response.get_headers" => {
            Answer::json(Some(state.response.headers.to_kong(args.max(0))))
        }
        "kong.response.get_source" => text(state.response.source),
        "kong.response.set_status" => match args.int(0) {
            Some(status @ 100..=599) => {
                state.response.status = status as u16;
                Answer::Nil
            }
            _ => Answer::Error("code must be a number between 100 and 599".into()),
        },
        "kong.response.set_header" => edit(&mut state.response.headers, &args, Headers::set),
        "kong.response.add_header" => edit(&mut state.response.headers, &args, Headers::add),
        "kong.response.clear_header" => clear(&mut state.response.headers, &args),
        "kong.response.set_headers" => {
            state.response.headers.set_many(&args.multimap(0));
            Answer::Nil
        }
        "kong.response.exit" => exit(state, &args),
        "kong.response.error" => {
            let status = args.int(0).unwrap_or(500) as u16;
            let mut headers = headers_of(&args.multimap(2));
            headers.set("content-type", "application/json; charset=utf-8");
            let body = kong_error_body(status, args.text(1).as_deref());
            state.end("error", status, &headers, body);
            Answer::Nil
        }
        "kong.router.get_route" => entity(&state.route),
        "kong.router.get_service" => entity(&state.service),
        "kong.service.set_upstream" => match args.text(0) {
            Some(host) => {
                state.service_request.upstream = Some(host);
                Answer::from(true)
            }
            None => Answer::Error("host must be a string".into()),
        },
        "kong.service.set_target" => match (args.text(0), args.int(1)) {
            (Some(host), Some(port @ 0..=65535)) => {
                state.service_request.target = Some((host, port as u16));
                Answer::Nil
            }
            _ => Answer::Error("host must be a string and port an integer in 0-65535".into()),
        },
        "kong.service.request.set_scheme" => set(&mut state.service_request.scheme, &args),
        "kong.service.request.set_path" => set(&mut state.service_request.path, &args),
        "kong.service.request.set_raw_query" => set(&mut state.service_request.raw_query, &args),
        "kong.service.request.set_method" => set(&mut state.service_request.method, &args),
        "kong.service.request.set_query" => {
            let pairs: Vec<(String, Option<String>)> = args
                .multimap(0)
                .into_iter()
                .flat_map(|(name, values)| values.into_iter().map(move |v| (name.clone(), Some(v))))
                .collect();
            state.service_request.raw_query = encode_query(&pairs);
            Answer::Nil
        }
        "kong.service.request.set_header" => {
            edit(&mut state.service_request.headers, &args, Headers::set)
        }
        "kong.service.request.add_header" => {
            edit(&mut state.service_request.headers, &args, Headers::add)
        }
        "kong.service.request.clear_header" => clear(&mut state.service_request.headers, &args),
        "kong.service.request.set_headers" => {
            state.service_request.headers.set_many(&args.multimap(0));
            Answer::Nil
        }
        "kong.service.request.set_raw_body" => match args.bytes(0) {
            Some(body) => {
                state.service_request.body = body;
                Answer::Nil
            }
            None => Answer::Error("body must be a string".into()),
        },
        "kong.service.response.get_status" => {
            Answer::json(state.service_response.as_ref().map(|r| r.status.into()))
        }
        "kong.service.response.get_headers" => Answer::json(
            state
                .service_response
                .as_ref()
                .map(|r| r.headers.to_kong(args.max(0))),
        ),
        "kong.service.response.get_header" => match &state.service_response {
            Some(r) => header(&r.headers, &args),
            None => Answer::Nil,
        },
        "kong.service.response.get_raw_body" => match &state.service_response {
            Some(r) => Answer::Value(r.body.clone().into()),
            None => Answer::Nil,
        },
        other => Answer::Error(format!(
            "the simulated Kong does not implement {other}: answer it with SimulatedKong::answering"
        )),
    }
}

/// The phases in which Kong lets a function run, as its PDK checks them; `None` when any.
fn allowed_phases(method: &str) -> Option<&'static [Phase]> {
    const REQUEST: &[Phase] = &[Phase::Rewrite, Phase::Access];
    const RESPONSE: &[Phase] = &[Phase::Response, Phase::Log];
    const BEFORE_LOG: &[Phase] = &[Phase::Rewrite, Phase::Access, Phase::Response];
    if method.starts_with("kong.service.request.") || method.starts_with("kong.service.set_") {
        return Some(REQUEST);
    }
    if method.starts_with("kong.service.response.") || method == "kong.response.get_source" {
        return Some(RESPONSE);
    }
    match method {
        "kong.response.exit"
        | "kong.response.error"
        | "kong.response.set_status"
        | "kong.response.set_header"
        | "kong.response.add_header"
        | "kong.response.clear_header"
        | "kong.response.set_headers" => Some(BEFORE_LOG),
        _ => None,
    }
}

/// Kong's error for a function called in a phase that doesn't allow it.
fn phase_check(method: &str, phase: Option<Phase>) -> Option<Answer> {
    let (phase, allowed) = (phase?, allowed_phases(method)?);
    if allowed.contains(&phase) {
        return None;
    }
    let names: Vec<&str> = allowed.iter().map(|p| p.as_str()).collect();
    Some(Answer::Error(format!(
        "{method}: function cannot be called in {phase} phase (only in: {})",
        names.join(", ")
    )))
}

fn log_level(method: &str) -> Option<LogLevel> {
    use LogLevel::*;
    [Alert, Crit, Err, Warn, Notice, Info, Debug]
        .into_iter()
        .find(|level| level.method() == method)
}

/// `kong.response.exit(status, body, headers)`: a table body is sent as JSON.
fn exit(state: &mut State, args: &Args) -> Answer {
    let Some(status @ 0..=599) = args.int(0) else {
        return Answer::Error("code must be a number between 0 and 599".into());
    };
    let mut headers = headers_of(&args.multimap(2));
    let body = match args.0.get(1) {
        Some(rmpv::Value::Map(_) | rmpv::Value::Array(_)) => {
            if !headers.contains("content-type") {
                headers.set("content-type", "application/json; charset=utf-8");
            }
            args.json(1).to_string().into_bytes()
        }
        _ => args.bytes(1).unwrap_or_default(),
    };
    state.end("exit", status as u16, &headers, body);
    Answer::Nil
}

/// What `kong.log.serialize` returns: the request summary log plugins send, plus every value
/// set with `kong.log.set_serialize_value` (dotted keys make nested objects).
fn serialize(state: &State) -> Json {
    let request = &state.request;
    let url = format!(
        "{}://{}:{}{}",
        request.scheme, request.host, request.port, request.path
    );
    let mut out = json!({
        "request": {
            "method": request.method,
            "uri": request.path,
            "url": url,
            "querystring": query_to_kong(&request.raw_query, DEFAULT_MAX),
            "headers": request.headers.to_kong(DEFAULT_MAX),
            "size": request.body.len(),
        },
        "response": {
            "status": state.response.status,
            "headers": state.response.headers.to_kong(DEFAULT_MAX),
            "size": state.response.body.len(),
        },
        "client_ip": request.client_ip,
        "started_at": (START_TIME * 1000.0) as u64,
    });
    for (key, value) in [
        ("consumer", state.consumer.as_ref().map(to_value)),
        ("route", state.route.as_ref().map(to_value)),
        ("service", state.service.as_ref().map(to_value)),
    ] {
        if let Some(value) = value {
            out[key] = value;
        }
    }
    for (key, value) in &state.serialize_values {
        let mut slot = &mut out;
        for part in key.split('.') {
            if !slot.is_object() {
                *slot = json!({});
            }
            slot = &mut slot[part];
        }
        *slot = value.clone();
    }
    out
}

/// Kong's default error body: `{"message": ...}` with the status's standard text.
fn kong_error_body(status: u16, message: Option<&str>) -> Vec<u8> {
    let default = match status {
        400 => "Bad request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not found",
        405 => "Method not allowed",
        429 => "API rate limit exceeded",
        502 => "An invalid response was received from the upstream server",
        503 => "The upstream server is currently unavailable",
        504 => "The upstream server is timing out",
        _ => "An unexpected error occurred",
    };
    serde_json::json!({ "message": message.unwrap_or(default) })
        .to_string()
        .into_bytes()
}

/// The nginx variables a plugin commonly reads.
fn nginx_var(state: &State, name: &str) -> Option<Json> {
    let request = &state.request;
    let value = match name {
        "request_id" => REQUEST_ID.to_owned(),
        "scheme" => request.scheme.clone(),
        "host" => request.host.clone(),
        "server_port" => request.port.to_string(),
        "request_method" => request.method.clone(),
        "uri" => request.path.clone(),
        "args" | "query_string" => request.raw_query.clone(),
        "request_uri" => match request.raw_query.as_str() {
            "" => request.path.clone(),
            query => format!("{}?{query}", request.path),
        },
        "remote_addr" | "realip_remote_addr" => request.client_ip.clone(),
        "remote_port" => request.client_port.to_string(),
        other => {
            let header = other.strip_prefix("http_")?.replace('_', "-");
            request.headers.get(&header)?.to_owned()
        }
    };
    Some(value.into())
}

fn memory_stats() -> Json {
    json!({
        "lua_shared_dicts": {
            "kong": {"allocated_slabs": 73728, "capacity": 5242880},
            "kong_db_cache": {"allocated_slabs": 794624, "capacity": 134217728},
        },
        "workers_lua_vms": [{"http_allocated_gc": 43910320, "pid": 4242}],
    })
}

/// The arguments of a call, read leniently as Kong's Lua does.
struct Args<'a>(&'a [rmpv::Value]);

impl Args<'_> {
    fn text(&self, i: usize) -> Option<String> {
        match self.0.get(i)? {
            rmpv::Value::String(s) => s.as_str().map(str::to_owned),
            rmpv::Value::Binary(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }

    fn bytes(&self, i: usize) -> Option<Vec<u8>> {
        match self.0.get(i)? {
            rmpv::Value::String(s) => Some(s.as_bytes().to_vec()),
            rmpv::Value::Binary(b) => Some(b.clone()),
            _ => None,
        }
    }

    fn int(&self, i: usize) -> Option<i64> {
        let value = self.0.get(i)?;
        value.as_i64().or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0)
                .map(|f| f as i64)
        })
    }

    fn flag(&self, i: usize) -> bool {
        self.0
            .get(i)
            .and_then(rmpv::Value::as_bool)
            .unwrap_or(false)
    }

    /// `get_headers(max)`/`get_query(max)`: Kong's default when absent.
    fn max(&self, i: usize) -> usize {
        self.int(i)
            .and_then(|m| usize::try_from(m).ok())
            .unwrap_or(DEFAULT_MAX)
    }

    fn json(&self, i: usize) -> Json {
        self.0.get(i).map(to_json).unwrap_or_default()
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, i: usize) -> Option<T> {
        serde_json::from_value(self.json(i)).ok()
    }

    /// A header or query table: each value a string or a list of strings.
    fn multimap(&self, i: usize) -> MultiMap {
        let Json::Object(map) = self.json(i) else {
            return MultiMap::new();
        };
        map.into_iter()
            .map(|(name, value)| {
                let values = match value {
                    Json::Array(items) => items.iter().map(plain).collect(),
                    other => vec![plain(&other)],
                };
                (name, values)
            })
            .collect()
    }
}

fn headers_of(map: &MultiMap) -> Headers {
    let mut headers = Headers::new();
    headers.set_many(map);
    headers
}

fn header(headers: &Headers, args: &Args) -> Answer {
    match args
        .text(0)
        .and_then(|name| headers.get(&name).map(str::to_owned))
    {
        Some(value) => text(&value),
        None => Answer::Nil,
    }
}

fn edit(headers: &mut Headers, args: &Args, op: fn(&mut Headers, &str, &str)) -> Answer {
    match (args.text(0), args.0.get(1)) {
        (Some(name), Some(value)) if !value.is_nil() => {
            op(headers, &name, &plain(&to_json(value)));
            Answer::Nil
        }
        _ => Answer::Error("header name must be a string and value must be given".into()),
    }
}

fn clear(headers: &mut Headers, args: &Args) -> Answer {
    match args.text(0) {
        Some(name) => {
            headers.remove(&name);
            Answer::Nil
        }
        None => Answer::Error("header name must be a string".into()),
    }
}

fn set(field: &mut String, args: &Args) -> Answer {
    match args.text(0) {
        Some(value) => {
            *field = value;
            Answer::Nil
        }
        None => Answer::Error("argument must be a string".into()),
    }
}

fn store(map: &mut std::collections::BTreeMap<String, Json>, args: &Args) -> Answer {
    match args.text(0) {
        Some(key) => {
            map.insert(key, args.json(1));
            Answer::Nil
        }
        None => Answer::Error("key must be a string".into()),
    }
}

fn text(s: &str) -> Answer {
    Answer::from(s)
}

fn number(n: u16) -> Answer {
    Answer::from(n)
}

fn entity<T: serde::Serialize>(value: &Option<T>) -> Answer {
    Answer::json(value.as_ref().map(to_value))
}

fn to_value<T: serde::Serialize>(value: &T) -> Json {
    serde_json::to_value(value).unwrap_or_default()
}

/// A value as Lua's `tostring` writes it in a header or a log line.
fn plain(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn display(value: &rmpv::Value) -> String {
    plain(&to_json(value))
}

//! Kong's answer to a PDK call, a method's output message, into the MessagePack value a
//! plugin reads, the same in both dialects wherever the two carry the same information.
//!
//! Where they do not: proto3 cannot tell a zero from an absent field, so a scalar answer
//! Kong had none for arrives as its zero (a missing header is `""`), and an entity's fields
//! that are zero, empty or `false` are left out, reading as absent (`None`, or empty).

use plugin_abi::ffi::{BridgeError, BridgeErrorKind};
use prost::Message;
use rmpv::Value as Mp;

use super::{
    messages::{
        AuthenticatedCredential, Bool, ByteString, Consumer, DictStats, Int, Key, MemoryStats,
        Number, RawBody, RawBodyResult, Route, Service, Struct, Text, UriCapturesResult, Value,
    },
    methods::{Method, Output},
    structpb::{from_struct, from_value, number},
};

/// The MessagePack answer of `method` for Kong's answer frame `frame`.
pub fn decode(method: &Method, frame: &[u8]) -> Result<Vec<u8>, BridgeError> {
    let value = value(method, frame).map_err(|e| {
        BridgeError::new(
            BridgeErrorKind::HOST,
            format!(
                "{}: Kong's answer is not the message it should be: {e}",
                method.name
            ),
        )
    })??;
    let mut out = Vec::with_capacity(frame.len() + 8);
    // Writes into a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut out, &value);
    Ok(out)
}

type Decoded = Result<Result<Mp, BridgeError>, prost::DecodeError>;

fn value(method: &Method, frame: &[u8]) -> Decoded {
    let v = match method.output {
        Output::Empty => Mp::Nil,
        Output::Text => Mp::from(Text::decode(frame)?.v),
        Output::Int => Mp::from(Int::decode(frame)?.v),
        Output::Number => number(Number::decode(frame)?.v),
        Output::Bool => Mp::Boolean(Bool::decode(frame)?.v),
        Output::Bytes => Mp::Binary(ByteString::decode(frame)?.v),
        // An empty frame is Kong's nil.
        Output::Value if frame.is_empty() => Mp::Nil,
        Output::Value => from_value(&Value::decode(frame)?),
        Output::Table => from_struct(&Struct::decode(frame)?),
        Output::Credential if frame.is_empty() => Mp::Nil,
        Output::Credential => credential(&AuthenticatedCredential::decode(frame)?),
        Output::Consumer if frame.is_empty() => Mp::Nil,
        Output::Consumer => consumer(&Consumer::decode(frame)?),
        Output::MemoryStats => memory_stats(&MemoryStats::decode(frame)?),
        Output::Route => route(&Route::decode(frame)?),
        Output::Service => service(&Service::decode(frame)?),
        Output::UriCaptures => captures(&UriCapturesResult::decode(frame)?),
        Output::RawBody => match RawBodyResult::decode(frame)?.kind {
            None => Mp::Binary(Vec::new()),
            Some(RawBody::Content(body)) => Mp::Binary(body),
            Some(RawBody::BodyFilepath(path)) => {
                return Ok(Err(BridgeError::new(
                    BridgeErrorKind::KONG,
                    format!(
                        "the request body was buffered to the file {path} (larger than \
                         client_body_buffer_size): read it from there"
                    ),
                )));
            }
            Some(RawBody::Error(e)) => {
                return Ok(Err(BridgeError::new(BridgeErrorKind::KONG, e)));
            }
        },
    };
    Ok(Ok(v))
}

/// A map of the entries whose value is not a proto3 zero.
fn entity(entries: Vec<(&str, Mp)>) -> Mp {
    Mp::Map(
        entries
            .into_iter()
            .filter(|(_, v)| !is_zero(v))
            .map(|(k, v)| (Mp::from(k), v))
            .collect(),
    )
}

fn is_zero(v: &Mp) -> bool {
    match v {
        Mp::Nil => true,
        Mp::Boolean(b) => !b,
        Mp::Integer(i) => i.as_i64() == Some(0),
        Mp::String(s) => s.as_bytes().is_empty(),
        Mp::Array(items) => items.is_empty(),
        Mp::Map(entries) => entries.is_empty(),
        _ => false,
    }
}

fn texts(items: &[String]) -> Mp {
    Mp::Array(items.iter().map(|s| Mp::from(s.as_str())).collect())
}

fn key(k: &Option<Key>) -> Mp {
    match k {
        Some(k) if !k.id.is_empty() => entity(vec![("id", Mp::from(k.id.as_str()))]),
        _ => Mp::Nil,
    }
}

fn credential(c: &AuthenticatedCredential) -> Mp {
    entity(vec![
        ("id", Mp::from(c.id.as_str())),
        ("consumer_id", Mp::from(c.consumer_id.as_str())),
    ])
}

fn consumer(c: &Consumer) -> Mp {
    entity(vec![
        ("id", Mp::from(c.id.as_str())),
        ("created_at", Mp::from(c.created_at)),
        ("username", Mp::from(c.username.as_str())),
        ("custom_id", Mp::from(c.custom_id.as_str())),
        ("tags", texts(&c.tags)),
    ])
}

fn route(r: &Route) -> Mp {
    entity(vec![
        ("id", Mp::from(r.id.as_str())),
        ("created_at", Mp::from(r.created_at)),
        ("updated_at", Mp::from(r.updated_at)),
        ("name", Mp::from(r.name.as_str())),
        ("protocols", texts(&r.protocols)),
        ("methods", texts(&r.methods)),
        ("hosts", texts(&r.hosts)),
        ("paths", texts(&r.paths)),
        // A route's headers are a table of lists in Kong, which this field cannot carry.
        (
            "https_redirect_status_code",
            Mp::from(r.https_redirect_status_code),
        ),
        ("regex_priority", Mp::from(r.regex_priority)),
        ("strip_path", Mp::Boolean(r.strip_path)),
        ("preserve_host", Mp::Boolean(r.preserve_host)),
        ("snis", texts(&r.snis)),
        ("tags", texts(&r.tags)),
        ("service", key(&r.service)),
    ])
}

fn service(s: &Service) -> Mp {
    entity(vec![
        ("id", Mp::from(s.id.as_str())),
        ("created_at", Mp::from(s.created_at)),
        ("updated_at", Mp::from(s.updated_at)),
        ("name", Mp::from(s.name.as_str())),
        ("retries", Mp::from(s.retries)),
        ("protocol", Mp::from(s.protocol.as_str())),
        ("host", Mp::from(s.host.as_str())),
        ("port", Mp::from(s.port)),
        ("path", Mp::from(s.path.as_str())),
        ("connect_timeout", Mp::from(s.connect_timeout)),
        ("write_timeout", Mp::from(s.write_timeout)),
        ("read_timeout", Mp::from(s.read_timeout)),
        ("tags", texts(&s.tags)),
        ("client_certificate", key(&s.client_certificate)),
    ])
}

fn dict(d: &Option<DictStats>) -> Mp {
    let d = d.clone().unwrap_or_default();
    Mp::Map(vec![
        (Mp::from("allocated_slabs"), Mp::from(d.allocated_slabs)),
        (Mp::from("capacity"), Mp::from(d.capacity)),
    ])
}

fn memory_stats(m: &MemoryStats) -> Mp {
    let dicts = m.lua_shared_dicts.clone().unwrap_or_default();
    Mp::Map(vec![
        (
            Mp::from("lua_shared_dicts"),
            Mp::Map(vec![
                (Mp::from("kong"), dict(&dicts.kong)),
                (Mp::from("kong_db_cache"), dict(&dicts.kong_db_cache)),
            ]),
        ),
        (
            Mp::from("workers_lua_vms"),
            Mp::Array(
                m.workers_lua_vms
                    .iter()
                    .map(|w| {
                        Mp::Map(vec![
                            (Mp::from("http_allocated_gc"), Mp::from(w.http_allocated_gc)),
                            (Mp::from("pid"), Mp::from(w.pid)),
                        ])
                    })
                    .collect(),
            ),
        ),
    ])
}

fn captures(c: &UriCapturesResult) -> Mp {
    Mp::Map(vec![
        (
            Mp::from("unnamed"),
            Mp::Array(c.unnamed.iter().map(|b| Mp::Binary(b.clone())).collect()),
        ),
        (
            Mp::from("named"),
            Mp::Map(
                c.named
                    .iter()
                    .map(|(k, v)| (Mp::from(k.as_str()), Mp::Binary(v.clone())))
                    .collect(),
            ),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::protobuf::methods::find;

    fn answer(method: &str, frame: &[u8]) -> Mp {
        let bytes = decode(find(method).unwrap(), frame).unwrap();
        rmpv::decode::read_value(&mut bytes.as_slice()).unwrap()
    }

    #[test]
    fn scalars_and_nil() {
        assert_eq!(
            answer("kong.request.get_header", b"\x0a\x02ok"),
            Mp::from("ok")
        );
        // Kong's nil for a missing header: an empty message, which is "".
        assert_eq!(answer("kong.request.get_header", b""), Mp::from(""));
        assert_eq!(answer("kong.ctx.shared.get", b""), Mp::Nil);
        assert_eq!(answer("kong.client.get_consumer", b""), Mp::Nil);
        assert_eq!(answer("kong.response.set_header", b""), Mp::Nil);
        assert_eq!(
            answer(
                "kong.request.get_http_version",
                &Number { v: 1.1 }.encode_to_vec()
            ),
            Mp::F64(1.1)
        );
        assert_eq!(
            answer(
                "kong.request.get_http_version",
                &Number { v: 2.0 }.encode_to_vec()
            ),
            Mp::from(2)
        );
    }

    #[test]
    fn an_entity_leaves_its_zeros_out() {
        let consumer = Consumer {
            id: "c1".into(),
            username: "alice".into(),
            ..Default::default()
        };
        assert_eq!(
            answer("kong.client.get_consumer", &consumer.encode_to_vec()),
            Mp::Map(vec![
                (Mp::from("id"), Mp::from("c1")),
                (Mp::from("username"), Mp::from("alice")),
            ])
        );
    }

    #[test]
    fn a_body_kong_could_not_give_is_an_error() {
        let frame = RawBodyResult {
            kind: Some(RawBody::Error("no body".into())),
        }
        .encode_to_vec();
        let e = decode(find("kong.request.get_raw_body").unwrap(), &frame).unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (BridgeErrorKind::KONG, "no body")
        );
        let e = decode(find("kong.request.get_port").unwrap(), b"\xff").unwrap_err();
        assert!(
            e.message.contains("kong.request.get_port: Kong's answer"),
            "{e:?}"
        );
    }
}

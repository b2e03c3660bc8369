//! A PDK call's arguments, as the plugin encoded them (a MessagePack array, the same in both
//! dialects), into the message Kong's `service Kong` method takes: the reverse of Kong's
//! argument unwrapping, so that the Lua function gets the arguments it gets over MsgPack:1.

use prost::Message;
use rmpv::Value as Mp;

use super::{
    messages::{
        AuthenticateArgs, AuthenticatedCredential, Bool, ByteString, Consumer, ConsumerSpec,
        ExitArgs, Int, Kv, ListValue, Target, Text,
    },
    methods::{Input, Method},
    structpb::{to_json, to_struct, to_value},
};

/// Kong's default for "at most how many" (`max_headers`, `max_args`).
const DEFAULT_MAX: i32 = 100;

/// The input message of `method` for the MessagePack array `args`, encoded into `out`.
pub fn encode(method: &Method, args: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let args = match rmpv::decode::read_value(&mut &args[..]) {
        Ok(Mp::Array(items)) => items,
        Ok(Mp::Nil) => Vec::new(),
        _ => {
            return Err(format!(
                "{}: arguments must be a MessagePack array",
                method.name
            ));
        }
    };
    let arg = |n: usize| args.get(n).unwrap_or(&Mp::Nil);
    let name = method.name;
    match method.input {
        Input::Empty => {}
        Input::Text => Text {
            v: text(name, arg(0))?,
        }
        .encode(out)
        .map_err(encoding)?,
        Input::Int => Int {
            v: int(name, arg(0))?,
        }
        .encode(out)
        .map_err(encoding)?,
        Input::Max => Int {
            v: match arg(0) {
                Mp::Nil => DEFAULT_MAX,
                v => int(name, v)?,
            },
        }
        .encode(out)
        .map_err(encoding)?,
        Input::Bool => Bool {
            v: arg(0).as_bool().unwrap_or(false),
        }
        .encode(out)
        .map_err(encoding)?,
        Input::Bytes => ByteString {
            v: bytes(name, arg(0))?,
        }
        .encode(out)
        .map_err(encoding)?,
        Input::Kv => Kv {
            k: text(name, arg(0))?,
            v: Some(to_value(arg(1))),
        }
        .encode(out)
        .map_err(encoding)?,
        Input::Exit => exit(name, arg(0), arg(1), arg(2))?
            .encode(out)
            .map_err(encoding)?,
        Input::Target => Target {
            host: text(name, arg(0))?,
            port: int(name, arg(1))?,
        }
        .encode(out)
        .map_err(encoding)?,
        Input::ConsumerSpec => ConsumerSpec {
            id: text(name, arg(0))?,
            by_username: arg(1).as_bool().unwrap_or(false),
        }
        .encode(out)
        .map_err(encoding)?,
        Input::Authenticate => AuthenticateArgs {
            consumer: consumer(arg(0)),
            credential: credential(arg(1)),
        }
        .encode(out)
        .map_err(encoding)?,
        Input::List => ListValue {
            values: args.iter().map(to_value).collect(),
        }
        .encode(out)
        .map_err(encoding)?,
        Input::Table => table(name, arg(0))?
            .unwrap_or_default()
            .encode(out)
            .map_err(encoding)?,
    }
    Ok(())
}

/// `kong.response.exit(status, body, headers)`. ExitArgs carries the body as bytes: a table
/// body, which Kong would JSON-encode and label, is encoded and labelled here.
fn exit(name: &str, status: &Mp, body: &Mp, headers: &Mp) -> Result<ExitArgs, String> {
    let mut headers = table(name, headers)?;
    let body = match body {
        Mp::Nil => Vec::new(),
        Mp::String(_) | Mp::Binary(_) => bytes(name, body)?,
        table_body => {
            let headers = headers.get_or_insert_with(Default::default);
            if !headers
                .fields
                .keys()
                .any(|k| k.eq_ignore_ascii_case("content-type"))
            {
                headers.fields.insert(
                    "Content-Type".into(),
                    to_value(&Mp::from("application/json; charset=utf-8")),
                );
            }
            serde_json::to_vec(&to_json(table_body))
                .map_err(|e| format!("{name}: the body cannot be JSON: {e}"))?
        }
    };
    Ok(ExitArgs {
        status: int(name, status)?,
        body,
        headers,
    })
}

fn encoding(e: prost::EncodeError) -> String {
    // Encoding into a Vec only fails for want of memory, which aborts first.
    e.to_string()
}

fn text(method: &str, v: &Mp) -> Result<String, String> {
    match v {
        Mp::String(s) => Ok(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        Mp::Binary(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        Mp::Nil => Ok(String::new()),
        Mp::Integer(i) => Ok(i.to_string()),
        other => Err(format!("{method}: expected text, got {other}")),
    }
}

fn bytes(method: &str, v: &Mp) -> Result<Vec<u8>, String> {
    match v {
        Mp::String(s) => Ok(s.as_bytes().to_vec()),
        Mp::Binary(b) => Ok(b.clone()),
        Mp::Nil => Ok(Vec::new()),
        other => Err(format!("{method}: expected bytes, got {other}")),
    }
}

fn int(method: &str, v: &Mp) -> Result<i32, String> {
    let n = match v {
        Mp::Integer(i) => i.as_i64(),
        Mp::F64(f) if f.fract() == 0.0 => Some(*f as i64),
        Mp::Nil => Some(0),
        _ => None,
    };
    n.and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| format!("{method}: expected a 32-bit integer, got {v}"))
}

fn table(method: &str, v: &Mp) -> Result<Option<prost_types::Struct>, String> {
    match v {
        Mp::Nil => Ok(None),
        Mp::Map(entries) => Ok(Some(to_struct(entries))),
        // An empty Lua table encodes as an empty array.
        Mp::Array(items) if items.is_empty() => Ok(Some(prost_types::Struct::default())),
        other => Err(format!("{method}: expected a table, got {other}")),
    }
}

fn field<'v>(map: &'v Mp, key: &str) -> Option<&'v Mp> {
    map.as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

fn field_text(map: &Mp, key: &str) -> String {
    match field(map, key) {
        Some(Mp::String(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        _ => String::new(),
    }
}

fn consumer(v: &Mp) -> Option<Consumer> {
    v.as_map()?;
    Some(Consumer {
        id: field_text(v, "id"),
        created_at: field(v, "created_at").and_then(Mp::as_i64).unwrap_or(0),
        username: field_text(v, "username"),
        custom_id: field_text(v, "custom_id"),
        tags: field(v, "tags")
            .and_then(Mp::as_array)
            .map(|tags| {
                tags.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

fn credential(v: &Mp) -> Option<AuthenticatedCredential> {
    v.as_map()?;
    Some(AuthenticatedCredential {
        id: field_text(v, "id"),
        consumer_id: field_text(v, "consumer_id"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::protobuf::methods::find;

    fn args(values: Vec<Mp>) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, &Mp::Array(values)).unwrap();
        out
    }

    #[test]
    fn a_header_name_is_the_string_kong_expects() {
        let mut out = Vec::new();
        let method = find("kong.request.get_header").unwrap();
        encode(method, &args(vec![Mp::from("host")]), &mut out).unwrap();
        // The bytes of the protocol's own example.
        assert_eq!(out, [0x0a, 0x04, b'h', b'o', b's', b't']);
    }

    #[test]
    fn defaults_and_refusals() {
        let mut out = Vec::new();
        encode(
            find("kong.request.get_headers").unwrap(),
            &args(vec![]),
            &mut out,
        )
        .unwrap();
        assert_eq!(Int::decode(out.as_slice()).unwrap().v, 100);
        let e = encode(
            find("kong.response.set_status").unwrap(),
            &args(vec![Mp::from("x")]),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(
            e.contains("kong.response.set_status: expected a 32-bit integer"),
            "{e}"
        );
        out.clear();
        encode(
            find("kong.response.exit").unwrap(),
            &args(vec![Mp::from(403), Mp::from("no")]),
            &mut out,
        )
        .unwrap();
        let exit = ExitArgs::decode(out.as_slice()).unwrap();
        assert_eq!((exit.status, exit.body.as_slice()), (403, b"no".as_slice()));
    }
}

//! MessagePack-RPC messages: decoding Kong's requests, encoding our responses.
//!
//! Requests are `[0, msgid, "plugin.Method", [param]]`; responses `[1, msgid, error, result]`;
//! the one notification is `[2, "serverPid", pid]`, written first on every connection. What a
//! request asks for, and the responses, are [`crate::op::msgpack`]'s.

use rmpv::Value;

use super::params::text;

/// A request from Kong.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Echoed back exactly; Kong asserts it.
    pub msgid: Value,
    /// `plugin.StartInstance`, ...
    pub method: String,
    /// The single element of the params array (`Nil` when the array is empty).
    pub param: Value,
}

/// What one frame from Kong turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A request to answer.
    Request(Request),
    /// A notification (type 2): nothing to answer.
    Notification,
    /// Not a request. With a msgid it can still get an error response.
    Malformed {
        /// The msgid, when one could be found.
        msgid: Option<Value>,
        /// What is wrong.
        reason: String,
    },
}

/// Deepest nesting of containers accepted in a request; Kong's own data is a few levels deep.
pub const MAX_DEPTH: usize = 256;

/// rmpv counts two levels per container and up to three for the value inside the deepest
/// one, so this lets [`MAX_DEPTH`] containers through, and a few more when the innermost
/// value is a scalar; [`depth`] settles those.
const RMPV_DEPTH: usize = 2 * MAX_DEPTH + 3;

/// Decodes one complete frame (see [`super::frame::Framer`]).
pub fn decode(frame: &[u8]) -> Incoming {
    let mut cursor = frame;
    let too_deep = || Incoming::Malformed {
        msgid: shallow_msgid(frame),
        reason: format!("request nested deeper than {MAX_DEPTH} levels"),
    };
    let value = match rmpv::decode::read_value_with_max_depth(&mut cursor, RMPV_DEPTH) {
        Ok(v) => v,
        Err(rmpv::decode::Error::DepthLimitExceeded) => return too_deep(),
        Err(e) => {
            return Incoming::Malformed {
                msgid: shallow_msgid(frame),
                reason: format!("undecodable request: {e}"),
            };
        }
    };
    // Nesting deeper than the limit needs more bytes than levels: small frames skip the walk.
    if frame.len() > MAX_DEPTH && depth(&value) > MAX_DEPTH {
        return too_deep();
    }
    let Value::Array(mut items) = value else {
        return Incoming::Malformed {
            msgid: None,
            reason: format!("a request must be an array, got {}", kind(&value)),
        };
    };
    match items.first().and_then(Value::as_u64) {
        Some(2) => return Incoming::Notification,
        Some(0) if items.len() == 4 => {}
        _ => {
            return Incoming::Malformed {
                msgid: items.get(1).cloned(),
                reason:
                    "rpc: service/method request ill-formed: expected [0, msgid, method, params]"
                        .into(),
            };
        }
    }
    let params = items.pop().unwrap_or(Value::Nil);
    let method = items.pop().unwrap_or(Value::Nil);
    let msgid = items.pop().unwrap_or(Value::Nil);
    let Some(method) = text(&method) else {
        return Incoming::Malformed {
            msgid: Some(msgid),
            reason: "rpc: service/method request ill-formed: method is not a string".into(),
        };
    };
    let param = match params {
        Value::Array(mut list) if !list.is_empty() => list.swap_remove(0),
        Value::Array(_) | Value::Nil => Value::Nil,
        // Not an array: take it as the one parameter.
        other => other,
    };
    Incoming::Request(Request {
        msgid,
        method,
        param,
    })
}

/// The `[2, "serverPid", pid]` notification written on every new connection.
pub fn server_pid_notification(pid: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    let _ = rmp::encode::write_array_len(&mut out, 3);
    let _ = rmp::encode::write_uint(&mut out, 2);
    let _ = rmp::encode::write_str(&mut out, "serverPid");
    let _ = rmp::encode::write_uint(&mut out, u64::from(pid));
    out
}

/// A map with string keys, as every result of the protocol is.
pub fn map<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

/// A JSON value as MessagePack (for the decoded `Config` of instance statuses).
pub fn from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Value::from(u),
            (None, Some(i), _) => Value::from(i),
            (None, None, Some(f)) => Value::F64(f),
            _ => Value::Nil,
        },
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(items) => Value::Array(items.iter().map(from_json).collect()),
        serde_json::Value::Object(entries) => Value::Map(
            entries
                .iter()
                .map(|(k, v)| (Value::from(k.as_str()), from_json(v)))
                .collect(),
        ),
    }
}

/// How many containers deep `value` nests.
fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| depth(k).max(depth(v)))
                .max()
                .unwrap_or(0)
        }
        _ => 0,
    }
}

/// The msgid of a request whose whole cannot be decoded, read from its first values, so the
/// error still reaches the caller.
fn shallow_msgid(frame: &[u8]) -> Option<Value> {
    let mut cursor = frame;
    let len = rmp::decode::read_array_len(&mut cursor).ok()?;
    if len != 4 {
        return None;
    }
    let kind = rmpv::decode::read_value_with_max_depth(&mut cursor, 3).ok()?;
    if kind.as_u64() != Some(0) {
        return None;
    }
    let msgid = rmpv::decode::read_value_with_max_depth(&mut cursor, 3).ok()?;
    msgid.is_u64().then_some(msgid)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "a boolean",
        Value::Integer(_) => "an integer",
        Value::F32(_) | Value::F64(_) => "a float",
        Value::String(_) => "a string",
        Value::Binary(_) => "binary",
        Value::Array(_) => "an array",
        Value::Map(_) => "a map",
        Value::Ext(..) => "an ext value",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `v` encoded, for the tests of what is built on these messages too.
    pub(crate) fn enc(v: Value) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, &v).unwrap();
        out
    }

    #[test]
    fn decodes_a_request_with_bin_method_and_big_msgid() {
        let frame = enc(Value::Array(vec![
            Value::from(0),
            Value::from(1u64 << 40),
            Value::Binary(b"plugin.GetStatus".to_vec()),
            Value::Array(vec![]),
        ]));
        assert_eq!(
            decode(&frame),
            Incoming::Request(Request {
                msgid: Value::from(1u64 << 40),
                method: "plugin.GetStatus".into(),
                param: Value::Nil,
            })
        );
    }

    #[test]
    fn malformed_requests_keep_their_msgid() {
        let frame = enc(Value::Array(vec![
            Value::from(0),
            Value::from(7),
            Value::from(3),
        ]));
        match decode(&frame) {
            Incoming::Malformed { msgid, .. } => assert_eq!(msgid, Some(Value::from(7))),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode(&enc(Value::from(1))),
            Incoming::Malformed { msgid: None, .. }
        ));
        let note = enc(Value::Array(vec![
            Value::from(2),
            Value::from("x"),
            Value::Nil,
        ]));
        assert_eq!(decode(&note), Incoming::Notification);
    }

    fn nested(levels: usize) -> Vec<u8> {
        let mut param = Value::from("leaf");
        for _ in 0..levels - 2 {
            param = Value::Array(vec![param]);
        }
        enc(Value::Array(vec![
            Value::from(0),
            Value::from(11),
            Value::from("plugin.GetStatus"),
            Value::Array(vec![param]),
        ]))
    }

    #[test]
    fn nesting_is_limited_at_exactly_max_depth_and_the_refusal_keeps_its_msgid() {
        assert!(matches!(decode(&nested(MAX_DEPTH)), Incoming::Request(_)));
        match decode(&nested(MAX_DEPTH + 1)) {
            Incoming::Malformed { msgid, reason } => {
                assert_eq!(msgid, Some(Value::from(11)));
                assert!(reason.contains("deeper than 256"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        // A scalar innermost value, which rmpv counts differently from a string: the
        // request's own array and MAX_DEPTH more around a nil.
        let mut param = Value::Nil;
        for _ in 0..MAX_DEPTH {
            param = Value::Array(vec![param]);
        }
        let deep = enc(Value::Array(vec![
            Value::from(0),
            Value::from(12),
            Value::from("plugin.GetStatus"),
            param,
        ]));
        assert!(matches!(
            decode(&deep),
            Incoming::Malformed { msgid: Some(_), .. }
        ));
        // One level less: the encoding ends `0x91 0xc0`; drop one of the 0x91s.
        let mut ok = deep.clone();
        ok.remove(ok.len() - 2);
        assert!(matches!(decode(&ok), Incoming::Request(_)));
    }

    #[test]
    fn server_pid_is_a_notification() {
        let bytes = server_pid_notification(4242);
        let v = rmpv::decode::read_value(&mut bytes.as_slice()).unwrap();
        assert_eq!(
            v,
            Value::Array(vec![
                Value::from(2),
                Value::from("serverPid"),
                Value::from(4242)
            ])
        );
    }
}

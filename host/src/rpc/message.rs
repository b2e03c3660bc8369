//! MessagePack-RPC messages: decoding Kong's requests, encoding our responses.
//!
//! Requests are `[0, msgid, "plugin.Method", [param]]`; responses `[1, msgid, error, result]`;
//! the one notification is `[2, "serverPid", pid]`, written first on every connection. Step
//! results carry the plugin's argument bytes verbatim: they were encoded by the plugin, and
//! re-encoding them would only cost time.

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

/// Deepest nesting accepted in a request; Kong's own data is a few levels deep.
const MAX_DEPTH: usize = 256;

/// Decodes one complete frame (see [`super::frame::object_len`]).
pub fn decode(frame: &[u8]) -> Incoming {
    let mut cursor = frame;
    let value = match rmpv::decode::read_value_with_max_depth(&mut cursor, MAX_DEPTH) {
        Ok(v) => v,
        Err(e) => {
            return Incoming::Malformed {
                msgid: None,
                reason: format!("undecodable request: {e}"),
            };
        }
    };
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

/// A successful result.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Any value.
    Value(Value),
    /// `{EventId, Data}`: the event's next PDK call, or `"ret"`.
    Step {
        /// The event.
        event_id: u64,
        /// What the handler did.
        data: StepData,
    },
}

/// The `Data` of a step result.
#[derive(Debug, Clone, PartialEq)]
pub enum StepData {
    /// The handler returned.
    Ret,
    /// The handler calls a PDK function; `args` is an encoded MessagePack array.
    Call {
        /// The dotted PDK method name.
        method: String,
        /// The argument array, as the plugin encoded it.
        args: Vec<u8>,
    },
}

/// Appends the response `[1, msgid, err, result]` to `out`.
pub fn encode_response(msgid: &Value, outcome: &Result<Reply, String>, out: &mut Vec<u8>) {
    // Writes into a Vec cannot fail.
    let _ = rmp::encode::write_array_len(out, 4);
    let _ = rmp::encode::write_uint(out, 1);
    let _ = rmpv::encode::write_value(out, msgid);
    match outcome {
        Err(message) => {
            let _ = rmp::encode::write_str(out, message);
            let _ = rmp::encode::write_nil(out);
        }
        Ok(Reply::Value(value)) => {
            let _ = rmp::encode::write_nil(out);
            let _ = rmpv::encode::write_value(out, value);
        }
        Ok(Reply::Step { event_id, data }) => {
            let _ = rmp::encode::write_nil(out);
            let _ = rmp::encode::write_map_len(out, 2);
            let _ = rmp::encode::write_str(out, "EventId");
            let _ = rmp::encode::write_uint(out, *event_id);
            let _ = rmp::encode::write_str(out, "Data");
            match data {
                StepData::Ret => {
                    let _ = rmp::encode::write_str(out, "ret");
                }
                StepData::Call { method, args } => {
                    let _ = rmp::encode::write_map_len(out, 2);
                    let _ = rmp::encode::write_str(out, "Method");
                    let _ = rmp::encode::write_str(out, method);
                    let _ = rmp::encode::write_str(out, "Args");
                    out.extend_from_slice(args);
                }
            }
        }
    }
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
mod tests {
    use super::*;

    fn enc(v: Value) -> Vec<u8> {
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

    #[test]
    fn step_results_splice_the_plugin_args() {
        let mut out = Vec::new();
        let reply = Reply::Step {
            event_id: 9,
            data: StepData::Call {
                method: "kong.request.get_header".into(),
                args: enc(Value::Array(vec![Value::from("host")])),
            },
        };
        encode_response(&Value::from(3), &Ok(reply), &mut out);
        let decoded = rmpv::decode::read_value(&mut out.as_slice()).unwrap();
        let expected = Value::Array(vec![
            Value::from(1),
            Value::from(3),
            Value::Nil,
            map([
                ("EventId", Value::from(9)),
                (
                    "Data",
                    map([
                        ("Method", Value::from("kong.request.get_header")),
                        ("Args", Value::Array(vec![Value::from("host")])),
                    ]),
                ),
            ]),
        ]);
        assert_eq!(decoded, expected);
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

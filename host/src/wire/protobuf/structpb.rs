//! MessagePack values (what plugins send and read) to and from `google.protobuf.Value`, the
//! way Kong converts Lua values to and from it: a map becomes a `Struct` with text keys, an
//! array a `ListValue`, every number a double; on the way back a whole double becomes an
//! integer, as Lua's MessagePack encoder writes a whole number.

use std::collections::BTreeMap;

use prost_types::{ListValue, Struct, Value, value::Kind};
use rmpv::Value as Mp;

/// `value` as a `google.protobuf.Value`. Binary becomes text (lossily, as Kong's Lua strings
/// carry bytes and structpb carries UTF-8); map keys that are not text are written as text.
pub fn to_value(value: &Mp) -> Value {
    let kind = match value {
        Mp::Nil => Kind::NullValue(0),
        Mp::Boolean(b) => Kind::BoolValue(*b),
        Mp::Integer(i) => Kind::NumberValue(i.as_f64().unwrap_or(0.0)),
        Mp::F32(f) => Kind::NumberValue(f64::from(*f)),
        Mp::F64(f) => Kind::NumberValue(*f),
        Mp::String(s) => Kind::StringValue(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        Mp::Binary(b) => Kind::StringValue(String::from_utf8_lossy(b).into_owned()),
        Mp::Array(items) => Kind::ListValue(ListValue {
            values: items.iter().map(to_value).collect(),
        }),
        Mp::Map(entries) => Kind::StructValue(to_struct(entries)),
        Mp::Ext(_, b) => Kind::StringValue(String::from_utf8_lossy(b).into_owned()),
    };
    Value { kind: Some(kind) }
}

/// The entries of a MessagePack map as a `Struct`.
pub fn to_struct(entries: &[(Mp, Mp)]) -> Struct {
    let fields: BTreeMap<String, Value> = entries
        .iter()
        .map(|(k, v)| (key_text(k), to_value(v)))
        .collect();
    Struct { fields }
}

fn key_text(key: &Mp) -> String {
    match key {
        Mp::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        Mp::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        other => other.to_string(),
    }
}

/// `value` as JSON, for a table Kong would have JSON-encoded.
pub fn to_json(value: &Mp) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Mp::Nil => J::Null,
        Mp::Boolean(b) => J::Bool(*b),
        Mp::Integer(i) => i
            .as_i64()
            .map(J::from)
            .or_else(|| i.as_u64().map(J::from))
            .unwrap_or(J::Null),
        Mp::F32(f) => J::from(f64::from(*f)),
        Mp::F64(f) => J::from(*f),
        Mp::String(s) => J::from(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        Mp::Binary(b) | Mp::Ext(_, b) => J::from(String::from_utf8_lossy(b).into_owned()),
        Mp::Array(items) => J::Array(items.iter().map(to_json).collect()),
        Mp::Map(entries) => J::Object(
            entries
                .iter()
                .map(|(k, v)| (key_text(k), to_json(v)))
                .collect(),
        ),
    }
}

/// A `google.protobuf.Value` as the MessagePack value Kong would have sent over MsgPack:1.
pub fn from_value(value: &Value) -> Mp {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Mp::Nil,
        Some(Kind::BoolValue(b)) => Mp::Boolean(*b),
        Some(Kind::NumberValue(n)) => number(*n),
        Some(Kind::StringValue(s)) => Mp::from(s.as_str()),
        Some(Kind::ListValue(list)) => Mp::Array(list.values.iter().map(from_value).collect()),
        Some(Kind::StructValue(s)) => from_struct(s),
    }
}

/// A `Struct` as a MessagePack map.
pub fn from_struct(s: &Struct) -> Mp {
    Mp::Map(
        s.fields
            .iter()
            .map(|(k, v)| (Mp::from(k.as_str()), from_value(v)))
            .collect(),
    )
}

/// A double as Lua's MessagePack encoder writes it: whole numbers in the i64 range as integers.
pub fn number(n: f64) -> Mp {
    // 2^63 as a double: the first whole number beyond i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if n.fract() == 0.0 && (-LIMIT..LIMIT).contains(&n) {
        Mp::from(n as i64)
    } else {
        Mp::F64(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lua_values_round_trip_as_kong_converts_them() {
        let value = Mp::Map(vec![
            (Mp::from("a"), Mp::from(5)),
            (
                Mp::from("b"),
                Mp::Array(vec![Mp::from("x"), Mp::Nil, Mp::F64(1.5)]),
            ),
            (Mp::from("c"), Mp::Boolean(true)),
        ]);
        assert_eq!(from_value(&to_value(&value)), value);
        assert_eq!(number(-3.0), Mp::from(-3));
        assert_eq!(number(1e300), Mp::F64(1e300));
        assert_eq!(
            from_value(&to_value(&Mp::Binary(b"hi".to_vec()))),
            Mp::from("hi")
        );
    }
}

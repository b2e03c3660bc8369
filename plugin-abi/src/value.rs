//! Decoding Kong's answers: every encoding Kong can send turned into ordinary Rust values.
//!
//! Kong's MessagePack is loose: strings arrive as str or bin, numbers as any integer width or a
//! float (`2` and `1.0` are integers, `1.1` a float), an empty Lua table as an empty *array*
//! where a map is meant, and maps may have integer keys. The PDK decodes every answer into a
//! [`serde_json::Value`] with those differences smoothed out, then into the type asked for.

use rmpv::Value as Mp;
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};

use crate::{PdkError, PdkResult};

/// Decodes one MessagePack answer into a JSON value, smoothing over Kong's encodings.
///
/// * str and bin become strings (invalid UTF-8 is replaced, see [`decode_bytes`] for raw bytes);
/// * integral floats become integers, so they fit integer fields;
/// * map keys of any type become strings (`1` → `"1"`);
/// * ext values and NaN become `null`.
///
/// ```
/// // {1: "a"} as MessagePack
/// let v = plugin_abi::value::decode(&[0x81, 0x01, 0xa1, b'a']).unwrap();
/// assert_eq!(v, plugin_abi::serde_json::json!({"1": "a"}));
/// ```
pub fn decode(bytes: &[u8]) -> Result<Value, String> {
    let mp = read(bytes)?;
    Ok(to_json(mp))
}

/// Decodes a MessagePack answer into `T` with the smoothing of [`decode`]; `method` names the
/// call in errors.
///
/// ```
/// // 200.0 as a float64 still fits a u16
/// let bytes = [0xcb, 0x40, 0x69, 0, 0, 0, 0, 0, 0];
/// let status: u16 = plugin_abi::value::decode_as("kong.response.get_status", &bytes).unwrap();
/// assert_eq!(status, 200);
/// ```
pub fn decode_as<T: DeserializeOwned>(method: &str, bytes: &[u8]) -> PdkResult<T> {
    let err = |message: String| PdkError::Decode {
        method: method.to_owned(),
        message,
    };
    let value = decode(bytes).map_err(err)?;
    let nil = value.is_null();
    serde_json::from_value(empty_array_as_map::<T>(value)).map_err(|e| match nil {
        // One meaning for nil wherever `T` has no place for it (see crate::pdk).
        true => PdkError::NoValue {
            method: method.to_owned(),
        },
        false => err(e.to_string()),
    })
}

/// Decodes a MessagePack answer that carries raw bytes (str or bin, unchanged), or `None` for nil.
///
/// ```
/// // bin8 of two bytes that are not UTF-8
/// let b = plugin_abi::value::decode_bytes("kong.request.get_raw_body", &[0xc4, 2, 0xff, 0xfe]);
/// assert_eq!(b.unwrap(), Some(vec![0xff, 0xfe]));
/// ```
pub fn decode_bytes(method: &str, bytes: &[u8]) -> PdkResult<Option<Vec<u8>>> {
    let err = |message: String| PdkError::Decode {
        method: method.to_owned(),
        message,
    };
    match read(bytes).map_err(err)? {
        Mp::Nil => Ok(None),
        Mp::Binary(b) => Ok(Some(b)),
        Mp::String(s) => Ok(Some(s.into_bytes())),
        other => Err(err(format!("expected bytes, got {other}"))),
    }
}

fn read(mut bytes: &[u8]) -> Result<Mp, String> {
    let value = rmpv::decode::read_value(&mut bytes).map_err(|e| e.to_string())?;
    if !bytes.is_empty() {
        return Err(format!("{} trailing bytes after the answer", bytes.len()));
    }
    Ok(value)
}

/// Kong encodes every empty Lua table as an empty array. Where `T` wants a map, `[]` must
/// become `{}`; serde tells us by failing on the array, so retry once with an object.
fn empty_array_as_map<T: DeserializeOwned>(value: Value) -> Value {
    if value.as_array().is_some_and(Vec::is_empty)
        && serde_json::from_value::<T>(value.clone()).is_err()
    {
        return Value::Object(Map::new());
    }
    value
}

pub(crate) fn to_json(mp: Mp) -> Value {
    match mp {
        Mp::Nil | Mp::Ext(..) => Value::Null,
        Mp::Boolean(b) => Value::Bool(b),
        Mp::Integer(i) => match (i.as_u64(), i.as_i64()) {
            (Some(u), _) => Value::from(u),
            (None, Some(s)) => Value::from(s),
            (None, None) => Value::Null,
        },
        Mp::F32(f) => float(f64::from(f)),
        Mp::F64(f) => float(f),
        Mp::String(s) => Value::String(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        Mp::Binary(b) => Value::String(String::from_utf8_lossy(&b).into_owned()),
        Mp::Array(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Mp::Map(entries) => Value::Object(
            entries
                .into_iter()
                .map(|(k, v)| (key(k), to_json(v)))
                .collect(),
        ),
    }
}

fn float(f: f64) -> Value {
    // Lua has one number type; an integral float is an integer that happened to be computed.
    if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
        return Value::from(f as i64);
    }
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn key(k: Mp) -> String {
    match to_json(k) {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    fn mp(v: Mp) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, &v).unwrap();
        out
    }

    #[test]
    fn bin_and_str_are_both_strings() {
        let s: String = decode_as("m", &mp(Mp::Binary(b"abc".to_vec()))).unwrap();
        assert_eq!(s, "abc");
        let s: String = decode_as("m", &mp(Mp::from("abc"))).unwrap();
        assert_eq!(s, "abc");
    }

    #[test]
    fn invalid_utf8_str_keeps_its_bytes() {
        let raw = vec![0xa2, 0xff, 0xfe];
        assert_eq!(decode_bytes("m", &raw).unwrap(), Some(vec![0xff, 0xfe]));
    }

    #[test]
    fn empty_array_is_an_empty_map_where_a_map_is_wanted() {
        let m: HashMap<String, Vec<String>> = decode_as("m", &mp(Mp::Array(vec![]))).unwrap();
        assert!(m.is_empty());
        let v: Vec<String> = decode_as("m", &mp(Mp::Array(vec![]))).unwrap();
        assert!(v.is_empty());
    }

    #[test]
    fn integer_keys_and_nil_values() {
        let v = decode(&mp(Mp::Map(vec![(Mp::from(1), Mp::Nil)]))).unwrap();
        assert_eq!(v, json!({"1": null}));
    }

    #[test]
    fn floats_and_integers_interchange() {
        let n: i64 = decode_as("m", &mp(Mp::F64(2.0))).unwrap();
        assert_eq!(n, 2);
        let f: f64 = decode_as("m", &mp(Mp::from(2))).unwrap();
        assert_eq!(f, 2.0);
        let f: f64 = decode_as("m", &mp(Mp::F64(1.1))).unwrap();
        assert_eq!(f, 1.1);
    }

    #[test]
    fn wrong_shape_names_the_method() {
        let e = decode_as::<i64>("kong.request.get_port", &mp(Mp::from("x"))).unwrap_err();
        assert!(e.to_string().contains("kong.request.get_port"), "{e}");
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(decode(&[0x92, 0x01]).is_err());
        assert!(decode(&[0x01, 0x02]).is_err());
    }
}

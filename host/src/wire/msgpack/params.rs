//! Reading request parameters the tolerant way Kong's encodings require: str or bin for text,
//! any integer width or an integral float for integers, keys of any string encoding.

use rmpv::Value;

/// Text from a str (even invalid UTF-8, lossily) or a bin.
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        Value::Binary(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

/// Raw bytes of a str or bin.
pub fn bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::String(s) => Some(s.as_bytes()),
        Value::Binary(b) => Some(b),
        _ => None,
    }
}

/// A non-negative integer from any integer encoding, an integral float, or decimal text.
pub fn uint(v: &Value) -> Option<u64> {
    match v {
        Value::Integer(i) => i.as_u64(),
        Value::F64(f) if f.fract() == 0.0 && *f >= 0.0 && *f < 1.8e19 => Some(*f as u64),
        Value::F32(f) if f.fract() == 0.0 && *f >= 0.0 => Some(*f as u64),
        Value::String(_) | Value::Binary(_) => text(v)?.trim().parse().ok(),
        _ => None,
    }
}

/// The value under `key` in a map whose keys may be str or bin; `None` if absent, or if `v` is
/// not a map (an empty array stands for an empty map).
pub fn field<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    let Value::Map(entries) = v else {
        return None;
    };
    entries
        .iter()
        .find(|(k, _)| bytes(k) == Some(key.as_bytes()))
        .map(|(_, v)| v)
        .filter(|v| !v.is_nil())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerant_readers() {
        assert_eq!(text(&Value::Binary(b"ab".to_vec())), Some("ab".into()));
        assert_eq!(uint(&Value::F64(3.0)), Some(3));
        assert_eq!(uint(&Value::F64(3.5)), None);
        assert_eq!(uint(&Value::from(-1)), None);
        assert_eq!(uint(&Value::from("12")), Some(12));
        let m = Value::Map(vec![
            (Value::Binary(b"Name".to_vec()), Value::from("x")),
            (Value::from(1), Value::from(2)),
            (Value::from("Nil"), Value::Nil),
        ]);
        assert_eq!(field(&m, "Name"), Some(&Value::from("x")));
        assert_eq!(field(&m, "Nil"), None);
        assert_eq!(field(&Value::Array(vec![]), "Name"), None);
    }
}

//! MessagePack the way Kong writes it (lua-MessagePack with Kong's settings): strings never use
//! str8 (`0xd9`) but str16, integers use the smallest unsigned or signed form, every
//! non-integral number is a float64. The server must read this as well as ordinary encoders.

use rmpv::Value;

/// Encodes `v` as Kong would.
pub fn kong_pack(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out, v);
    out
}

/// Appends `bytes` as a string the way Kong writes one: fixstr, else str16 or str32, never
/// str8.
pub fn write_str(out: &mut Vec<u8>, bytes: &[u8]) {
    match bytes.len() {
        n if n < 32 => out.push(0xa0 | n as u8),
        n if n < 65536 => {
            out.push(0xda);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0xdb);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }
    out.extend_from_slice(bytes);
}

fn write(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::String(s) => write_str(out, s.as_bytes()),
        Value::F32(f) => {
            let _ = rmp::encode::write_f64(out, f64::from(*f));
        }
        Value::Array(items) => {
            let _ = rmp::encode::write_array_len(out, items.len() as u32);
            items.iter().for_each(|i| write(out, i));
        }
        Value::Map(entries) => {
            let _ = rmp::encode::write_map_len(out, entries.len() as u32);
            for (k, v) in entries {
                write(out, k);
                write(out, v);
            }
        }
        other => {
            let _ = rmpv::encode::write_value(out, other);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_str8() {
        let bytes = kong_pack(&Value::from("x".repeat(40)));
        assert_eq!(&bytes[..3], &[0xda, 0, 40]);
        let back = rmpv::decode::read_value(&mut bytes.as_slice()).unwrap();
        assert_eq!(back, Value::from("x".repeat(40)));
    }
}

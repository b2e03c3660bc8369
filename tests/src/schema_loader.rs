//! Kong's side of a query command: how each Kong release reads a dump and what it refuses
//! before it serves a single request (`load_plugin_schemas` → `load_subschema` →
//! `MetaSchema.MetaSubSchema:validate`, and from 3.0 the `VERSION`/`PRIORITY` checks). Kong
//! refuses to start when one plugin fails, so a dump is loaded whole or not at all.

use plugin_abi::schema::{KongVersion, check_kong_info};
use serde_json::Value;

/// How a Kong generation asks a plugin server what it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    /// Kong 2.0 - 2.2 run `-dump-plugin-info NAME` themselves: one MessagePack map.
    Legacy,
    /// Kong 2.3 - 3.8 run `pluginserver_<n>_query_cmd`: a JSON array (2.4+ also
    /// `{"Protocol", "Plugins"}`), every entry registered.
    AllPlugins,
    /// Kong 3.9+ run one query command per entry and register `(dump.Plugins or dump)[1]`.
    FirstPlugin,
}

impl Query {
    /// The query Kong release `kong` makes.
    pub fn of(kong: KongVersion) -> Query {
        match (kong.major, kong.minor) {
            (2, 0..=2) => Query::Legacy,
            (2, _) | (3, 0..=8) => Query::AllPlugins,
            _ => Query::FirstPlugin,
        }
    }
}

/// What Kong release `kong` registers from `stdout`, a dump it ran: the plugin names, or the
/// error that stops `kong start`.
pub fn kong_loads(kong: KongVersion, stdout: &[u8]) -> Result<Vec<String>, String> {
    let infos = match Query::of(kong) {
        // One MessagePack map, as Lua sees it: the PDK's own reading of Kong's encoding.
        Query::Legacy => vec![
            plugin_abi::value::decode(stdout)
                .map_err(|e| format!("Kong {kong}: not one MessagePack value: {e}"))?,
        ],
        query => {
            let dump: Value = serde_json::from_slice(stdout)
                .map_err(|e| format!("Kong {kong}: not a JSON document: {e}"))?;
            let protocol_form = dump.get("Plugins").is_some() && kong >= KongVersion::new(2, 4, 0);
            let list = match (&dump, protocol_form) {
                (_, true) => dump["Plugins"].clone(),
                (Value::Array(_), false) => dump,
                _ => return Err(format!("Kong {kong}: the dump is not a list of plugins")),
            };
            let mut list = match list {
                Value::Array(list) => list,
                _ => return Err(format!("Kong {kong}: `Plugins` is not a list")),
            };
            if query == Query::FirstPlugin {
                list.truncate(1);
            }
            list
        }
    };
    let mut names = Vec::new();
    for info in &infos {
        let name = info["Name"].as_str().unwrap_or("").to_owned();
        check_kong_info(info, kong).map_err(|errors| {
            format!(
                "Kong {kong}: error loading plugin schemas: on plugin '{name}': {}",
                errors.join("; ")
            )
        })?;
        names.push(name);
    }
    Ok(names)
}

/// The dialect Kong release `kong` speaks to the server whose dump is `stdout`
/// (`server_def.protocol = dump.Protocol or "MsgPack:1"`, read from 2.4 on), or why it cannot.
pub fn kong_protocol(kong: KongVersion, stdout: &[u8]) -> Result<String, String> {
    if Query::of(kong) == Query::Legacy || kong < KongVersion::new(2, 4, 0) {
        return Ok("MsgPack:1".into());
    }
    let dump: Value = serde_json::from_slice(stdout)
        .map_err(|e| format!("Kong {kong}: not a JSON document: {e}"))?;
    match dump.get("Protocol").and_then(Value::as_str) {
        None => Ok("MsgPack:1".into()),
        Some(p @ ("MsgPack:1" | "ProtoBuf:1")) => Ok(p.to_owned()),
        Some(other) => Err(format!("Kong {kong}: unknown protocol {other}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn info(version: &str, field: Value) -> Value {
        json!({"Name": "p", "Phases": ["access"], "Version": version, "Priority": 1,
               "Schema": {"name": "p", "fields": [{"config": {"type": "record",
                          "fields": [{"f": field}]}}]}})
    }

    #[test]
    fn each_generation_reads_its_own_dump_shape() {
        let one = info("1.0.0", json!({"type": "string"}));
        let array =
            serde_json::to_vec(&json!([one, info("1.0.0", json!({"type": "integer"}))])).unwrap();
        assert_eq!(
            kong_loads(KongVersion::new(3, 8, 0), &array).unwrap().len(),
            2
        );
        assert_eq!(
            kong_loads(KongVersion::new(3, 9, 0), &array).unwrap().len(),
            1
        );
        let packed = rmp_serde_like(&one);
        assert_eq!(kong_loads(KongVersion::OLDEST, &packed).unwrap(), ["p"]);
        assert!(kong_loads(KongVersion::OLDEST, &array).is_err());
    }

    #[test]
    fn one_refused_plugin_stops_kong() {
        let dump = serde_json::to_vec(&json!([
            info("1.0.0", json!({"type": "string"})),
            info("1.0.0", json!({"type": "string", "default": ""})),
        ]))
        .unwrap();
        let e = kong_loads(KongVersion::new(2, 8, 0), &dump).unwrap_err();
        assert!(e.contains("on plugin 'p'"), "{e}");
        let go_log = serde_json::to_vec(&json!([info("", json!({"type": "string"}))])).unwrap();
        assert!(kong_loads(KongVersion::new(2, 8, 0), &go_log).is_ok());
        assert!(kong_loads(KongVersion::new(3, 0, 0), &go_log).is_err());
    }

    /// `value` as one MessagePack map, as `-dump-plugin-info` prints it.
    fn rmp_serde_like(value: &Value) -> Vec<u8> {
        fn to_mp(v: &Value) -> rmpv::Value {
            match v {
                Value::Null => rmpv::Value::Nil,
                Value::Bool(b) => rmpv::Value::from(*b),
                Value::Number(n) => n
                    .as_i64()
                    .map(rmpv::Value::from)
                    .unwrap_or_else(|| rmpv::Value::from(n.as_f64().unwrap_or(0.0))),
                Value::String(s) => rmpv::Value::from(s.as_str()),
                Value::Array(a) => rmpv::Value::Array(a.iter().map(to_mp).collect()),
                Value::Object(o) => rmpv::Value::Map(
                    o.iter()
                        .map(|(k, v)| (rmpv::Value::from(k.as_str()), to_mp(v)))
                        .collect(),
                ),
            }
        }
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, &to_mp(value)).unwrap();
        out
    }
}

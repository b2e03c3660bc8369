//! Kong entities as the PDK returns them, decoded leniently: every field optional or defaulted,
//! unknown fields kept in `extra`, and Kong's real shapes accepted (a route's `headers` is a
//! map; `sources` and `destinations` are lists of `{ip, port}`; an empty table may come as `[]`
//! where a map is meant).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Header or query multimaps: name → values.
pub type MultiMap = BTreeMap<String, Vec<String>>;

/// A reference to another entity: `{id}`.
///
/// ```
/// let r: plugin_abi::pdk::EntityRef = plugin_abi::serde_json::from_str(r#"{"id":"a"}"#).unwrap();
/// assert_eq!(r.id, "a");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EntityRef {
    /// The entity's id.
    pub id: String,
}

/// A route (`kong.router.get_route`).
///
/// ```
/// let r: plugin_abi::pdk::Route =
///     plugin_abi::serde_json::from_str(r#"{"id":"r1","headers":{"x-a":["1"]},"ws_id":"w"}"#).unwrap();
/// assert_eq!(r.headers["x-a"], vec!["1"]);
/// assert_eq!(r.extra["ws_id"], "w");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Route {
    /// Its id.
    pub id: String,
    /// Creation time, unix seconds.
    pub created_at: Option<i64>,
    /// Last update, unix seconds.
    pub updated_at: Option<i64>,
    /// Its name.
    pub name: Option<String>,
    /// `http`, `https`, `grpc`...
    pub protocols: Vec<String>,
    /// HTTP methods matched.
    pub methods: Vec<String>,
    /// Hosts matched.
    pub hosts: Vec<String>,
    /// Paths matched.
    pub paths: Vec<String>,
    /// Headers matched: name → values (a map in Kong, which go-pdk got wrong).
    #[serde(deserialize_with = "lenient_multimap")]
    pub headers: MultiMap,
    /// Status code of the HTTPS redirect.
    pub https_redirect_status_code: Option<u16>,
    /// Regex priority.
    pub regex_priority: Option<i64>,
    /// Whether the matched path is stripped.
    pub strip_path: Option<bool>,
    /// Whether the Host header is preserved.
    pub preserve_host: Option<bool>,
    /// SNIs matched.
    pub snis: Vec<String>,
    /// Stream sources matched: `{ip, port}` maps.
    pub sources: Vec<Value>,
    /// Stream destinations matched: `{ip, port}` maps.
    pub destinations: Vec<Value>,
    /// Tags.
    pub tags: Vec<String>,
    /// Its service.
    pub service: Option<EntityRef>,
    /// Every other field Kong sent.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A service (`kong.router.get_service`).
///
/// ```
/// let s: plugin_abi::pdk::Service = plugin_abi::serde_json::from_str(r#"{"host":"up","port":80}"#).unwrap();
/// assert_eq!(s.port, Some(80));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Service {
    /// Its id.
    pub id: String,
    /// Creation time, unix seconds.
    pub created_at: Option<i64>,
    /// Last update, unix seconds.
    pub updated_at: Option<i64>,
    /// Its name.
    pub name: Option<String>,
    /// Retries.
    pub retries: Option<i64>,
    /// `http`, `https`...
    pub protocol: Option<String>,
    /// Upstream host.
    pub host: Option<String>,
    /// Upstream port.
    pub port: Option<u16>,
    /// Upstream path.
    pub path: Option<String>,
    /// Timeouts, ms.
    pub connect_timeout: Option<i64>,
    /// Timeouts, ms.
    pub write_timeout: Option<i64>,
    /// Timeouts, ms.
    pub read_timeout: Option<i64>,
    /// Tags.
    pub tags: Vec<String>,
    /// Client certificate.
    pub client_certificate: Option<EntityRef>,
    /// Every other field Kong sent.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A consumer (`kong.client.get_consumer`, `kong.client.load_consumer`).
///
/// ```
/// let c: plugin_abi::pdk::Consumer = plugin_abi::serde_json::from_str(r#"{"id":"c","username":"u"}"#).unwrap();
/// assert_eq!(c.username.as_deref(), Some("u"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Consumer {
    /// Its id.
    pub id: String,
    /// Creation time, unix seconds.
    pub created_at: Option<i64>,
    /// Username.
    pub username: Option<String>,
    /// Custom id.
    pub custom_id: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Every other field Kong sent.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The credential a request authenticated with (`kong.client.get_credential`).
///
/// Kong's credentials carry `consumer: {id}`; go-pdk's `consumer_id` is filled from it.
///
/// ```
/// let c: plugin_abi::pdk::AuthenticatedCredential =
///     plugin_abi::serde_json::from_str(r#"{"id":"k","consumer":{"id":"c"}}"#).unwrap();
/// assert_eq!(c.consumer_id(), Some("c"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthenticatedCredential {
    /// Its id.
    pub id: String,
    /// The consumer's id, when sent flat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_id: Option<String>,
    /// The consumer, as Kong's credential entities reference it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer: Option<EntityRef>,
    /// Every other field Kong sent.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl AuthenticatedCredential {
    /// The consumer's id, from either shape.
    ///
    /// ```
    /// let c = plugin_abi::pdk::AuthenticatedCredential { consumer_id: Some("c".into()), ..Default::default() };
    /// assert_eq!(c.consumer_id(), Some("c"));
    /// ```
    pub fn consumer_id(&self) -> Option<&str> {
        self.consumer_id
            .as_deref()
            .or(self.consumer.as_ref().map(|c| c.id.as_str()))
    }
}

/// Memory use of a shared dict.
///
/// ```
/// let d: plugin_abi::pdk::DictStats = plugin_abi::serde_json::from_str(r#"{"capacity":5}"#).unwrap();
/// assert_eq!(d.capacity, 5);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DictStats {
    /// Bytes allocated.
    pub allocated_slabs: i64,
    /// Capacity in bytes.
    pub capacity: i64,
}

/// Memory use of one worker's Lua VM.
///
/// ```
/// let w: plugin_abi::pdk::WorkerStats = plugin_abi::serde_json::from_str(r#"{"pid":7}"#).unwrap();
/// assert_eq!(w.pid, 7);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerStats {
    /// Bytes allocated by the GC.
    pub http_allocated_gc: i64,
    /// The worker's pid.
    pub pid: i64,
}

/// `kong.node.get_memory_stats`.
///
/// ```
/// let m: plugin_abi::pdk::MemoryStats =
///     plugin_abi::serde_json::from_str(r#"{"lua_shared_dicts":{"kong":{"capacity":1}},"workers_lua_vms":[]}"#).unwrap();
/// // A dict may be missing (a Kong without `kong_db_cache`): look it up, never index.
/// assert_eq!(m.lua_shared_dicts.get("kong").map(|d| d.capacity), Some(1));
/// assert!(m.lua_shared_dicts.get("kong_db_cache").is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryStats {
    /// Every shared dict, by name (`kong`, `kong_db_cache`, ...).
    #[serde(deserialize_with = "lenient_map")]
    pub lua_shared_dicts: BTreeMap<String, DictStats>,
    /// Every worker's Lua VM.
    pub workers_lua_vms: Vec<WorkerStats>,
}

/// `kong.request.get_uri_captures`: the regex captures of the matched route path.
///
/// ```
/// let c: plugin_abi::pdk::UriCaptures =
///     plugin_abi::serde_json::from_str(r#"{"unnamed":["a"],"named":[]}"#).unwrap();
/// assert_eq!(c.unnamed, vec!["a"]);
/// assert!(c.named.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UriCaptures {
    /// Positional captures.
    pub unnamed: Vec<String>,
    /// Named captures.
    #[serde(deserialize_with = "lenient_map")]
    pub named: BTreeMap<String, String>,
}

/// A map that Kong may send as `[]` when it is empty, or `null`.
fn lenient_map<'de, D, T>(d: D) -> Result<BTreeMap<String, T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    match Value::deserialize(d)? {
        Value::Null => Ok(BTreeMap::new()),
        Value::Array(items) if items.is_empty() => Ok(BTreeMap::new()),
        other => serde_json::from_value(other).map_err(serde::de::Error::custom),
    }
}

/// A multimap whose values may each be a list, a single string, or `true` (a flag).
fn lenient_multimap<'de, D: Deserializer<'de>>(d: D) -> Result<MultiMap, D::Error> {
    to_multimap(Value::deserialize(d)?).map_err(serde::de::Error::custom)
}

/// Turns a decoded multimap in any of Kong's shapes into a [`MultiMap`].
pub(crate) fn to_multimap(value: Value) -> Result<MultiMap, String> {
    let entries = match value {
        Value::Array(items) if items.is_empty() => return Ok(MultiMap::new()),
        Value::Object(entries) => entries,
        other => return Err(format!("expected a map of lists, got {other}")),
    };
    Ok(entries
        .into_iter()
        .map(|(k, v)| {
            let values = match v {
                Value::Array(items) => items.into_iter().map(text).collect(),
                Value::Bool(true) | Value::Null => Vec::new(),
                other => vec![text(other)],
            };
            (k, values)
        })
        .collect())
}

fn text(v: Value) -> String {
    match v {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

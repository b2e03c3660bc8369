//! Kong's `kong_plugin_protocol` messages (`pluginsocket.proto`), written from the field table
//! of the protocol: field numbers and types as Kong's copy of the file gives them. prost's
//! derive encodes and decodes them; no `.proto` compiler is needed to build.
//!
//! proto3 leaves a zero value (0, `""`, `false`, an empty list) off the wire, so a zero and an
//! absent field read the same: this is what the per-dialect nil table of the PDK is about.

use prost::{Message, Oneof};
pub use prost_types::{ListValue, Struct, Value};

/// Kong → server: one command, numbered by Kong's per-connection counter.
#[derive(Clone, PartialEq, Message)]
pub struct RpcCall {
    /// Echoed by the [`RpcReturn`].
    #[prost(int64, tag = "1")]
    pub sequence: i64,
    /// The command.
    #[prost(oneof = "Call", tags = "31, 32, 33, 34, 35, 36")]
    pub call: Option<Call>,
}

/// The commands of an [`RpcCall`].
#[derive(Clone, PartialEq, Oneof)]
pub enum Call {
    /// `cmd_get_plugin_names`.
    #[prost(message, tag = "31")]
    CmdGetPluginNames(CmdGetPluginNames),
    /// `cmd_get_plugin_info`.
    #[prost(message, tag = "32")]
    CmdGetPluginInfo(CmdGetPluginInfo),
    /// `cmd_start_instance`.
    #[prost(message, tag = "33")]
    CmdStartInstance(CmdStartInstance),
    /// `cmd_get_instance_status`.
    #[prost(message, tag = "34")]
    CmdGetInstanceStatus(InstanceRef),
    /// `cmd_close_instance`.
    #[prost(message, tag = "35")]
    CmdCloseInstance(InstanceRef),
    /// `cmd_handle_event`.
    #[prost(message, tag = "36")]
    CmdHandleEvent(CmdHandleEvent),
}

/// `CmdGetPluginNames {}`.
#[derive(Clone, PartialEq, Message)]
pub struct CmdGetPluginNames {}

/// `CmdGetPluginInfo {name}`.
#[derive(Clone, PartialEq, Message)]
pub struct CmdGetPluginInfo {
    /// The plugin.
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `CmdStartInstance {name, config}`: `config` is the JSON text Kong also sends over MsgPack:1.
#[derive(Clone, PartialEq, Message)]
pub struct CmdStartInstance {
    /// The plugin.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its configuration, JSON text.
    #[prost(bytes = "vec", tag = "2")]
    pub config: Vec<u8>,
}

/// `CmdGetInstanceStatus` and `CmdCloseInstance`: `{instance_id}`.
#[derive(Clone, PartialEq, Message)]
pub struct InstanceRef {
    /// The instance.
    #[prost(int32, tag = "1")]
    pub instance_id: i32,
}

/// `CmdHandleEvent {instance_id, event_name}`.
#[derive(Clone, PartialEq, Message)]
pub struct CmdHandleEvent {
    /// The instance.
    #[prost(int32, tag = "1")]
    pub instance_id: i32,
    /// The phase.
    #[prost(string, tag = "2")]
    pub event_name: String,
}

/// Server → Kong: the answer to an [`RpcCall`], with its sequence.
#[derive(Clone, PartialEq, Message)]
pub struct RpcReturn {
    /// The call's sequence.
    #[prost(int64, tag = "1")]
    pub sequence: i64,
    /// What the call returns; none for a handled event.
    #[prost(oneof = "Return", tags = "31, 32, 33")]
    pub r#return: Option<Return>,
}

/// What an [`RpcReturn`] carries.
#[derive(Clone, PartialEq, Oneof)]
pub enum Return {
    /// `plugin_names`.
    #[prost(message, tag = "31")]
    PluginNames(PluginNames),
    /// `plugin_info`.
    #[prost(message, tag = "32")]
    PluginInfo(PluginInfo),
    /// `instance_status`.
    #[prost(message, tag = "33")]
    InstanceStatus(InstanceStatus),
}

/// `PluginNames {repeated names}`.
#[derive(Clone, PartialEq, Message)]
pub struct PluginNames {
    /// The plugins served.
    #[prost(string, repeated, tag = "1")]
    pub names: Vec<String>,
}

/// `PluginInfo`.
#[derive(Clone, PartialEq, Message)]
pub struct PluginInfo {
    /// `name`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// `updated_at`, unix seconds.
    #[prost(int64, tag = "2")]
    pub updated_at: i64,
    /// `loaded_at`, unix seconds.
    #[prost(int64, tag = "3")]
    pub loaded_at: i64,
    /// `phases`.
    #[prost(string, repeated, tag = "4")]
    pub phases: Vec<String>,
    /// `version`.
    #[prost(string, tag = "5")]
    pub version: String,
    /// `priority`.
    #[prost(int32, tag = "6")]
    pub priority: i32,
    /// `schema`, JSON text.
    #[prost(string, tag = "7")]
    pub schema: String,
}

/// `InstanceStatus`.
#[derive(Clone, PartialEq, Message)]
pub struct InstanceStatus {
    /// `name`: the plugin.
    #[prost(string, tag = "1")]
    pub name: String,
    /// `instance_id`.
    #[prost(int32, tag = "2")]
    pub instance_id: i32,
    /// `config`.
    #[prost(message, optional, tag = "3")]
    pub config: Option<Value>,
    /// `started_at`, unix seconds.
    #[prost(int64, tag = "4")]
    pub started_at: i64,
}

/// `Bool {v}`.
#[derive(Clone, PartialEq, Message)]
pub struct Bool {
    /// The value.
    #[prost(bool, tag = "1")]
    pub v: bool,
}

/// `Int {v}`.
#[derive(Clone, PartialEq, Message)]
pub struct Int {
    /// The value.
    #[prost(int32, tag = "1")]
    pub v: i32,
}

/// `Number {v}`.
#[derive(Clone, PartialEq, Message)]
pub struct Number {
    /// The value.
    #[prost(double, tag = "1")]
    pub v: f64,
}

/// `String {v}`.
#[derive(Clone, PartialEq, Message)]
pub struct Text {
    /// The value.
    #[prost(string, tag = "1")]
    pub v: String,
}

/// `ByteString {v}`.
#[derive(Clone, PartialEq, Message)]
pub struct ByteString {
    /// The value.
    #[prost(bytes = "vec", tag = "1")]
    pub v: Vec<u8>,
}

/// `KV {k, v}`.
#[derive(Clone, PartialEq, Message)]
pub struct Kv {
    /// The key.
    #[prost(string, tag = "1")]
    pub k: String,
    /// The value.
    #[prost(message, optional, tag = "2")]
    pub v: Option<Value>,
}

/// `ExitArgs {status, body, headers}`.
#[derive(Clone, PartialEq, Message)]
pub struct ExitArgs {
    /// The status.
    #[prost(int32, tag = "1")]
    pub status: i32,
    /// The body.
    #[prost(bytes = "vec", tag = "2")]
    pub body: Vec<u8>,
    /// The headers: name → value or list of values.
    #[prost(message, optional, tag = "3")]
    pub headers: Option<Struct>,
}

/// `Target {host, port}`.
#[derive(Clone, PartialEq, Message)]
pub struct Target {
    /// The host.
    #[prost(string, tag = "1")]
    pub host: String,
    /// The port.
    #[prost(int32, tag = "2")]
    pub port: i32,
}

/// `ConsumerSpec {id, by_username}`.
#[derive(Clone, PartialEq, Message)]
pub struct ConsumerSpec {
    /// The id, or the username.
    #[prost(string, tag = "1")]
    pub id: String,
    /// Whether `id` is a username.
    #[prost(bool, tag = "2")]
    pub by_username: bool,
}

/// `AuthenticatedCredential {id, consumer_id}`.
#[derive(Clone, PartialEq, Message)]
pub struct AuthenticatedCredential {
    /// `id`.
    #[prost(string, tag = "1")]
    pub id: String,
    /// `consumer_id`.
    #[prost(string, tag = "2")]
    pub consumer_id: String,
}

/// `Consumer`.
#[derive(Clone, PartialEq, Message)]
pub struct Consumer {
    /// `id`.
    #[prost(string, tag = "1")]
    pub id: String,
    /// `created_at`.
    #[prost(int64, tag = "2")]
    pub created_at: i64,
    /// `username`.
    #[prost(string, tag = "3")]
    pub username: String,
    /// `custom_id`.
    #[prost(string, tag = "4")]
    pub custom_id: String,
    /// `tags`.
    #[prost(string, repeated, tag = "5")]
    pub tags: Vec<String>,
}

/// `AuthenticateArgs {consumer, credential}`.
#[derive(Clone, PartialEq, Message)]
pub struct AuthenticateArgs {
    /// The consumer.
    #[prost(message, optional, tag = "1")]
    pub consumer: Option<Consumer>,
    /// The credential.
    #[prost(message, optional, tag = "2")]
    pub credential: Option<AuthenticatedCredential>,
}

/// `RawBodyResult`: the body, where Kong buffered it to a file, or why there is none.
#[derive(Clone, PartialEq, Message)]
pub struct RawBodyResult {
    /// Which.
    #[prost(oneof = "RawBody", tags = "1, 2, 3")]
    pub kind: Option<RawBody>,
}

/// The kinds of a [`RawBodyResult`].
#[derive(Clone, PartialEq, Oneof)]
pub enum RawBody {
    /// `content`.
    #[prost(bytes, tag = "1")]
    Content(Vec<u8>),
    /// `body_filepath`.
    #[prost(string, tag = "2")]
    BodyFilepath(String),
    /// `error`.
    #[prost(string, tag = "3")]
    Error(String),
}

/// `UriCapturesResult {unnamed, named}`.
#[derive(Clone, PartialEq, Message)]
pub struct UriCapturesResult {
    /// `unnamed`.
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub unnamed: Vec<Vec<u8>>,
    /// `named`.
    #[prost(btree_map = "string, bytes", tag = "2")]
    pub named: std::collections::BTreeMap<String, Vec<u8>>,
}

/// `ServiceKey` and `CertificateKey`: `{id}`.
#[derive(Clone, PartialEq, Message)]
pub struct Key {
    /// `id`.
    #[prost(string, tag = "1")]
    pub id: String,
}

/// `Route`.
#[derive(Clone, PartialEq, Message)]
pub struct Route {
    /// `id`.
    #[prost(string, tag = "1")]
    pub id: String,
    /// `created_at`.
    #[prost(int64, tag = "2")]
    pub created_at: i64,
    /// `updated_at`.
    #[prost(int64, tag = "3")]
    pub updated_at: i64,
    /// `name`.
    #[prost(string, tag = "4")]
    pub name: String,
    /// `protocols`.
    #[prost(string, repeated, tag = "5")]
    pub protocols: Vec<String>,
    /// `methods`.
    #[prost(string, repeated, tag = "6")]
    pub methods: Vec<String>,
    /// `hosts`.
    #[prost(string, repeated, tag = "7")]
    pub hosts: Vec<String>,
    /// `paths`.
    #[prost(string, repeated, tag = "8")]
    pub paths: Vec<String>,
    /// `headers`.
    #[prost(string, repeated, tag = "9")]
    pub headers: Vec<String>,
    /// `https_redirect_status_code`.
    #[prost(int32, tag = "10")]
    pub https_redirect_status_code: i32,
    /// `regex_priority`.
    #[prost(int32, tag = "11")]
    pub regex_priority: i32,
    /// `strip_path`.
    #[prost(bool, tag = "12")]
    pub strip_path: bool,
    /// `preserve_host`.
    #[prost(bool, tag = "13")]
    pub preserve_host: bool,
    /// `snis`.
    #[prost(string, repeated, tag = "14")]
    pub snis: Vec<String>,
    /// `sources`.
    #[prost(string, repeated, tag = "15")]
    pub sources: Vec<String>,
    /// `destinations`.
    #[prost(string, repeated, tag = "16")]
    pub destinations: Vec<String>,
    /// `tags`.
    #[prost(string, repeated, tag = "17")]
    pub tags: Vec<String>,
    /// `service`.
    #[prost(message, optional, tag = "18")]
    pub service: Option<Key>,
}

/// `Service`.
#[derive(Clone, PartialEq, Message)]
pub struct Service {
    /// `id`.
    #[prost(string, tag = "1")]
    pub id: String,
    /// `created_at`.
    #[prost(int64, tag = "2")]
    pub created_at: i64,
    /// `updated_at`.
    #[prost(int64, tag = "3")]
    pub updated_at: i64,
    /// `name`.
    #[prost(string, tag = "4")]
    pub name: String,
    /// `retries`.
    #[prost(int32, tag = "5")]
    pub retries: i32,
    /// `protocol`.
    #[prost(string, tag = "6")]
    pub protocol: String,
    /// `host`.
    #[prost(string, tag = "7")]
    pub host: String,
    /// `port`.
    #[prost(int32, tag = "8")]
    pub port: i32,
    /// `path`.
    #[prost(string, tag = "9")]
    pub path: String,
    /// `connect_timeout`.
    #[prost(int32, tag = "10")]
    pub connect_timeout: i32,
    /// `write_timeout`.
    #[prost(int32, tag = "11")]
    pub write_timeout: i32,
    /// `read_timeout`.
    #[prost(int32, tag = "12")]
    pub read_timeout: i32,
    /// `tags`.
    #[prost(string, repeated, tag = "13")]
    pub tags: Vec<String>,
    /// `client_certificate`.
    #[prost(message, optional, tag = "14")]
    pub client_certificate: Option<Key>,
}

/// `MemoryStats`.
#[derive(Clone, PartialEq, Message)]
pub struct MemoryStats {
    /// `lua_shared_dicts`.
    #[prost(message, optional, tag = "1")]
    pub lua_shared_dicts: Option<SharedDicts>,
    /// `workers_lua_vms`.
    #[prost(message, repeated, tag = "2")]
    pub workers_lua_vms: Vec<WorkerVm>,
}

/// `MemoryStats.LuaSharedDicts`.
#[derive(Clone, PartialEq, Message)]
pub struct SharedDicts {
    /// `kong`.
    #[prost(message, optional, tag = "1")]
    pub kong: Option<DictStats>,
    /// `kong_db_cache`.
    #[prost(message, optional, tag = "2")]
    pub kong_db_cache: Option<DictStats>,
}

/// `MemoryStats.LuaSharedDicts.DictStats`.
#[derive(Clone, PartialEq, Message)]
pub struct DictStats {
    /// `allocated_slabs`.
    #[prost(int64, tag = "1")]
    pub allocated_slabs: i64,
    /// `capacity`.
    #[prost(int64, tag = "2")]
    pub capacity: i64,
}

/// `MemoryStats.WorkerLuaVm`.
#[derive(Clone, PartialEq, Message)]
pub struct WorkerVm {
    /// `http_allocated_gc`.
    #[prost(int64, tag = "1")]
    pub http_allocated_gc: i64,
    /// `pid`.
    #[prost(int64, tag = "2")]
    pub pid: i64,
}

//! Kong's own `pluginsocket.proto`, as each Kong release ships it, compiled when first needed:
//! the ProtoBuf:1 client ([`crate::protobuf`]) encodes and decodes through it, so that what it
//! sends and expects is Kong's schema, not the server's. The files are read from
//! `shared/kong-proto/` beside the checkout (Kong's data, never copied here).
//!
//! Kong's Lua side works by name, and so does this: a command is an `RpcCall` field set by
//! name; a method is looked up by the name Kong calls it by ([`kong_name`]); a PDK result (a Lua
//! table) becomes the method's output message field by field name, as `lua-protobuf` encodes a
//! table, a scalar result `{v = result}`; the arguments come back as the Lua values Kong unwraps.

use std::{collections::HashMap, path::PathBuf, sync::OnceLock};

use plugin_abi::schema::KongVersion;
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor,
    MethodDescriptor, ReflectMessage as _, Value as PbValue,
};
use rmpv::Value;

/// Kong's package.
pub const PACKAGE: &str = "kong_plugin_protocol";

/// Kong's files, each with the first release that ships it.
pub const VERSIONS: [(&str, KongVersion); 4] = [
    ("pluginsocket-2.4.0.proto", KongVersion::new(2, 4, 0)),
    ("pluginsocket-2.8.0.proto", KongVersion::new(2, 8, 0)),
    ("pluginsocket-3.1.0.proto", KongVersion::new(3, 1, 0)),
    ("pluginsocket-3.7.0.proto", KongVersion::new(3, 7, 0)),
];

/// Where Kong's files are.
pub fn dir() -> PathBuf {
    crate::paths::workspace().join("../shared/kong-proto")
}

/// Kong's schema in `file` (one of [`VERSIONS`]), compiled.
pub fn compile(file: &str) -> DescriptorPool {
    let dir = dir();
    assert!(
        dir.join(file).exists(),
        "{} is missing: Kong's pluginsocket.proto files are read from shared/kong-proto beside \
         the checkout",
        dir.join(file).display()
    );
    // The compiler's own pool keeps the custom options (`MethodName`) that a round trip
    // through prost-types' descriptors drops.
    let mut compiler = protox::Compiler::new([&dir]).unwrap_or_else(|e| panic!("{file}: {e}"));
    compiler
        .include_imports(true)
        .open_file(file)
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    compiler.descriptor_pool()
}

/// The name Kong calls an rpc of `service Kong` by: its `MethodName` option (extension 50007,
/// which names `kong.ctx.shared.set` and `.get`), else the name derived from the rpc's.
pub fn kong_name(pool: &DescriptorPool, rpc: &MethodDescriptor) -> String {
    let option = pool.get_extension_by_name(&format!("{PACKAGE}.MethodName"));
    let options = rpc.options();
    match option.filter(|option| options.has_extension(option)) {
        Some(option) => match options.get_extension(&option).as_ref() {
            PbValue::String(name) => name.clone(),
            other => panic!("{}: MethodName is {other:?}", rpc.name()),
        },
        None => lua_name(rpc.name()),
    }
}

/// The name Kong's `pb_rpc.lua` derives from an rpc's: `Service_Request_SetRawBody` is
/// `kong.service.request.set_raw_body` (`_` → `.`, then `_` before each capital that follows a
/// lower-case letter and its digits, all lower-cased).
pub fn lua_name(rpc: &str) -> String {
    let dotted = rpc.replace('_', ".");
    let mut out = String::from("kong.");
    let mut previous_lower = false;
    for c in dotted.chars() {
        if c.is_ascii_uppercase() && previous_lower {
            out.push('_');
        }
        if c.is_ascii_lowercase() {
            previous_lower = true;
        } else if !c.is_ascii_digit() {
            previous_lower = false;
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// One Kong release's schema: its messages and its methods by the name Kong calls them.
pub struct Schema {
    /// The compiled file.
    pub pool: DescriptorPool,
    methods: HashMap<String, MethodDescriptor>,
}

impl Schema {
    fn new(file: &str) -> Schema {
        let pool = compile(file);
        let service = pool
            .get_service_by_name(&format!("{PACKAGE}.Kong"))
            .unwrap_or_else(|| panic!("{file} has no service Kong"));
        let methods = service
            .methods()
            .map(|rpc| (kong_name(&pool, &rpc), rpc))
            .collect();
        Schema { pool, methods }
    }

    /// The schema Kong release `kong` ships.
    pub fn of(kong: KongVersion) -> &'static Schema {
        static SCHEMAS: [OnceLock<Schema>; 4] = [const { OnceLock::new() }; 4];
        let index = VERSIONS
            .iter()
            .rposition(|(_, first)| kong >= *first)
            .unwrap_or_else(|| panic!("Kong {kong} has no ProtoBuf:1"));
        SCHEMAS[index].get_or_init(|| Schema::new(VERSIONS[index].0))
    }

    /// The method Kong calls `name`, if `service Kong` has it.
    pub fn method(&self, name: &str) -> Option<&MethodDescriptor> {
        self.methods.get(name)
    }

    /// Kong's message `name` (of its package).
    pub fn message(&self, name: &str) -> MessageDescriptor {
        self.pool
            .get_message_by_name(&format!("{PACKAGE}.{name}"))
            .unwrap_or_else(|| panic!("Kong has no message {name}"))
    }

    /// An `RpcCall` of `sequence` with its command field `command` (`cmd_handle_event`, ...)
    /// set to the Lua table `args`, encoded.
    pub fn rpc_call(&self, sequence: i64, command: &str, args: &Value) -> Vec<u8> {
        let descriptor = self.message("RpcCall");
        let mut call = DynamicMessage::new(descriptor.clone());
        call.set_field_by_name("sequence", PbValue::I64(sequence));
        let field = descriptor
            .get_field_by_name(command)
            .unwrap_or_else(|| panic!("RpcCall has no {command}"));
        let Kind::Message(message) = field.kind() else {
            panic!("{command} is not a message");
        };
        call.set_field(&field, PbValue::Message(from_table(&message, args)));
        call.encode_to_vec()
    }

    /// An `RpcReturn`, decoded: its sequence, and the return field set (name, Lua table).
    pub fn rpc_return(&self, frame: &[u8]) -> Result<(i64, Option<(String, Value)>), String> {
        let ret = DynamicMessage::decode(self.message("RpcReturn"), frame)
            .map_err(|e| format!("not an RpcReturn: {e}"))?;
        let sequence = ret
            .get_field_by_name("sequence")
            .and_then(|v| v.as_i64())
            .unwrap_or(0);
        let returned = ret
            .fields()
            .find(|(field, _)| field.containing_oneof().is_some())
            .map(|(field, value)| (field.name().to_owned(), to_lua(value)));
        Ok((sequence, returned))
    }
}

/// Kong's answer frame for `method`'s Lua `result`, wrapped as `pb_rpc.lua` wraps it: a table
/// encoded by field name, a scalar as `{v = result}` (a raw body as `{content = body}`), the
/// well-known types by structpb's rules; an empty frame for nil and for an `Empty` output.
pub fn answer_frame(method: &MethodDescriptor, result: Option<&Value>) -> Vec<u8> {
    let output = method.output();
    let Some(result) = result else {
        return Vec::new();
    };
    if output.full_name() == "google.protobuf.Empty" {
        return Vec::new();
    }
    let message = match (output.full_name(), result) {
        ("google.protobuf.Value", value) => wkt_value(&output, value),
        ("google.protobuf.Struct", Value::Map(_)) => wkt_struct(&output, result),
        ("google.protobuf.Struct", _) => return Vec::new(),
        (_, Value::Map(_)) => from_table(&output, result),
        // `get_raw_body`'s body (its file and its error are Kong's own to find).
        ("kong_plugin_protocol.RawBodyResult", body) => from_table(
            &output,
            &Value::Map(vec![(Value::from("content"), body.clone())]),
        ),
        (_, scalar) => {
            // `{v = result}`: String, Int, Number, Bool, ByteString.
            from_table(
                &output,
                &Value::Map(vec![(Value::from("v"), scalar.clone())]),
            )
        }
    };
    message.encode_to_vec()
}

/// The Lua arguments Kong unwraps from `method`'s argument frame, as `pb_rpc.lua` does per
/// input message.
pub fn unwrap_args(method: &MethodDescriptor, frame: &[u8]) -> Result<Vec<Value>, String> {
    let input = method.input();
    let message = DynamicMessage::decode(input.clone(), frame).map_err(|e| e.to_string())?;
    let field = |name: &str| {
        message
            .get_field_by_name(name)
            .map_or(Value::Nil, |v| to_lua(&v))
    };
    let has = |name: &str| message.has_field_by_name(name);
    let name = input.full_name().to_owned();
    Ok(match name.strip_prefix(&format!("{PACKAGE}.")) {
        _ if name == "google.protobuf.Empty" => Vec::new(),
        _ if name == "google.protobuf.ListValue" => match to_lua_message(&message) {
            Value::Array(values) => values,
            _ => Vec::new(),
        },
        _ if name == "google.protobuf.Struct" => vec![to_lua_message(&message)],
        Some("String" | "Int" | "Number" | "Bool" | "ByteString") => vec![field("v")],
        Some("KV") => vec![field("k"), field("v")],
        Some("ExitArgs") => {
            let mut args = vec![field("status")];
            let body = match field("body") {
                Value::Binary(b) => Value::from(String::from_utf8_lossy(&b).into_owned()),
                other => other,
            };
            if has("headers") {
                args.extend([body, field("headers")]);
            } else if has("body") {
                args.push(body);
            }
            args
        }
        Some("Target") => vec![field("host"), field("port")],
        Some("ConsumerSpec") => vec![field("id"), field("by_username")],
        Some("AuthenticateArgs") => vec![field("consumer"), field("credential")],
        _ => vec![to_lua_message(&message)],
    })
}

/// A Lua table as `message`, field by field name (keys the message lacks are dropped, as
/// `lua-protobuf` drops them).
pub fn from_table(message: &MessageDescriptor, table: &Value) -> DynamicMessage {
    match message.full_name() {
        "google.protobuf.Value" => return wkt_value(message, table),
        "google.protobuf.Struct" => return wkt_struct(message, table),
        "google.protobuf.ListValue" => return wkt_list(message, table),
        _ => {}
    }
    let mut out = DynamicMessage::new(message.clone());
    for field in message.fields() {
        if let Some(value) = crate::kong::get(table, field.name())
            && let Some(value) = field_value(&field, value)
        {
            out.set_field(&field, value);
        }
    }
    out
}

fn field_value(field: &FieldDescriptor, value: &Value) -> Option<PbValue> {
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            return None;
        };
        let Value::Map(entries) = value else {
            return None;
        };
        let value_field = entry.map_entry_value_field();
        let map = entries
            .iter()
            .filter_map(|(k, v)| Some((MapKey::String(text(k)), scalar(&value_field.kind(), v)?)))
            .collect();
        return Some(PbValue::Map(map));
    }
    if field.is_list() {
        let Value::Array(items) = value else {
            return None;
        };
        return Some(PbValue::List(
            items
                .iter()
                .filter_map(|v| scalar(&field.kind(), v))
                .collect(),
        ));
    }
    scalar(&field.kind(), value)
}

/// One Lua value as a field of `kind`, converted as `lua-protobuf` converts it.
fn scalar(kind: &Kind, value: &Value) -> Option<PbValue> {
    if value.is_nil() {
        return None;
    }
    let number = || value.as_f64().or_else(|| value.as_i64().map(|i| i as f64));
    Some(match kind {
        Kind::Double => PbValue::F64(number()?),
        Kind::Float => PbValue::F32(number()? as f32),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => PbValue::I32(number()? as i32),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => PbValue::I64(number()? as i64),
        Kind::Uint32 | Kind::Fixed32 => PbValue::U32(number()? as u32),
        Kind::Uint64 | Kind::Fixed64 => PbValue::U64(number()? as u64),
        Kind::Bool => PbValue::Bool(value.as_bool()?),
        Kind::String => PbValue::String(text(value)),
        Kind::Bytes => PbValue::Bytes(match value {
            Value::Binary(b) => b.clone().into(),
            other => text(other).into_bytes().into(),
        }),
        Kind::Enum(_) => PbValue::EnumNumber(number()? as i32),
        Kind::Message(message) => PbValue::Message(from_table(message, value)),
    })
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        Value::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        other => other.to_string(),
    }
}

/// `google.protobuf.Value` for any Lua value.
fn wkt_value(message: &MessageDescriptor, value: &Value) -> DynamicMessage {
    let mut out = DynamicMessage::new(message.clone());
    let inner = |field: &str| {
        let field = message.get_field_by_name(field).expect("a field of Value");
        let Kind::Message(inner) = field.kind() else {
            unreachable!("struct_value and list_value are messages")
        };
        (field, inner)
    };
    match value {
        Value::Map(_) => {
            let (field, inner) = inner("struct_value");
            out.set_field(&field, PbValue::Message(wkt_struct(&inner, value)));
        }
        Value::Array(_) => {
            let (field, inner) = inner("list_value");
            out.set_field(&field, PbValue::Message(wkt_list(&inner, value)));
        }
        Value::Nil => out.set_field_by_name("null_value", PbValue::EnumNumber(0)),
        Value::Boolean(b) => out.set_field_by_name("bool_value", PbValue::Bool(*b)),
        Value::String(_) | Value::Binary(_) => {
            out.set_field_by_name("string_value", PbValue::String(text(value)))
        }
        other => {
            let n = other
                .as_f64()
                .or_else(|| other.as_i64().map(|i| i as f64))
                .unwrap_or(0.0);
            out.set_field_by_name("number_value", PbValue::F64(n))
        }
    }
    out
}

/// `google.protobuf.Struct` for a Lua table.
fn wkt_struct(message: &MessageDescriptor, table: &Value) -> DynamicMessage {
    let mut out = DynamicMessage::new(message.clone());
    let field = message.get_field_by_name("fields").expect("Struct.fields");
    let Kind::Message(entry) = field.kind() else {
        unreachable!("a map is a message of entries")
    };
    let Kind::Message(value_message) = entry.map_entry_value_field().kind() else {
        unreachable!("Struct's values are Values")
    };
    if let Value::Map(entries) = table {
        let map = entries
            .iter()
            .map(|(k, v)| {
                (
                    MapKey::String(text(k)),
                    PbValue::Message(wkt_value(&value_message, v)),
                )
            })
            .collect();
        out.set_field(&field, PbValue::Map(map));
    }
    out
}

/// `google.protobuf.ListValue` for a Lua sequence.
fn wkt_list(message: &MessageDescriptor, list: &Value) -> DynamicMessage {
    let mut out = DynamicMessage::new(message.clone());
    let field = message
        .get_field_by_name("values")
        .expect("ListValue.values");
    let Kind::Message(value_message) = field.kind() else {
        unreachable!("ListValue's values are Values")
    };
    if let Value::Array(items) = list {
        let values = items
            .iter()
            .map(|v| PbValue::Message(wkt_value(&value_message, v)))
            .collect();
        out.set_field(&field, PbValue::List(values));
    }
    out
}

/// A decoded field as the Lua value Kong's side makes of it.
pub fn to_lua(value: &PbValue) -> Value {
    match value {
        PbValue::Bool(b) => Value::Boolean(*b),
        PbValue::I32(i) => Value::from(*i),
        PbValue::I64(i) => Value::from(*i),
        PbValue::U32(i) => Value::from(*i),
        PbValue::U64(i) => Value::from(*i),
        PbValue::F32(f) => Value::from(f64::from(*f)),
        PbValue::F64(f) => Value::from(*f),
        PbValue::String(s) => Value::from(s.as_str()),
        PbValue::Bytes(b) => Value::Binary(b.to_vec()),
        PbValue::EnumNumber(n) => Value::from(*n),
        PbValue::Message(m) => to_lua_message(m),
        PbValue::List(items) => Value::Array(items.iter().map(to_lua).collect()),
        PbValue::Map(entries) => Value::Map(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        MapKey::String(s) => Value::from(s.as_str()),
                        MapKey::Bool(b) => Value::Boolean(*b),
                        MapKey::I32(i) => Value::from(*i),
                        MapKey::I64(i) => Value::from(*i),
                        MapKey::U32(i) => Value::from(*i),
                        MapKey::U64(i) => Value::from(*i),
                    };
                    (key, to_lua(v))
                })
                .collect(),
        ),
    }
}

/// A decoded message as a Lua table (the well-known types as the values they stand for).
pub fn to_lua_message(message: &DynamicMessage) -> Value {
    let descriptor = message.descriptor();
    match descriptor.full_name() {
        "google.protobuf.Value" => {
            return match message.fields().next() {
                Some((field, value)) if field.name() != "null_value" => to_lua(value),
                _ => Value::Nil,
            };
        }
        "google.protobuf.Struct" => {
            return message
                .get_field_by_name("fields")
                .map_or(Value::Map(Vec::new()), |v| to_lua(&v));
        }
        "google.protobuf.ListValue" => {
            return message
                .get_field_by_name("values")
                .map_or(Value::Array(Vec::new()), |v| to_lua(&v));
        }
        _ => {}
    }
    Value::Map(
        message
            .fields()
            .map(|(field, value)| (Value::from(field.name()), to_lua(value)))
            .collect(),
    )
}

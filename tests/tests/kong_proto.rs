//! Kong's own `pluginsocket.proto`, each of the four versions its releases ship
//! (`../shared/kong-proto/`), compiled at test time, judges the server's ProtoBuf:1 side: every
//! method of `service Kong` is in the server's table under the name Kong calls it by, with the
//! argument and answer messages Kong declares (or one the wire cannot tell apart, listed below
//! with why), and every message the server encodes or decodes carries every field of Kong's
//! message, number and type: a message filled by reflection from Kong's schema goes through the
//! server's type and comes back the same.

use kong_sim::kong_proto::{PACKAGE, VERSIONS, compile, kong_name, lua_name};
use plugin_abi::schema::KongVersion;
use pluginhost::wire::protobuf::{
    messages as m,
    methods::{Input, METHODS, Method, Output},
};
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, Value,
};

fn input_message(input: Input) -> String {
    let name = match input {
        Input::Empty => return "google.protobuf.Empty".into(),
        Input::List => return "google.protobuf.ListValue".into(),
        Input::Table => return "google.protobuf.Struct".into(),
        Input::Text => "String",
        Input::Int | Input::Max => "Int",
        Input::Bool => "Bool",
        Input::Bytes => "ByteString",
        Input::Kv => "KV",
        Input::Exit => "ExitArgs",
        Input::Target => "Target",
        Input::ConsumerSpec => "ConsumerSpec",
        Input::Authenticate => "AuthenticateArgs",
    };
    format!("{PACKAGE}.{name}")
}

fn output_message(output: Output) -> String {
    let name = match output {
        Output::Empty => return "google.protobuf.Empty".into(),
        Output::Value => return "google.protobuf.Value".into(),
        Output::Table => return "google.protobuf.Struct".into(),
        Output::Text => "String",
        Output::Int => "Int",
        Output::Number => "Number",
        Output::Bool => "Bool",
        Output::Bytes => "ByteString",
        Output::Credential => "AuthenticatedCredential",
        Output::Consumer => "Consumer",
        Output::MemoryStats => "MemoryStats",
        Output::Route => "Route",
        Output::Service => "Service",
        Output::RawBody => "RawBodyResult",
        Output::UriCaptures => "UriCapturesResult",
    };
    format!("{PACKAGE}.{name}")
}

/// Where the server's message differs from the one a Kong release declares, and why the wire
/// cannot tell them apart.
struct SameOnTheWire {
    method: &'static str,
    /// `argument` or `answer`.
    side: &'static str,
    /// Kong's message.
    kong: &'static str,
    /// The first release that declares the server's message.
    until: KongVersion,
    /// Why the wire cannot tell them apart.
    why: &'static str,
}

const SAME_ON_THE_WIRE: [SameOnTheWire; 4] = [
    SameOnTheWire {
        method: "kong.service.set_upstream",
        side: "answer",
        kong: "google.protobuf.Empty",
        until: KongVersion::new(3, 7, 0),
        why: "an Empty answer is an empty frame, which reads as Bool false",
    },
    SameOnTheWire {
        method: "kong.request.get_raw_body",
        side: "answer",
        kong: "kong_plugin_protocol.String",
        until: KongVersion::new(2, 8, 0),
        why: "String's field 1 is RawBodyResult's content (field 1, length-delimited)",
    },
    SameOnTheWire {
        method: "kong.service.request.set_raw_body",
        side: "argument",
        kong: "kong_plugin_protocol.String",
        until: KongVersion::new(3, 1, 0),
        why: "String and ByteString are both field 1, length-delimited",
    },
    SameOnTheWire {
        method: "kong.service.response.get_raw_body",
        side: "answer",
        kong: "kong_plugin_protocol.String",
        until: KongVersion::new(3, 1, 0),
        why: "String and ByteString are both field 1, length-delimited",
    },
];

fn same_on_the_wire(method: &str, side: &str, kong: &str, release: KongVersion) -> bool {
    SAME_ON_THE_WIRE
        .iter()
        .any(|e| e.method == method && e.side == side && e.kong == kong && release < e.until)
}

/// The server's method table against one release's `service Kong`: every rpc of it is there,
/// with its messages; a message that differs is an error naming method, side and both types.
fn method_table_errors(pool: &DescriptorPool, release: KongVersion) -> Vec<String> {
    let service = pool
        .get_service_by_name(&format!("{PACKAGE}.Kong"))
        .expect("service Kong");
    let mut errors = Vec::new();
    let mut kong_names = Vec::new();
    for rpc in service.methods() {
        let name = kong_name(pool, &rpc);
        kong_names.push(name.clone());
        let Some(method): Option<&Method> = METHODS.iter().find(|m| m.name == name) else {
            errors.push(format!(
                "{name} ({}) is not in the server's table",
                rpc.name()
            ));
            continue;
        };
        for (side, kong, ours) in [
            (
                "argument",
                rpc.input().full_name().to_owned(),
                input_message(method.input),
            ),
            (
                "answer",
                rpc.output().full_name().to_owned(),
                output_message(method.output),
            ),
        ] {
            if kong != ours && !same_on_the_wire(&name, side, &kong, release) {
                errors.push(format!(
                    "{name}: Kong's {side} is {kong}, the server's {ours}"
                ));
            }
        }
    }
    // What the server has beyond this release is what later releases added.
    for method in METHODS.iter() {
        if !kong_names.contains(&method.name.to_owned()) && release >= KongVersion::new(3, 1, 0) {
            errors.push(format!(
                "{} is not a method of Kong {release:?}",
                method.name
            ));
        }
    }
    errors
}

#[test]
fn the_method_table_is_kongs_in_every_release() {
    for (file, release) in VERSIONS {
        let pool = compile(file);
        let errors = method_table_errors(&pool, release);
        assert!(errors.is_empty(), "{file}:\n{}", errors.join("\n"));
        let count = pool
            .get_service_by_name(&format!("{PACKAGE}.Kong"))
            .unwrap()
            .methods()
            .count();
        assert!(count >= 73, "{file}: {count} methods");
    }
}

#[test]
fn every_message_the_wire_cannot_tell_apart_is_one_kong_declared() {
    let pools: Vec<_> = VERSIONS
        .iter()
        .map(|&(file, release)| (release, compile(file)))
        .collect();
    for entry in &SAME_ON_THE_WIRE {
        let declared = pools.iter().any(|(release, pool)| {
            let service = pool
                .get_service_by_name(&format!("{PACKAGE}.Kong"))
                .expect("service Kong");
            *release < entry.until
                && service.methods().any(|rpc| {
                    let message = match entry.side {
                        "argument" => rpc.input(),
                        _ => rpc.output(),
                    };
                    kong_name(pool, &rpc) == entry.method && message.full_name() == entry.kong
                })
        });
        assert!(
            declared,
            "{} ({}): no release before {} declares {}; the exception ({}) is stale",
            entry.method, entry.side, entry.until, entry.kong, entry.why
        );
    }
}

#[test]
fn kong_names_its_methods_as_the_server_does() {
    assert_eq!(lua_name("Client_GetIp"), "kong.client.get_ip");
    assert_eq!(
        lua_name("Service_Request_SetRawBody"),
        "kong.service.request.set_raw_body"
    );
    assert_eq!(
        lua_name("Nginx_GetTls1VersionStr"),
        "kong.nginx.get_tls1_version_str"
    );
}

/// A value of `kind`, distinct per field, `depth` levels of messages deep at most.
fn sample(kind: &Kind, field: u32, depth: u32) -> Option<Value> {
    let n = field as i64 + 2;
    Some(match kind {
        Kind::Double => Value::F64(n as f64 + 0.5),
        Kind::Float => Value::F32(n as f32 + 0.5),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(-(n as i32)),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(-n * 1_000_000_007),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(n as u32),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(n as u64 * 1_000_000_007),
        Kind::Bool => Value::Bool(true),
        Kind::String => Value::String(format!("text {field}")),
        Kind::Bytes => Value::Bytes(format!("bytes {field}").into_bytes().into()),
        Kind::Enum(e) => Value::EnumNumber(e.values().map(|v| v.number()).max().unwrap_or(0)),
        Kind::Message(message) => {
            if depth == 0 {
                return None;
            }
            Value::Message(filled(message, depth - 1, 0))
        }
    })
}

/// `message` with every field set, and of each oneof its `variant`-th member (the last one
/// when it has fewer).
fn filled(message: &MessageDescriptor, depth: u32, variant: usize) -> DynamicMessage {
    let mut dynamic = DynamicMessage::new(message.clone());
    for oneof in message.oneofs() {
        let fields: Vec<FieldDescriptor> = oneof.fields().collect();
        if let Some(field) = fields.get(variant.min(fields.len().saturating_sub(1)))
            && let Some(value) = field_value(field, depth)
        {
            dynamic.set_field(field, value);
        }
    }
    for field in message.fields().filter(|f| f.containing_oneof().is_none()) {
        if let Some(value) = field_value(&field, depth) {
            dynamic.set_field(&field, value);
        }
    }
    dynamic
}

fn field_value(field: &FieldDescriptor, depth: u32) -> Option<Value> {
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            return None;
        };
        let value = sample(&entry.map_entry_value_field().kind(), field.number(), depth)?;
        let key = match sample(&entry.map_entry_key_field().kind(), field.number(), depth)? {
            Value::String(s) => MapKey::String(s),
            Value::I32(i) => MapKey::I32(i),
            Value::I64(i) => MapKey::I64(i),
            Value::U32(i) => MapKey::U32(i),
            Value::U64(i) => MapKey::U64(i),
            Value::Bool(b) => MapKey::Bool(b),
            _ => return None,
        };
        return Some(Value::Map([(key, value)].into_iter().collect()));
    }
    let value = sample(&field.kind(), field.number(), depth)?;
    Some(if field.is_list() {
        Value::List(vec![value])
    } else {
        value
    })
}

/// The differences after a round trip through the server's type `T` of Kong's `message`
/// filled in every way its oneofs allow; empty when the server keeps every field.
fn round_trip<T: prost::Message + Default>(message: &MessageDescriptor) -> Vec<String> {
    let variants = message
        .oneofs()
        .map(|o| o.fields().count())
        .max()
        .unwrap_or(1);
    let mut errors = Vec::new();
    for variant in 0..variants.max(1) {
        let sent = filled(message, 3, variant);
        let bytes = sent.encode_to_vec();
        let ours = match T::decode(bytes.as_slice()) {
            Ok(ours) => ours,
            Err(e) => {
                errors.push(format!(
                    "{}: the server cannot read it: {e}",
                    message.name()
                ));
                continue;
            }
        };
        let back = DynamicMessage::decode(message.clone(), ours.encode_to_vec().as_slice())
            .expect("the server's bytes are a message");
        if back != sent {
            errors.push(format!(
                "{} (variant {variant}): {}",
                message.name(),
                differences(message, &sent, &back)
            ));
        }
    }
    errors
}

/// Which of Kong's fields came back otherwise than they were sent, by name and number.
fn differences(
    message: &MessageDescriptor,
    sent: &DynamicMessage,
    back: &DynamicMessage,
) -> String {
    let mut out = Vec::new();
    for field in message.fields() {
        let (a, b) = (sent.get_field(&field), back.get_field(&field));
        if a != b {
            out.push(format!(
                "field {} ({}) sent {a:?}, the server gave back {b:?}",
                field.name(),
                field.number()
            ));
        }
    }
    let unknown: Vec<u32> = back.unknown_fields().map(|f| f.number()).collect();
    if !unknown.is_empty() {
        out.push(format!(
            "the server wrote fields Kong does not have: {unknown:?}"
        ));
    }
    if out.is_empty() {
        out.push("a nested message differs".into());
    }
    out.join("; ")
}

/// Kong's messages the server has no type for, and why.
const NOT_ON_THE_WIRE: [&str; 4] = [
    // Declared by Kong's file and used by none of its releases' Lua code.
    "StringMap",
    "PdkArg",
    "PdkCall",
    "PdkReturn",
];

/// Every top-level message of Kong's file against the server's type for it.
fn message_errors(pool: &DescriptorPool) -> Vec<String> {
    let mut errors = Vec::new();
    for message in pool
        .all_messages()
        .filter(|m| m.package_name() == PACKAGE && m.parent_message().is_none())
    {
        let found = match message.name() {
            "CmdGetPluginNames" => round_trip::<m::CmdGetPluginNames>(&message),
            "CmdGetPluginInfo" => round_trip::<m::CmdGetPluginInfo>(&message),
            "CmdStartInstance" => round_trip::<m::CmdStartInstance>(&message),
            "CmdGetInstanceStatus" | "CmdCloseInstance" => round_trip::<m::InstanceRef>(&message),
            "CmdHandleEvent" => round_trip::<m::CmdHandleEvent>(&message),
            "RpcCall" => round_trip::<m::RpcCall>(&message),
            "PluginNames" => round_trip::<m::PluginNames>(&message),
            "PluginInfo" => round_trip::<m::PluginInfo>(&message),
            "InstanceStatus" => round_trip::<m::InstanceStatus>(&message),
            "RpcReturn" => round_trip::<m::RpcReturn>(&message),
            "KV" => round_trip::<m::Kv>(&message),
            "Bool" => round_trip::<m::Bool>(&message),
            "Int" => round_trip::<m::Int>(&message),
            "Number" => round_trip::<m::Number>(&message),
            "String" => round_trip::<m::Text>(&message),
            "ByteString" => round_trip::<m::ByteString>(&message),
            "ExitArgs" => round_trip::<m::ExitArgs>(&message),
            "ServiceKey" | "CertificateKey" => round_trip::<m::Key>(&message),
            "RawBodyResult" => round_trip::<m::RawBodyResult>(&message),
            "UriCapturesResult" => round_trip::<m::UriCapturesResult>(&message),
            "Route" => round_trip::<m::Route>(&message),
            "Service" => round_trip::<m::Service>(&message),
            "Target" => round_trip::<m::Target>(&message),
            "ConsumerSpec" => round_trip::<m::ConsumerSpec>(&message),
            "Consumer" => round_trip::<m::Consumer>(&message),
            "AuthenticatedCredential" => round_trip::<m::AuthenticatedCredential>(&message),
            "AuthenticateArgs" => round_trip::<m::AuthenticateArgs>(&message),
            "MemoryStats" => round_trip::<m::MemoryStats>(&message),
            name if NOT_ON_THE_WIRE.contains(&name) => Vec::new(),
            name => vec![format!("{name}: the server has no type for it")],
        };
        errors.extend(found);
    }
    errors
}

#[test]
fn every_message_keeps_every_field_of_kongs_in_every_release() {
    for (file, _) in VERSIONS {
        let errors = message_errors(&compile(file));
        assert!(errors.is_empty(), "{file}:\n{}", errors.join("\n"));
    }
}

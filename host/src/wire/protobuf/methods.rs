//! The PDK over ProtoBuf:1: the 74 methods of Kong's `service Kong`, each with the message its
//! arguments travel in and the message Kong answers with. Nothing else is callable in this
//! dialect: Kong looks a method name up in this set and fails the request for any other.

/// The message a method's arguments travel in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// `google.protobuf.Empty`: no arguments, an empty frame.
    Empty,
    /// `String {v}`: one text argument.
    Text,
    /// `Int {v}`: one integer argument.
    Int,
    /// `Int {v}` holding at most how many entries to return; Kong's default, 100, when the
    /// PDK passes none.
    Max,
    /// `Bool {v}`.
    Bool,
    /// `ByteString {v}`.
    Bytes,
    /// `KV {k, v}`: a key and any value.
    Kv,
    /// `ExitArgs {status, body, headers}`.
    Exit,
    /// `Target {host, port}`.
    Target,
    /// `ConsumerSpec {id, by_username}`.
    ConsumerSpec,
    /// `AuthenticateArgs {consumer, credential}`.
    Authenticate,
    /// `google.protobuf.ListValue`: every argument (`kong.log.*`).
    List,
    /// `google.protobuf.Struct`: one table argument.
    Table,
}

/// The message Kong answers a method with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// `google.protobuf.Empty`: nil.
    Empty,
    /// `String {v}`.
    Text,
    /// `Int {v}`.
    Int,
    /// `Number {v}`.
    Number,
    /// `Bool {v}`.
    Bool,
    /// `ByteString {v}`.
    Bytes,
    /// `google.protobuf.Value`.
    Value,
    /// `google.protobuf.Struct`.
    Table,
    /// `AuthenticatedCredential`.
    Credential,
    /// `Consumer`.
    Consumer,
    /// `MemoryStats`.
    MemoryStats,
    /// `Route`.
    Route,
    /// `Service`.
    Service,
    /// `RawBodyResult`.
    RawBody,
    /// `UriCapturesResult`.
    UriCaptures,
}

/// One method of `service Kong`, by the dotted name Kong derives from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Method {
    /// The name the plugin calls and the server sends, `kong.request.get_header`.
    pub name: &'static str,
    /// Its arguments' message.
    pub input: Input,
    /// Its answer's message.
    pub output: Output,
}

const fn m(name: &'static str, input: Input, output: Output) -> Method {
    Method {
        name,
        input,
        output,
    }
}

use Input as I;
use Output as O;

/// Every method callable over ProtoBuf:1, in the order of Kong's `service Kong`.
pub const METHODS: [Method; 74] = [
    m("kong.client.get_ip", I::Empty, O::Text),
    m("kong.client.get_forwarded_ip", I::Empty, O::Text),
    m("kong.client.get_port", I::Empty, O::Int),
    m("kong.client.get_forwarded_port", I::Empty, O::Int),
    m("kong.client.get_credential", I::Empty, O::Credential),
    m("kong.client.load_consumer", I::ConsumerSpec, O::Consumer),
    m("kong.client.get_consumer", I::Empty, O::Consumer),
    m("kong.client.authenticate", I::Authenticate, O::Empty),
    m("kong.client.get_protocol", I::Bool, O::Text),
    m("kong.ctx.shared.set", I::Kv, O::Empty),
    m("kong.ctx.shared.get", I::Text, O::Value),
    m("kong.ip.is_trusted", I::Text, O::Bool),
    m("kong.log.alert", I::List, O::Empty),
    m("kong.log.crit", I::List, O::Empty),
    m("kong.log.err", I::List, O::Empty),
    m("kong.log.warn", I::List, O::Empty),
    m("kong.log.notice", I::List, O::Empty),
    m("kong.log.info", I::List, O::Empty),
    m("kong.log.debug", I::List, O::Empty),
    m("kong.log.set_serialize_value", I::Kv, O::Empty),
    m("kong.log.serialize", I::Empty, O::Text),
    m("kong.nginx.get_var", I::Text, O::Text),
    m("kong.nginx.get_tls1_version_str", I::Empty, O::Text),
    m("kong.nginx.set_ctx", I::Kv, O::Text),
    m("kong.nginx.get_ctx", I::Text, O::Value),
    m("kong.nginx.req_start_time", I::Empty, O::Number),
    m("kong.nginx.get_subsystem", I::Empty, O::Text),
    m("kong.node.get_id", I::Empty, O::Text),
    m("kong.node.get_memory_stats", I::Empty, O::MemoryStats),
    m("kong.request.get_scheme", I::Empty, O::Text),
    m("kong.request.get_host", I::Empty, O::Text),
    m("kong.request.get_port", I::Empty, O::Int),
    m("kong.request.get_forwarded_scheme", I::Empty, O::Text),
    m("kong.request.get_forwarded_host", I::Empty, O::Text),
    m("kong.request.get_forwarded_port", I::Empty, O::Int),
    m("kong.request.get_http_version", I::Empty, O::Number),
    m("kong.request.get_method", I::Empty, O::Text),
    m("kong.request.get_path", I::Empty, O::Text),
    m("kong.request.get_path_with_query", I::Empty, O::Text),
    m("kong.request.get_raw_query", I::Empty, O::Text),
    m("kong.request.get_query_arg", I::Text, O::Text),
    m("kong.request.get_query", I::Max, O::Table),
    m("kong.request.get_header", I::Text, O::Text),
    m("kong.request.get_headers", I::Max, O::Table),
    m("kong.request.get_raw_body", I::Empty, O::RawBody),
    m("kong.request.get_uri_captures", I::Empty, O::UriCaptures),
    m("kong.response.get_status", I::Empty, O::Int),
    m("kong.response.get_header", I::Text, O::Text),
    m("kong.response.get_headers", I::Max, O::Table),
    m("kong.response.get_source", I::Empty, O::Text),
    m("kong.response.set_status", I::Int, O::Empty),
    m("kong.response.set_header", I::Kv, O::Empty),
    m("kong.response.add_header", I::Kv, O::Empty),
    m("kong.response.clear_header", I::Text, O::Empty),
    m("kong.response.set_headers", I::Table, O::Empty),
    m("kong.response.exit", I::Exit, O::Empty),
    m("kong.router.get_route", I::Empty, O::Route),
    m("kong.router.get_service", I::Empty, O::Service),
    // Kong answers Empty up to 3.6 and Bool from 3.7: an empty frame reads as either.
    m("kong.service.set_upstream", I::Text, O::Bool),
    m("kong.service.set_target", I::Target, O::Empty),
    m("kong.service.request.set_scheme", I::Text, O::Empty),
    m("kong.service.request.set_path", I::Text, O::Empty),
    m("kong.service.request.set_raw_query", I::Text, O::Empty),
    m("kong.service.request.set_method", I::Text, O::Empty),
    m("kong.service.request.set_query", I::Table, O::Empty),
    m("kong.service.request.set_header", I::Kv, O::Empty),
    m("kong.service.request.add_header", I::Kv, O::Empty),
    m("kong.service.request.clear_header", I::Text, O::Empty),
    m("kong.service.request.set_headers", I::Table, O::Empty),
    m("kong.service.request.set_raw_body", I::Bytes, O::Empty),
    m("kong.service.response.get_status", I::Empty, O::Int),
    m("kong.service.response.get_headers", I::Max, O::Table),
    m("kong.service.response.get_header", I::Text, O::Text),
    m("kong.service.response.get_raw_body", I::Empty, O::Bytes),
];

/// The method named `name`, if Kong's `service Kong` has it.
pub fn find(name: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_once_and_exit_only_with_its_args() {
        let mut names: Vec<&str> = METHODS.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 74);
        assert_eq!(
            find("kong.response.exit").map(|m| m.input),
            Some(Input::Exit)
        );
        assert_eq!(find("kong.response.error"), None);
        assert_eq!(find("kong.request.get_body"), None);
    }
}

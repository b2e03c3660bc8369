//! Kong's ProtoBuf:1 dialect, the wire alone: [`frame`] (u32-LE length prefixes),
//! [`messages`] (the envelope and the PDK's messages), [`methods`] (the 74 methods of
//! `service Kong`), [`args`] and [`answers`] (a PDK call's MessagePack arguments and answer to
//! and from those messages, so that plugins and the PDK are the same in both dialects),
//! [`structpb`] (Lua values as `google.protobuf.Value`), [`incoming`] (the same reading on a
//! byte string, for the fuzz target). What a call asks for is [`crate::op::protobuf`]'s;
//! serving it, [`crate::serving::session::protobuf`]'s.
//!
//! The dialect differs from MsgPack:1 in how Kong uses a connection: one event per connection,
//! held from `cmd_handle_event` to its `RpcReturn`, with every PDK round trip inside; no event
//! id, no `serverPid`, no error message (an error is a closed connection).

pub mod answers;
pub mod args;
pub mod frame;
pub mod incoming;
pub mod messages;
pub mod methods;
pub mod structpb;

//! Kong's two dialects on the wire, each in its own folder and named for its encoding:
//! [`msgpack`] (MsgPack:1, go-pluginserver's) and [`protobuf`] (ProtoBuf:1, go-pdk's embedded
//! servers'): frames, messages and their limits, nothing of what they ask for. Both are read
//! into the one vocabulary of [`crate::op`]; what an operation does is [`crate::serving`]'s,
//! and knows no wire.

pub mod msgpack;
pub mod protobuf;

//! Kong's two dialects on the wire, each in its own folder and named for its encoding:
//! [`msgpack`] (MsgPack:1, go-pluginserver's) and [`protobuf`] (ProtoBuf:1, go-pdk's embedded
//! servers'). Each reads Kong's frames into the one vocabulary of [`crate::op`] and writes its
//! outcomes back; what an operation does is [`crate::serving`]'s, and knows no wire.

pub mod msgpack;
pub mod protobuf;

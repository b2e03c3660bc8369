//! Kong's MsgPack:1 wire protocol, and nothing else: framing with its limits ([`frame`]),
//! messages ([`message`]), reading their parameters ([`params`]), and the same framing and
//! decoding over a byte string, for the fuzz target ([`incoming`]); and a client ([`client`]).
//! What a request asks for is [`crate::op::msgpack`]'s; doing it, [`crate::serving`]'s.

pub mod client;
pub mod frame;
pub mod incoming;
pub mod message;
pub mod params;

//! Kong's MsgPack:1 wire protocol, and nothing else: framing with its limits ([`frame`]),
//! requests and responses ([`message`]), reading their parameters ([`params`]), and the same
//! framing and decoding over a byte string, for the fuzz target ([`incoming`]); and a client
//! ([`client`]). Serving them is [`crate::serving`]'s.

pub mod client;
pub mod frame;
pub mod incoming;
pub mod message;
pub mod params;

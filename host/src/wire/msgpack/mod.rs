//! Kong's MsgPack:1 wire protocol, and nothing else: framing with its limits ([`frame`]),
//! messages ([`message`]) and reading their parameters ([`params`]), each request read into an
//! operation ([`request`]) and each outcome written as a response ([`response`], [`status`]),
//! the same framing and decoding over a byte string, for the fuzz target ([`incoming`]); and a
//! client ([`client`]). Serving them is [`crate::serving`]'s.

pub mod client;
pub mod frame;
pub mod incoming;
pub mod message;
pub mod params;
pub mod request;
pub mod response;
pub mod status;

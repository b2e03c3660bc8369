//! Kong's MsgPack:1 plugin protocol: framing, messages, dispatch, and the connection loop.

pub mod budget;
pub mod dispatch;
pub mod frame;
pub mod incoming;
pub mod message;
pub mod methods;
pub mod params;
pub mod server;
pub mod stream;

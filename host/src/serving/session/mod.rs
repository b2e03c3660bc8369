//! A session: the task that serves one connection on the worker that owns it, one per dialect
//! ([`msgpack`], [`protobuf`]), and what both do around each request ([`claim`]).

pub mod claim;
pub mod msgpack;
pub mod protobuf;

use std::{rc::Rc, sync::Arc};

use super::{
    conn::Conn,
    local::{self, Local},
    server::Server,
};
use crate::dialect::Dialect;

/// Sends `conn` to the worker that owns it now, whose session serves it from then on; `false`
/// when that worker has stopped.
pub fn adopt(server: &Server, conn: Arc<Conn>) -> bool {
    match server.host.settings.dialect {
        Dialect::MsgPack => local::adopt(server, conn, msgpack::serve),
        Dialect::ProtoBuf => local::adopt(server, conn, protobuf::serve),
    }
}

/// Starts the session of `conn` on this worker, which owns it.
pub fn start(local: &Rc<Local>, conn: Arc<Conn>) {
    let local = Rc::clone(local);
    match local.host().settings.dialect {
        Dialect::MsgPack => tokio::task::spawn_local(msgpack::serve(local, conn)),
        Dialect::ProtoBuf => tokio::task::spawn_local(protobuf::serve(local, conn)),
    };
}

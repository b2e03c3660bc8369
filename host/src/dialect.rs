//! The two dialects of Kong's plugin protocol a server speaks, one per process: MsgPack:1
//! (go-pluginserver's; the default) and ProtoBuf:1 (go-pdk's embedded servers', Kong 2.4 on).
//! Kong learns which from the `Protocol` of the query command's output.

use std::{fmt, str::FromStr};

use plugin_abi::schema::KongVersion;

/// A dialect of Kong's plugin protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// MessagePack-RPC over a stream of self-delimiting objects.
    #[default]
    MsgPack,
    /// Length-prefixed protobuf messages, one connection per event.
    ProtoBuf,
}

/// The first Kong that speaks ProtoBuf:1.
pub const PROTOBUF_SINCE: KongVersion = KongVersion::new(2, 4, 0);

impl Dialect {
    /// The name Kong reads in a dump's `Protocol`.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::MsgPack => "MsgPack:1",
            Dialect::ProtoBuf => "ProtoBuf:1",
        }
    }

    /// Whether Kong release `kong` (the one `-kong-version` names) speaks this dialect.
    pub fn check_kong(self, kong: Option<KongVersion>) -> Result<(), String> {
        match (self, kong) {
            (Dialect::ProtoBuf, Some(kong)) if kong < PROTOBUF_SINCE => Err(format!(
                "-protocol ProtoBuf:1 needs Kong {PROTOBUF_SINCE} or later, and -kong-version \
                 is {kong}: Kong before 2.4 speaks only MsgPack:1 (drop -protocol, or name a \
                 later Kong)"
            )),
            _ => Ok(()),
        }
    }
}

impl Dialect {
    /// Why a plugin may not call PDK function `method` in this dialect, if it may not:
    /// ProtoBuf:1 has only the methods of Kong's `service Kong`.
    pub fn refuses(self, method: &str) -> Option<String> {
        match self {
            Dialect::MsgPack => None,
            Dialect::ProtoBuf => crate::wire::protobuf::methods::find(method).is_none().then(
                || {
                    format!(
                        "{method} cannot be called over ProtoBuf:1: it is not a method of Kong's \
                     `service Kong` (serve with -protocol MsgPack:1 to call any kong.* \
                     function)"
                    )
                },
            ),
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dialect {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "msgpack:1" | "msgpack" => Ok(Dialect::MsgPack),
            "protobuf:1" | "protobuf" => Ok(Dialect::ProtoBuf),
            _ => Err(format!(
                "`{s}` is not a protocol pluginhost speaks: MsgPack:1 (the default) or ProtoBuf:1"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_kong_releases() {
        assert_eq!("protobuf".parse(), Ok(Dialect::ProtoBuf));
        assert_eq!("ProtoBuf:1".parse(), Ok(Dialect::ProtoBuf));
        assert_eq!("MsgPack:1".parse(), Ok(Dialect::MsgPack));
        assert!(
            "json"
                .parse::<Dialect>()
                .unwrap_err()
                .contains("`json` is not a protocol")
        );
        assert!(
            Dialect::ProtoBuf
                .check_kong(Some(KongVersion::new(2, 3, 0)))
                .is_err()
        );
        assert!(
            Dialect::ProtoBuf
                .check_kong(Some(KongVersion::new(2, 4, 0)))
                .is_ok()
        );
        assert!(
            Dialect::MsgPack
                .check_kong(Some(KongVersion::new(2, 0, 0)))
                .is_ok()
        );
    }
}

//! What Kong's query commands print: plugin infos as JSON or MessagePack.
//!
//! Kong parses stdout whole, so stdout carries the dump and nothing else; anything to say goes
//! to stderr. Formats (spec §2.2): `-dump-all-plugins` a JSON array with no trailing newline,
//! `-dump-plugin-info` exactly one MessagePack map, `-dump` a `{"Protocol","Plugins"}` object.
//! A JSON array means MsgPack:1 to Kong: with `-protocol ProtoBuf:1` every JSON dump is the
//! object, which names the dialect, and the MessagePack one (Kong 2.0 - 2.2) is refused.

use plugin_abi::{PluginInfo, schema::KongVersion};
use serde::Serialize;

use crate::{
    cli::Cli,
    dialect::{Dialect, PROTOBUF_SINCE},
    registry::Registry,
};

/// Kong's plugin info, with its capitalised keys, in go-pluginserver's field order.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KongInfo<'a> {
    name: &'a str,
    phases: Vec<&'static str>,
    version: &'a str,
    priority: i64,
    schema: &'a serde_json::Value,
}

impl<'a> From<&'a PluginInfo> for KongInfo<'a> {
    fn from(info: &'a PluginInfo) -> Self {
        KongInfo {
            name: &info.name,
            phases: kong_phases(info),
            version: &info.version,
            priority: info.priority,
            schema: &info.schema,
        }
    }
}

/// The plugin's phases by name, in Kong's fixed order (`Phase`'s), as every dialect and dump
/// lists them.
pub fn kong_phases(info: &PluginInfo) -> Vec<&'static str> {
    let mut phases = info.phases.clone();
    phases.sort();
    phases.into_iter().map(|p| p.as_str()).collect()
}

/// A plugin info as the MessagePack value `plugin.GetPluginInfo` returns.
pub fn info_value(info: &PluginInfo) -> rmpv::Value {
    let bytes = rmp_serde::to_vec_named(&KongInfo::from(info)).unwrap_or_default();
    rmpv::decode::read_value(&mut bytes.as_slice()).unwrap_or(rmpv::Value::Nil)
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Dump<'a> {
    protocol: &'static str,
    plugins: Vec<KongInfo<'a>>,
}

/// Why a dump printed nothing.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// The name asked for is not served.
    #[error("no plugin named `{name}` is served from {dir} (served: {served})")]
    UnknownPlugin {
        /// The name asked for.
        name: String,
        /// The plugins directory.
        dir: String,
        /// What is served.
        served: String,
    },
    /// The plugins directory cannot be read, or is not trusted.
    #[error(transparent)]
    Load(#[from] crate::loader::LoadError),
    /// The dump asked for cannot say what was asked (a dialect that Kong release does not
    /// speak).
    #[error("{0}")]
    Dialect(String),
    /// stdout is gone.
    #[error("cannot write to stdout")]
    Stdout(#[from] std::io::Error),
}

/// Runs the dump mode chosen on the command line. Refused plugins are left out of the dump and
/// explained on stderr.
pub fn run(cli: &Cli) -> Result<(), DumpError> {
    let dialect = cli.serve.kong.protocol;
    dialect
        .check_kong(cli.serve.kong_version)
        .map_err(DumpError::Dialect)?;
    if dialect == Dialect::ProtoBuf && cli.dump_plugin_info.is_some() {
        return Err(DumpError::Dialect(
            "-dump-plugin-info is Kong 2.0 - 2.2's query command, and those releases speak \
             only MsgPack:1: with -protocol ProtoBuf:1 use -dump-all-plugins, -dump or \
             -dump-plugin-info-json"
                .into(),
        ));
    }
    let registry = Registry::new(cli.policy())
        .for_kong(cli.schema_kong())
        .with_trust(cli.trust());
    let report = registry.load_dir(&cli.plugins.plugins_directory)?;
    report.log(&registry);
    if !report.refused.is_empty() {
        tracing::error!("refused plugins are left out of the dump");
    }
    let plugins = registry.all();
    let one = |name: &str| {
        registry.get(name).ok_or_else(|| DumpError::UnknownPlugin {
            name: name.to_owned(),
            dir: cli.plugins.plugins_directory.display().to_string(),
            served: served(&registry),
        })
    };
    let output = if let Some(name) = &cli.dump_plugin_info {
        let plugin = one(name)?;
        rmp_serde::to_vec_named(&KongInfo::from(&plugin.info))
            .map_err(|e| std::io::Error::other(e.to_string()))?
    } else if let Some(name) = &cli.dump_plugin_info_json {
        dump_document(&[&one(name)?.info], None, dialect)
    } else if cli.dump || dialect == Dialect::ProtoBuf {
        let infos: Vec<&PluginInfo> = plugins.iter().map(|p| &p.info).collect();
        let mut document = dump_document(&infos, cli.serve.kong_version, dialect);
        if !cli.dump {
            // -dump-all-plugins ends with no newline, whatever its form.
            document.pop();
        }
        document
    } else {
        let infos: Vec<KongInfo> = plugins.iter().map(|p| KongInfo::from(&p.info)).collect();
        to_json(&infos)
    };
    crate::stdout::print(&output)?;
    Ok(())
}

/// The `-dump` document of `infos`, and a newline: `{"Protocol":"MsgPack:1","Plugins":[...]}`
/// (or `"ProtoBuf:1"`), which Kong reads from 2.4 on; for a `kong` release before 2.4, the
/// JSON array of the infos, which is all Kong 2.3 reads (the protocol is then MsgPack:1, the
/// only one it speaks: the caller has refused ProtoBuf:1 for it, see [`Dialect::check_kong`]).
pub fn dump_document(
    infos: &[&PluginInfo],
    kong: Option<KongVersion>,
    dialect: Dialect,
) -> Vec<u8> {
    let plugins: Vec<KongInfo> = infos.iter().map(|info| KongInfo::from(*info)).collect();
    let mut out = match kong {
        Some(kong) if kong < PROTOBUF_SINCE && dialect == Dialect::MsgPack => to_json(&plugins),
        _ => to_json(&Dump {
            protocol: dialect.name(),
            plugins,
        }),
    };
    out.push(b'\n');
    out
}

fn to_json(value: &impl Serialize) -> Vec<u8> {
    // Serializing plain data into memory cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

fn served(registry: &Registry) -> String {
    let names: Vec<String> = registry.all().iter().map(|p| p.name().to_owned()).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

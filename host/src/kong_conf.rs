//! `pluginhost kong-conf`: the kong.conf lines that serve a plugins directory (or embedded
//! executables) to a given Kong release, so that nobody writes them by hand.
//!
//! Kong's generations read plugin servers three ways (the protocol's section on the process
//! model): 2.0 - 2.2 start `go_pluginserver_exe` themselves and ask each plugin with
//! `-dump-plugin-info`; 2.3 - 3.8 run one query command per `pluginserver_names` entry and
//! register every plugin it lists; 3.9 and later register only the first plugin of each query
//! command, so each plugin gets an entry of its own, all sharing one socket. Kong lower-cases
//! each entry's name and derives its keys from it with `-` turned into `_`. Kong runs the
//! commands through `/bin/sh`, so every path in them is quoted where the shell needs it.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};
use plugin_abi::schema::KongVersion;

use crate::{cli::KongConfArgs, dialect::Dialect, fingerprint::Policy, registry::Registry};

/// The first Kong that registers only the first plugin of a query command.
const FIRST_PLUGIN_ONLY: KongVersion = KongVersion::new(3, 9, 0);
/// The first Kong with `pluginserver_names`.
const NAMED_SERVERS: KongVersion = KongVersion::new(2, 3, 0);

/// The name Kong knows an entry by: `pluginserver_names` are lower-cased.
pub fn entry_of(name: &str) -> String {
    name.to_lowercase()
}

/// The key part Kong derives from an entry name.
pub fn key_of(name: &str) -> String {
    entry_of(name).replace('-', "_")
}

/// `words` as one command line for `/bin/sh`, each quoted where it needs to be.
fn command_line<'w>(words: impl IntoIterator<Item = &'w str>) -> anyhow::Result<String> {
    shlex::try_join(words).context("a command line cannot hold a NUL byte")
}

/// A kong.conf value: Kong reads `#` as the start of a comment and a line as one setting.
fn conf_value(value: String) -> anyhow::Result<String> {
    if value.contains(['#', '\n']) {
        bail!(
            "kong.conf cannot hold {value:?}: Kong reads `#` as a comment and a newline as the end of a setting"
        );
    }
    Ok(value)
}

/// Prints the lines on stdout.
pub fn run(args: &KongConfArgs) -> anyhow::Result<()> {
    let text = lines(args)?;
    crate::stdout::print(text.as_bytes()).context("cannot write to stdout")
}

/// The kong.conf lines for `args`.
pub fn lines(args: &KongConfArgs) -> anyhow::Result<String> {
    let kong = args.kong_version;
    args.kong
        .protocol
        .check_kong(Some(kong))
        .map_err(anyhow::Error::msg)?;
    if args.embedded.is_empty() {
        shared(args, kong)
    } else {
        embedded(args, kong)
    }
}

/// The `-protocol` flag to pass on, if not the default.
fn protocol_flag(dialect: Dialect) -> Vec<&'static str> {
    match dialect {
        Dialect::MsgPack => Vec::new(),
        Dialect::ProtoBuf => vec!["-protocol", dialect.name()],
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

fn shared(args: &KongConfArgs, kong: KongVersion) -> anyhow::Result<String> {
    let dir = absolute(&args.plugins.plugins_directory);
    let registry = Registry::new(Policy::default()).for_kong(kong);
    let report = registry
        .load_dir(&dir)
        .with_context(|| format!("cannot read the plugins directory {}", dir.display()))?;
    report.log(&registry);
    let names: Vec<String> = registry.all().iter().map(|p| p.name().to_owned()).collect();
    if names.is_empty() {
        bail!(
            "no plugin is served from {}: nothing to configure",
            dir.display()
        );
    }
    let exe = match &args.pluginhost {
        Some(exe) => exe.clone(),
        None => std::env::current_exe().context("cannot tell where pluginhost is")?,
    };
    let (exe, dir, prefix) = (
        exe.display().to_string(),
        dir.display().to_string(),
        absolute(&args.kong.kong_prefix).display().to_string(),
    );
    let proto = protocol_flag(args.kong.protocol);
    let version = kong.to_string();
    let mut out = String::new();
    let plugins = names.join(",");
    if kong < NAMED_SERVERS {
        // Kong builds the command lines itself from these two paths.
        let _ = writeln!(
            out,
            "# Kong {kong} (2.0 - 2.2): Kong starts the server itself, its socket in Kong's prefix"
        );
        let _ = writeln!(out, "plugins = bundled,{plugins}");
        let _ = writeln!(out, "go_plugins_dir = {}", conf_value(dir)?);
        let _ = writeln!(out, "go_pluginserver_exe = {}", conf_value(exe)?);
        return Ok(out);
    }
    let socket = conf_value(format!("{prefix}/go_pluginserver.sock"))?;
    let start = conf_value(command_line(
        [
            exe.as_str(),
            "-kong-prefix",
            &prefix,
            "-plugins-directory",
            &dir,
        ]
        .into_iter()
        .chain(proto.iter().copied()),
    )?)?;
    // Asked with the Kong release, the dump carries only what that release accepts.
    let query = |dump: &[&str]| -> anyhow::Result<String> {
        conf_value(command_line(
            [exe.as_str(), "-plugins-directory", &dir]
                .into_iter()
                .chain(dump.iter().copied())
                .chain(["-kong-version", &version])
                .chain(proto.iter().copied()),
        )?)
    };
    if kong < FIRST_PLUGIN_ONLY {
        let _ = writeln!(
            out,
            "# Kong {kong} (2.3 - 3.8): one plugin server entry serves every plugin"
        );
        let _ = writeln!(out, "plugins = bundled,{plugins}");
        let _ = writeln!(out, "pluginserver_names = pluginhost");
        let _ = writeln!(out, "pluginserver_pluginhost_socket = {socket}");
        let _ = writeln!(out, "pluginserver_pluginhost_start_cmd = {start}");
        let _ = writeln!(
            out,
            "pluginserver_pluginhost_query_cmd = {}",
            query(&["-dump-all-plugins"])?
        );
        return Ok(out);
    }
    let _ = writeln!(
        out,
        "# Kong {kong} (3.9 and later): one entry per plugin, all on one socket, the first \
         starts the server"
    );
    let entries: Vec<String> = names.iter().map(|n| entry_of(n)).collect();
    let _ = writeln!(out, "plugins = bundled,{plugins}");
    let _ = writeln!(out, "pluginserver_names = {}", entries.join(","));
    for (i, name) in names.iter().enumerate() {
        let key = key_of(name);
        let _ = writeln!(out, "pluginserver_{key}_socket = {socket}");
        if i == 0 {
            let _ = writeln!(out, "pluginserver_{key}_start_cmd = {start}");
        }
        let _ = writeln!(
            out,
            "pluginserver_{key}_query_cmd = {}",
            query(&["-dump-plugin-info-json", name])?
        );
    }
    Ok(out)
}

fn embedded(args: &KongConfArgs, kong: KongVersion) -> anyhow::Result<String> {
    if kong < NAMED_SERVERS {
        bail!(
            "Kong {kong} cannot run embedded servers: Kong 2.0 - 2.2 start only \
             go_pluginserver_exe (serve the plugins' .so files with pluginhost instead)"
        );
    }
    let prefix = absolute(&args.kong.kong_prefix).display().to_string();
    let proto = protocol_flag(args.kong.protocol);
    let version = kong.to_string();
    let mut entries = Vec::new();
    for exe in &args.embedded {
        let exe = absolute(exe);
        let file = exe
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .with_context(|| format!("{} is not a file", exe.display()))?;
        let plugin = plugin_of(&exe)?;
        entries.push((file, exe.display().to_string(), plugin));
    }
    let plugins: Vec<&str> = entries.iter().map(|(_, _, p)| p.as_str()).collect();
    let servers: Vec<String> = entries.iter().map(|(f, _, _)| entry_of(f)).collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Kong {kong}: one embedded server per plugin, each its own executable"
    );
    let _ = writeln!(out, "plugins = bundled,{}", plugins.join(","));
    let _ = writeln!(out, "pluginserver_names = {}", servers.join(","));
    for (file, exe, _) in &entries {
        let key = key_of(file);
        // The executable serves on its own file name, whatever case Kong gives the entry.
        let socket = conf_value(format!("{prefix}/{file}.socket"))?;
        let start = command_line(
            [exe.as_str(), "-kong-prefix", &prefix]
                .into_iter()
                .chain(proto.iter().copied()),
        )?;
        let query = command_line(
            [exe.as_str(), "-dump", "-kong-version", &version]
                .into_iter()
                .chain(proto.iter().copied()),
        )?;
        let _ = writeln!(out, "pluginserver_{key}_socket = {socket}");
        let _ = writeln!(out, "pluginserver_{key}_start_cmd = {}", conf_value(start)?);
        let _ = writeln!(out, "pluginserver_{key}_query_cmd = {}", conf_value(query)?);
    }
    Ok(out)
}

/// The plugin an embedded executable serves, from its own `-dump`.
fn plugin_of(exe: &Path) -> anyhow::Result<String> {
    let out = Command::new(exe)
        .arg("-dump")
        .output()
        .with_context(|| format!("cannot run {} -dump", exe.display()))?;
    if !out.status.success() {
        bail!(
            "{} -dump failed: {}",
            exe.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let dump: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("{} -dump printed no JSON", exe.display()))?;
    dump["Plugins"][0]["Name"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("{} -dump names no plugin", exe.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_what_kong_derives() {
        assert_eq!(
            key_of("rust-request-transformer"),
            "rust_request_transformer"
        );
        assert_eq!(key_of("My-Plugin"), "my_plugin");
        assert_eq!(entry_of("My-Plugin"), "my-plugin");
    }

    #[test]
    fn command_lines_quote_what_the_shell_would_split() {
        assert_eq!(
            command_line(["/opt/kong plugins/pluginhost", "-dump"]).unwrap(),
            "'/opt/kong plugins/pluginhost' -dump"
        );
        assert_eq!(
            command_line(["/usr/local/bin/pluginhost", "-dump"]).unwrap(),
            "/usr/local/bin/pluginhost -dump"
        );
        assert!(conf_value("/srv/kong#1".into()).is_err());
    }
}

//! This plugin as an executable of its own (Kong's embedded plugin server).

fn main() -> std::process::ExitCode {
    pluginhost::embedded::main::<panicky::Panicky>()
}

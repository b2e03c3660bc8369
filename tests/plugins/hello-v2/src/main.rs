//! This version of hello as an executable of its own (one plugin per process).

fn main() -> std::process::ExitCode {
    pluginhost::embedded::main::<hello_v2::HelloV2>()
}

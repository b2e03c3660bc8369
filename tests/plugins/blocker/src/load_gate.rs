//! A gate in the plugin's constructor, which runs when the server maps the plugin: with
//! `BLOCKER_LOAD_GATE=DIR` set, loading writes `DIR/loading` and waits until `DIR/go` exists.
//! The tests use it to act while the server is still loading plugins.

use std::path::PathBuf;

extern "C" fn wait_at_the_gate() {
    let Some(dir) = std::env::var_os("BLOCKER_LOAD_GATE").map(PathBuf::from) else {
        return;
    };
    let _ = std::fs::write(dir.join("loading"), b"");
    while !dir.join("go").exists() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

// SAFETY: the constructor touches only the environment and the file system, which are ready
// when a shared object is mapped into a running process.
#[used]
#[unsafe(link_section = ".init_array")]
static LOAD_GATE: extern "C" fn() = wait_at_the_gate;

//! `guard`: an authentication plugin's shape, failing closed. Its access handler fails as the
//! `mode` of its config says, and Kong must then answer 503 instead of letting the request
//! through; its log handler fails the same way, where nothing can be answered any more.

use plugin_abi::{HandlerResult, Kong, Plugin};

/// How the handlers fail.
#[plugin_abi::config]
#[derive(Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Lets the request through, saying on which thread it ran (`x-thread`).
    #[default]
    Pass,
    /// Denies the request itself, as a plugin does with a bad token.
    Deny,
    /// Returns an error.
    Error,
    /// Panics.
    Panic,
    /// Passes on the error of a PDK call with `?`: it reads a number from `kong.ctx.shared`,
    /// which a test's Kong answers with text.
    Pdk,
    /// Waits `ms` milliseconds for its service, then lets the request through.
    Hold,
}

/// The plugin's configuration.
#[plugin_abi::config]
pub struct Config {
    /// How the handlers fail.
    #[serde(default)]
    pub mode: Mode,
    /// How long `hold` waits.
    #[serde(default)]
    pub ms: u32,
}

/// A configured instance.
pub struct Guard(Config);

impl Guard {
    fn fail(&self, kong: &Kong) -> HandlerResult {
        match self.0.mode {
            Mode::Pass => {
                // The OS's name: the plugin's own copy of `std` never saw the host name its
                // threads.
                let name = std::fs::read_to_string("/proc/thread-self/comm")?;
                kong.response().set_header("x-thread", name.trim_end())?;
                Ok(())
            }
            Mode::Deny => Ok(kong.response().exit(401, Some("no token"), None)?),
            Mode::Error => Err("the introspection endpoint answered 500".into()),
            Mode::Panic => panic!("guard was asked to panic"),
            Mode::Pdk => {
                let _attempts: Option<u64> = kong.ctx().shared().get("attempts")?;
                Ok(())
            }
            Mode::Hold => {
                std::thread::sleep(std::time::Duration::from_millis(self.0.ms.into()));
                Ok(())
            }
        }
    }
}

#[plugin_abi::plugin(
    name = "guard",
    priority = 1200,
    version = "1.0.0",
    fail_closed = 503,
    fail_closed_message = "authentication is unavailable",
    calls_services = [access]
)]
impl Plugin for Guard {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        Ok(Guard(config))
    }

    fn access(&self, kong: &Kong) -> HandlerResult {
        self.fail(kong)
    }

    fn log(&self, kong: &Kong) -> HandlerResult {
        self.fail(kong)
    }
}

//! `sleeper`: an access handler that waits `ms` milliseconds between two PDK calls, as a
//! plugin calling a service that answers does. A plugin of its own name, so that the tests
//! can tell another plugin's events from those of `blocker`, whose service hangs.

use std::{thread, time::Duration};

use plugin_abi::{HandlerResult, Kong, Plugin};

/// The plugin's configuration.
#[plugin_abi::config]
pub struct Config {
    /// Milliseconds the service takes to answer.
    #[serde(default)]
    pub ms: u32,
}

/// A configured instance.
pub struct Sleeper(Config);

#[plugin_abi::plugin(name = "sleeper", priority = 6, version = "1.0.0")]
impl Plugin for Sleeper {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        Ok(Sleeper(config))
    }

    fn access(&self, kong: &Kong) -> HandlerResult {
        kong.request().get_header("x-n")?;
        thread::sleep(Duration::from_millis(self.0.ms.into()));
        kong.response().set_header("x-sleeper", "answered")?;
        Ok(())
    }
}

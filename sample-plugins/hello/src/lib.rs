//! `hello`: the Rust port of Kong's go-hello. In the access phase it reads the request's `host`
//! header and answers with a greeting header.

use plugin_abi::{HandlerResult, Kong, Plugin};

/// The plugin's configuration.
#[plugin_abi::config]
pub struct Config {
    /// Who says hello; `hello` when empty.
    #[serde(default)]
    pub message: String,
}

/// A configured `hello` instance.
pub struct Hello {
    message: String,
}

#[plugin_abi::plugin(name = "hello", priority = 1)]
impl Plugin for Hello {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        let message = match config.message.as_str() {
            "" => "hello".to_owned(),
            _ => config.message,
        };
        Ok(Hello { message })
    }

    fn access(&self, kong: &Kong) -> HandlerResult {
        let host = kong.request().get_header("host")?.unwrap_or_default();
        let greeting = format!("Rust says {} to {host}", self.message);
        kong.response().set_header("x-hello-from-rust", &greeting)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;

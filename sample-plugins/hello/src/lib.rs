//! `hello`: the Rust port of Kong's go-hello. In the access phase it reads the request's `host`
//! header and answers with a greeting header. Like go-hello, it never fails the event: an error
//! from Kong is logged to stderr and the greeting is sent anyway.

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

    /// As go-hello does: a failed `get_header` is logged and greets an empty host, a failed
    /// `set_header` is logged, and the event goes on either way.
    fn access(&self, kong: &Kong) -> HandlerResult {
        let host = kong.request().get_header("host").unwrap_or_else(|e| {
            // go-hello logs with Go's `log`, to the plugin server's stderr; so does this.
            eprintln!("Error reading 'host' header: {e}");
            None
        });
        let greeting = format!("Rust says {} to {}", self.message, host.unwrap_or_default());
        if let Err(e) = kong.response().set_header("x-hello-from-rust", &greeting) {
            eprintln!("Error setting 'x-hello-from-rust' header: {e}");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

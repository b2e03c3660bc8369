//! A second version of the `hello` sample: same name, other behaviour. The hot-reload tests drop
//! it over `hello` while events of the first version are in flight.

use plugin_abi::{HandlerResult, Kong, Plugin};

/// Accepts hello's config.
#[plugin_abi::config]
pub struct Config {
    /// Who says hello; ignored by this version.
    #[serde(default)]
    pub message: String,
}

/// A `hello` that answers in capitals.
pub struct HelloV2;

#[plugin_abi::plugin(name = "hello", priority = 1, version = "2.0.0")]
impl Plugin for HelloV2 {
    type Config = Config;

    fn new(_: Config) -> Result<Self, String> {
        Ok(HelloV2)
    }

    fn access(&self, kong: &Kong) -> HandlerResult {
        let host = kong.request().get_header("host")?.unwrap_or_default();
        kong.response()
            .set_header("x-hello-from-rust", &format!("VERSION 2 GREETS {host}"))?;
        Ok(())
    }
}

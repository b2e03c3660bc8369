//! A second version of the `hello` sample: same name, other behaviour. The hot-reload tests drop
//! it over `hello` while events of the first version are in flight.

use plugin_abi::{HandlerResult, JsonSchema, Kong, Plugin, serde::Deserialize};

/// Accepts hello's config.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "plugin_abi::serde")]
#[schemars(crate = "plugin_abi::schemars")]
pub struct Config {
    /// Who says hello; ignored by this version.
    #[serde(default)]
    pub message: String,
}

/// A `hello` that answers in capitals.
pub struct HelloV2;

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

plugin_abi::export_plugin! {
    plugin: HelloV2,
    name: "hello",
    version: "2.0.0",
    priority: 1,
    phases: [access],
}

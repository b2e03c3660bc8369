//! `response-headers`: in the response phase, once the service has answered, adds headers to
//! the client's response that carry what the service sent — some of its headers under other
//! names, its status code, the size of its body.
//!
//! A plugin with a `response` handler makes Kong buffer the service's response, so the body and
//! headers are all there when the handler runs.

use std::collections::BTreeMap;

use plugin_abi::{HandlerResult, Kong, Plugin};

/// The plugin's configuration.
#[plugin_abi::config]
#[derive(Default)]
#[serde(default)]
pub struct Config {
    /// Client response header → the service response header whose value it gets (only set
    /// when the service sent that header).
    pub from_service: BTreeMap<String, String>,
    /// A client response header that gets the service's status code.
    pub status_header: Option<String>,
    /// A client response header that gets the size of the service's body, in bytes.
    pub body_size_header: Option<String>,
}

/// A configured `response-headers` instance.
pub struct ResponseHeaders {
    config: Config,
}

#[plugin_abi::plugin(name = "response-headers", priority = 800)]
impl Plugin for ResponseHeaders {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        Ok(ResponseHeaders { config })
    }

    fn response(&self, kong: &Kong) -> HandlerResult {
        let upstream = kong.service().response();
        let client = kong.response();
        for (header, source) in &self.config.from_service {
            if let Some(value) = upstream.get_header(source)? {
                client.set_header(header, &value)?;
            }
        }
        if let Some(header) = &self.config.status_header
            && let Some(status) = upstream.get_status()?
        {
            client.set_header(header, &status.to_string())?;
        }
        if let Some(header) = &self.config.body_size_header {
            let size = upstream.get_raw_body()?.len();
            client.set_header(header, &size.to_string())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

//! `rust-request-transformer`: edits the request before Kong sends it to the service — removes,
//! renames and adds headers and query arguments, in that order (Kong's own
//! `request-transformer` order). (Kong ships `request-transformer`, hence `rust-`.)

use std::collections::BTreeMap;

use plugin_abi::{HandlerResult, Kong, Plugin};

/// The plugin's configuration.
#[plugin_abi::config]
#[derive(Default)]
#[serde(default)]
pub struct Config {
    /// Headers and query arguments removed from the service request.
    pub remove: Names,
    /// Headers and query arguments renamed: old name → new name.
    pub rename: Pairs,
    /// Headers and query arguments added when the request does not have them: name → value.
    pub add: Pairs,
}

/// Header names and query argument names.
#[plugin_abi::config]
#[derive(Default)]
#[serde(default)]
pub struct Names {
    /// Header names, in any case.
    pub headers: Vec<String>,
    /// Query argument names.
    pub querystring: Vec<String>,
}

/// Pairs for headers and for query arguments.
#[plugin_abi::config]
#[derive(Default)]
#[serde(default)]
pub struct Pairs {
    /// Pairs applied to headers.
    pub headers: BTreeMap<String, String>,
    /// Pairs applied to query arguments.
    pub querystring: BTreeMap<String, String>,
}

/// A configured `rust-request-transformer` instance.
pub struct RequestTransformer {
    config: Config,
}

impl RequestTransformer {
    fn transform_headers(&self, kong: &Kong) -> HandlerResult {
        let service = kong.service().request();
        let mut headers = kong.request().get_headers(None)?;
        for name in &self.config.remove.headers {
            if headers.remove(&name.to_ascii_lowercase()).is_some() {
                service.clear_header(name)?;
            }
        }
        for (old, new) in &self.config.rename.headers {
            if let Some(values) = headers.remove(&old.to_ascii_lowercase()) {
                service.clear_header(old)?;
                for value in &values {
                    service.add_header(new, value)?;
                }
                headers.insert(new.to_ascii_lowercase(), values);
            }
        }
        for (name, value) in &self.config.add.headers {
            if !headers.contains_key(&name.to_ascii_lowercase()) {
                service.set_header(name, value)?;
            }
        }
        Ok(())
    }

    fn transform_query(&self, kong: &Kong) -> HandlerResult {
        let changes = &self.config;
        if changes.remove.querystring.is_empty()
            && changes.rename.querystring.is_empty()
            && changes.add.querystring.is_empty()
        {
            return Ok(());
        }
        let mut query = kong.request().get_query(None)?;
        for name in &changes.remove.querystring {
            query.remove(name);
        }
        for (old, new) in &changes.rename.querystring {
            if let Some(values) = query.remove(old) {
                query.insert(new.clone(), values);
            }
        }
        for (name, value) in &changes.add.querystring {
            query
                .entry(name.clone())
                .or_insert_with(|| vec![value.clone()]);
        }
        kong.service().request().set_query(&query)?;
        Ok(())
    }
}

#[plugin_abi::plugin(name = "rust-request-transformer", priority = 801)]
impl Plugin for RequestTransformer {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        Ok(RequestTransformer { config })
    }

    fn access(&self, kong: &Kong) -> HandlerResult {
        self.transform_headers(kong)?;
        self.transform_query(kong)
    }
}

#[cfg(test)]
mod tests;

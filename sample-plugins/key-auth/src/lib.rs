//! `rust-key-auth`: API-key authentication. The key is read from a header or a query argument,
//! the consumer it belongs to is loaded from Kong, and the request is authenticated as that
//! consumer; without a valid key the request ends with `401` and a JSON message, as Kong's own
//! `key-auth` answers. (Kong ships `key-auth`; a plugin name must be unique, hence `rust-`.)

use std::collections::BTreeMap;

use plugin_abi::{
    HandlerResult, Kong, Plugin,
    pdk::{AuthenticatedCredential, EntityRef, MultiMap},
};

/// The plugin's configuration.
#[plugin_abi::config]
pub struct Config {
    /// Names of the headers and query arguments that may carry the key, tried in order.
    #[serde(default = "default_key_names")]
    pub key_names: Vec<String>,
    /// Whether the key may also come as a query argument, not only as a header.
    #[serde(default = "yes")]
    pub key_in_query: bool,
    /// Remove the key from the request before it is sent to the service.
    #[serde(default)]
    pub hide_credentials: bool,
    /// The valid keys, each mapped to the username of the consumer it authenticates.
    pub keys: BTreeMap<String, String>,
}

fn default_key_names() -> Vec<String> {
    vec!["apikey".to_owned()]
}

fn yes() -> bool {
    true
}

/// A configured `rust-key-auth` instance.
pub struct KeyAuth {
    config: Config,
}

/// Where the key was found, to hide it afterwards.
enum Found {
    Header(String),
    Query(String),
}

impl KeyAuth {
    fn find_key(&self, kong: &Kong) -> plugin_abi::PdkResult<Option<(String, Found)>> {
        for name in &self.config.key_names {
            if let Some(key) = kong.request().get_header(name)? {
                return Ok(Some((key, Found::Header(name.clone()))));
            }
            if self.config.key_in_query
                && let Some(key) = kong.request().get_query_arg(name)?
            {
                return Ok(Some((key, Found::Query(name.clone()))));
            }
        }
        Ok(None)
    }

    fn hide(&self, kong: &Kong, found: &Found) -> plugin_abi::PdkResult<()> {
        match found {
            Found::Header(name) => kong.service().request().clear_header(name),
            Found::Query(name) => {
                let mut query = kong.request().get_query(None)?;
                query.remove(name);
                kong.service().request().set_query(&query)
            }
        }
    }
}

/// Ends the request with `401`, Kong's `WWW-Authenticate` challenge and a JSON message.
fn unauthorized(kong: &Kong, message: &str) -> HandlerResult {
    let challenge = MultiMap::from([(
        "www-authenticate".to_owned(),
        vec!["Key realm=\"kong\"".to_owned()],
    )]);
    let body = BTreeMap::from([("message", message)]);
    kong.response().exit_json(401, &body, Some(&challenge))?;
    Ok(())
}

#[plugin_abi::plugin(name = "rust-key-auth", priority = 1250)]
impl Plugin for KeyAuth {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        if config.key_names.is_empty() {
            return Err("config.key_names must name at least one header or query argument".into());
        }
        Ok(KeyAuth { config })
    }

    fn access(&self, kong: &Kong) -> HandlerResult {
        let Some((key, found)) = self.find_key(kong)? else {
            return unauthorized(kong, "No API key found in request");
        };
        let consumer = match self.config.keys.get(&key) {
            Some(username) => kong.client().load_consumer(username, true)?,
            None => None,
        };
        let Some(consumer) = consumer else {
            return unauthorized(kong, "Invalid authentication credentials");
        };
        let credential = AuthenticatedCredential {
            id: format!("rust-key-auth:{}", consumer.id),
            consumer: Some(EntityRef {
                id: consumer.id.clone(),
            }),
            ..Default::default()
        };
        kong.client()
            .authenticate(Some(&consumer), Some(&credential))?;
        kong.service().request().set_header(
            "x-consumer-username",
            consumer.username.as_deref().unwrap_or(""),
        )?;
        if self.config.hide_credentials {
            self.hide(kong, &found)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

//! `token-introspection`: OAuth 2.0 bearer tokens checked with the authorization server's
//! introspection endpoint (RFC 7662), over HTTPS. An active token lets the request through with
//! who it belongs to in `x-credential-*` headers; a missing, inactive or expired one ends it with
//! `401`; and when the endpoint cannot answer (down, slow, an error) the request ends with `503`
//! (`fail_closed`), never reaching the service unauthenticated.
//!
//! Kong starts an instance per configuration and nginx worker: the HTTP client (its connection
//! pool, per set of trusted certificates) and the cache of answers are shared by all of them
//! ([`clients`]), so a token introspected for one worker is not introspected again for the next.

pub mod clients;
pub mod introspect;

use std::{collections::BTreeMap, time::Duration};

use plugin_abi::{HandlerResult, Kong, Plugin, pdk::MultiMap, schema::Url};

use crate::introspect::Endpoint;

/// The plugin's configuration.
#[plugin_abi::config]
pub struct Config {
    /// The authorization server's token introspection endpoint (RFC 7662).
    pub introspection_url: Url,
    /// The client id this gateway authenticates to the endpoint with (HTTP Basic).
    pub client_id: String,
    /// The client secret that goes with `client_id`.
    pub client_secret: String,
    /// A PEM file of the certificate authorities the endpoint's certificate must chain to,
    /// instead of the public ones (Mozilla's roots, built in).
    #[serde(default)]
    pub ca_certificates: Option<String>,
    /// Milliseconds the endpoint has to answer, connection included.
    #[serde(default = "default_timeout_ms")]
    #[schemars(range(min = 1, max = 60000))]
    pub timeout_ms: u32,
    /// Seconds an answer is kept at most; never past the token's own expiry (`exp`). 0 keeps
    /// nothing.
    #[serde(default = "default_cache_seconds")]
    #[schemars(range(max = 86400))]
    pub cache_seconds: u32,
}

fn default_timeout_ms() -> u32 {
    2000
}

fn default_cache_seconds() -> u32 {
    60
}

/// A configured instance: the endpoint, with the shared client for its certificates.
pub struct TokenIntrospection {
    endpoint: Endpoint,
    cache_for: Duration,
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Ends the request with `401` and the challenge of RFC 6750.
fn unauthorized(kong: &Kong, error: Option<&str>, message: &str) -> HandlerResult {
    let challenge = match error {
        Some(error) => format!("Bearer error=\"{error}\""),
        None => "Bearer".to_owned(),
    };
    let headers = MultiMap::from([("www-authenticate".to_owned(), vec![challenge])]);
    let body = BTreeMap::from([("message", message)]);
    kong.response().exit_json(401, &body, Some(&headers))?;
    Ok(())
}

// ANCHOR: plugin
#[plugin_abi::plugin(
    name = "token-introspection",
    priority = 1150,
    fail_closed = 503,
    fail_closed_message = "the token cannot be checked now",
    calls_services = [access]
)]
impl Plugin for TokenIntrospection {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        // A file of authorities that cannot be read fails the instance's start, naming it.
        let agent = clients::agent(config.ca_certificates.as_deref())?;
        Ok(TokenIntrospection {
            endpoint: Endpoint::new(&config, agent),
            cache_for: Duration::from_secs(config.cache_seconds.into()),
        })
    }

    fn access(&self, kong: &Kong) -> HandlerResult {
        let header = kong.request().get_header("authorization")?;
        let Some(token) = header.as_deref().and_then(bearer) else {
            return unauthorized(kong, None, "no bearer token");
        };
        // With no cache, not even what other configurations of the endpoint keep.
        let cached = (!self.cache_for.is_zero())
            .then(|| clients::cached(&self.endpoint, token))
            .flatten();
        let claims = match cached {
            Some(claims) => claims,
            None => {
                let claims = self.endpoint.introspect(token)?;
                clients::keep(&self.endpoint, token, &claims, self.cache_for);
                claims
            }
        };
        if !claims.is_active() {
            return unauthorized(kong, Some("invalid_token"), "the token is not active");
        }
        let request = kong.service().request();
        for (name, value) in claims.headers() {
            request.set_header(name, &value)?;
        }
        Ok(())
    }
}
// ANCHOR_END: plugin

#[cfg(test)]
mod tests;

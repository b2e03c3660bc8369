//! One introspection request (RFC 7662 §2.1) and what its answer says (§2.2).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::{Engine, prelude::BASE64_STANDARD};

use plugin_abi::{Deserialize, schema::Url};

use crate::Config;

/// Where and how tokens are introspected for one configuration.
pub struct Endpoint {
    url: Url,
    authorization: String,
    timeout: Duration,
    agent: ureq::Agent,
}

impl Endpoint {
    /// The endpoint of `config`, asked through `agent` (the shared client that trusts its
    /// certificate authorities).
    pub fn new(config: &Config, agent: ureq::Agent) -> Self {
        let credentials = format!("{}:{}", config.client_id, config.client_secret);
        Endpoint {
            url: config.introspection_url.clone(),
            authorization: format!("Basic {}", BASE64_STANDARD.encode(credentials)),
            timeout: Duration::from_millis(config.timeout_ms.into()),
            agent,
        }
    }

    /// The endpoint's address.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Asks the endpoint about `token`. Any failure (no connection, a timeout, a status other
    /// than 200, an answer that is not RFC 7662's) is an error, which fails the request closed.
    pub fn introspect(&self, token: &str) -> Result<Claims, String> {
        let failed =
            |e: &dyn std::fmt::Display| format!("introspection at {} failed: {e}", self.url);
        let mut response = self
            .agent
            .post(self.url.as_str())
            .header("authorization", &self.authorization)
            .header("accept", "application/json")
            .config()
            .timeout_global(Some(self.timeout))
            .build()
            .send_form([("token", token), ("token_type_hint", "access_token")])
            .map_err(|e| failed(&e))?;
        response
            .body_mut()
            .read_json::<Claims>()
            .map_err(|e| failed(&e))
    }
}

/// What the endpoint says of a token: whether it is active, and who it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(crate = "plugin_abi::serde")]
pub struct Claims {
    /// Whether the token is valid now (the one member RFC 7662 requires).
    pub active: bool,
    /// The subject the token was issued for.
    #[serde(default)]
    pub sub: Option<String>,
    /// A human-readable name of the resource owner.
    #[serde(default)]
    pub username: Option<String>,
    /// The client the token was issued to.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The scopes, space-separated.
    #[serde(default)]
    pub scope: Option<String>,
    /// When the token expires, in seconds since the epoch.
    #[serde(default)]
    pub exp: Option<u64>,
}

impl Claims {
    /// Whether the request may go on: active, and not expired since the endpoint answered.
    pub fn is_active(&self) -> bool {
        self.active && self.exp.is_none_or(|exp| exp > now())
    }

    /// How long this answer may be kept: `at_most`, and never past the token's expiry.
    pub fn keep_for(&self, at_most: Duration) -> Duration {
        match self.exp {
            Some(exp) if self.active => at_most.min(Duration::from_secs(exp.saturating_sub(now()))),
            _ => at_most,
        }
    }

    /// The headers the service gets: `x-credential-<claim>` for each claim given.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let text = [
            ("x-credential-sub", &self.sub),
            ("x-credential-username", &self.username),
            ("x-credential-client-id", &self.client_id),
            ("x-credential-scope", &self.scope),
        ];
        let mut headers: Vec<(&'static str, String)> = text
            .into_iter()
            .filter_map(|(name, value)| Some((name, value.clone()?)))
            .collect();
        if let Some(exp) = self.exp {
            headers.push(("x-credential-exp", exp.to_string()));
        }
        headers
    }
}

/// Seconds since the epoch.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn an_answer_is_kept_no_longer_than_its_token_lives() {
        let claims = |active, exp| Claims {
            active,
            sub: Some("u1".into()),
            username: None,
            client_id: None,
            scope: Some("read".into()),
            exp,
        };
        let minute = Duration::from_secs(60);
        let soon = claims(true, Some(now() + 5));
        assert!(soon.keep_for(minute) <= Duration::from_secs(5));
        assert_eq!(claims(true, None).keep_for(minute), minute);
        assert!(!claims(true, Some(now() - 1)).is_active(), "expired");
        assert!(!claims(false, None).is_active());
        assert_eq!(
            soon.headers()[..2],
            [
                ("x-credential-sub", "u1".to_owned()),
                ("x-credential-scope", "read".to_owned())
            ]
        );
    }
}

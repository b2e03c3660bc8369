//! `Url`: a config field holding the address of an HTTP service, checked twice: by Kong's Admin
//! API when the operator configures the plugin (the schema's `match`), and when the config is
//! read (a plugin never gets a `Url` that is not one).

use std::{borrow::Cow, fmt};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The JSON Schema `format` a `Url` carries; the schema translation turns it into `match`.
pub(super) const FORMAT: &str = "uri";

/// The Lua pattern Kong checks a `Url` field's value against: `http://` or `https://`, then a
/// host made of anything but `/`, `?`, `#` and white space.
pub(super) const KONG_MATCH: &str = "^https?://[^/?#%s]+";

/// An `http://` or `https://` address with a host, such as a service's endpoint.
///
/// As a config field it is a string Kong's Admin API checks (`"match"` in the schema, so a
/// typo is refused when the plugin is configured, not at the first request), and reading the
/// config checks it again, with a message that names what is wrong.
///
/// ```
/// use plugin_abi::schema::{Url, kong_schema};
///
/// #[plugin_abi::config]
/// pub struct Config {
///     /// The token introspection endpoint.
///     introspection_url: Url,
/// }
///
/// let schema = kong_schema::<Config>("introspect").unwrap();
/// let field = &schema["fields"][0]["config"]["fields"][0]["introspection_url"];
/// assert_eq!(field["type"], "string");
/// assert_eq!(field["match"], "^https?://[^/?#%s]+");
///
/// let url: Url = "https://idp.example.com/introspect".parse().unwrap();
/// assert!(url.is_https());
/// assert_eq!(url.host(), "idp.example.com");
/// let e = "idp.example.com/introspect".parse::<Url>().unwrap_err();
/// assert_eq!(e.to_string(), "`idp.example.com/introspect` is not a URL: it must start with http:// or https://");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Url(String);

/// Why a text is not a [`Url`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError {
    text: String,
    why: &'static str,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a URL: {}", self.text, self.why)
    }
}

impl std::error::Error for UrlError {}

impl Url {
    /// The address as it was given.
    ///
    /// ```
    /// let url: plugin_abi::schema::Url = "http://a:8080/x".parse().unwrap();
    /// assert_eq!(url.as_str(), "http://a:8080/x");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it is `https://`.
    ///
    /// ```
    /// let url: plugin_abi::schema::Url = "http://a/".parse().unwrap();
    /// assert!(!url.is_https());
    /// ```
    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// The host, with its port if one was given.
    ///
    /// ```
    /// let url: plugin_abi::schema::Url = "https://a.example:8443/x?y".parse().unwrap();
    /// assert_eq!(url.host(), "a.example:8443");
    /// ```
    pub fn host(&self) -> &str {
        let rest = self.0.split_once("://").map_or("", |(_, rest)| rest);
        rest.split(['/', '?', '#']).next().unwrap_or_default()
    }

    fn check(text: &str) -> Result<(), &'static str> {
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err("it must start with http:// or https://");
        };
        // Lower case, as Kong's pattern has it.
        if scheme != "http" && scheme != "https" {
            return Err("it must start with http:// or https://");
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("it contains white space or a control character");
        }
        if rest.split(['/', '?', '#']).next().is_none_or(str::is_empty) {
            return Err("it has no host");
        }
        Ok(())
    }

    /// Whether Kong's `match` and this type agree that `text` is a URL: the check
    /// the schema rules apply to a `Url` field's default.
    pub(super) fn is_url(text: &str) -> bool {
        Url::check(text).is_ok()
    }
}

impl std::str::FromStr for Url {
    type Err = UrlError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match Url::check(text) {
            Ok(()) => Ok(Url(text.to_owned())),
            Err(why) => Err(UrlError {
                text: text.to_owned(),
                why,
            }),
        }
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl AsRef<str> for Url {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for Url {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Url {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Url {
    fn schema_name() -> Cow<'static, str> {
        "Url".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "format": FORMAT })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_a_url_says_why() {
        for (text, why) in [
            ("", "it must start with http:// or https://"),
            ("ftp://a/", "it must start with http:// or https://"),
            ("HTTPS://a/", "it must start with http:// or https://"),
            ("https://", "it has no host"),
            ("https:///x", "it has no host"),
            (
                "https://a b/",
                "it contains white space or a control character",
            ),
        ] {
            assert_eq!(text.parse::<Url>().unwrap_err().why, why, "{text:?}");
        }
        for good in ["http://a", "https://a.b:1/c?d#e", "http://[::1]:8080/"] {
            assert!(good.parse::<Url>().is_ok(), "{good}");
        }
    }

    #[test]
    fn a_config_with_a_bad_url_is_refused_naming_it() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Config {
            endpoint: Url,
        }
        let e = serde_json::from_str::<Config>(r#"{"endpoint": "localhost:8080"}"#).unwrap_err();
        assert!(
            e.to_string().starts_with("`localhost:8080` is not a URL"),
            "{e}"
        );
    }
}

//! `kong.request.*`

use crate::{
    Kong, PdkResult,
    pdk::{MultiMap, UriCaptures, max_args},
};

/// `kong.request.*`: read the client's request. Get one with [`Kong::request`].
///
/// ```no_run
/// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
/// let request = kong.request();
/// let host = request.get_header("host")?;
/// # Ok(()) }
/// ```
pub struct Request<'k, 'a> {
    pub(crate) kong: &'k Kong<'a>,
}

impl Request<'_, '_> {
    /// `kong.request.get_scheme()`: `http` or `https`.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from("https"));
    /// assert_eq!(kong.run(|k| k.request().get_scheme()).unwrap(), "https");
    /// ```
    pub fn get_scheme(&self) -> PdkResult<String> {
        self.kong.call_value("kong.request.get_scheme", ())
    }

    /// `kong.request.get_host()`: the host the client asked for, without the port.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from("example.com"));
    /// assert_eq!(kong.run(|k| k.request().get_host()).unwrap(), "example.com");
    /// ```
    pub fn get_host(&self) -> PdkResult<String> {
        self.kong.call_value("kong.request.get_host", ())
    }

    /// `kong.request.get_port()`: the port the request came in on.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from(8000));
    /// assert_eq!(kong.run(|k| k.request().get_port()).unwrap(), 8000);
    /// ```
    pub fn get_port(&self) -> PdkResult<u16> {
        self.kong.call_value("kong.request.get_port", ())
    }

    /// `kong.request.get_forwarded_scheme()`: the scheme, trusting `X-Forwarded-Proto` from
    /// trusted IPs.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from("https"));
    /// assert_eq!(kong.run(|k| k.request().get_forwarded_scheme()).unwrap(), "https");
    /// ```
    pub fn get_forwarded_scheme(&self) -> PdkResult<String> {
        self.kong
            .call_value("kong.request.get_forwarded_scheme", ())
    }

    /// `kong.request.get_forwarded_host()`: the host, trusting `X-Forwarded-Host`.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from("a.example"));
    /// assert_eq!(kong.run(|k| k.request().get_forwarded_host()).unwrap(), "a.example");
    /// ```
    pub fn get_forwarded_host(&self) -> PdkResult<String> {
        self.kong.call_value("kong.request.get_forwarded_host", ())
    }

    /// `kong.request.get_forwarded_port()`: the port, trusting `X-Forwarded-Port`.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from(443));
    /// assert_eq!(kong.run(|k| k.request().get_forwarded_port()).unwrap(), 443);
    /// ```
    pub fn get_forwarded_port(&self) -> PdkResult<u16> {
        self.kong.call_value("kong.request.get_forwarded_port", ())
    }

    /// `kong.request.get_http_version()`: `1.1`, `2`... (Kong sends `2` and `1.0` as integers).
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong, Value};
    /// let kong = ScriptedKong::answering(Answer::Value(Value::F64(1.1)));
    /// assert_eq!(kong.run(|k| k.request().get_http_version()).unwrap(), 1.1);
    /// ```
    pub fn get_http_version(&self) -> PdkResult<f64> {
        self.kong.call_value("kong.request.get_http_version", ())
    }

    /// `kong.request.get_method()`: `GET`, `POST`...
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from("GET"));
    /// assert_eq!(kong.run(|k| k.request().get_method()).unwrap(), "GET");
    /// ```
    pub fn get_method(&self) -> PdkResult<String> {
        self.kong.call_value("kong.request.get_method", ())
    }

    /// `kong.request.get_path()`: the normalized path, without the query.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from("/v1/users"));
    /// assert_eq!(kong.run(|k| k.request().get_path()).unwrap(), "/v1/users");
    /// ```
    pub fn get_path(&self) -> PdkResult<String> {
        self.kong.call_value("kong.request.get_path", ())
    }

    /// `kong.request.get_path_with_query()`: the path and the query string.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from("/a?b=c"));
    /// assert_eq!(kong.run(|k| k.request().get_path_with_query()).unwrap(), "/a?b=c");
    /// ```
    pub fn get_path_with_query(&self) -> PdkResult<String> {
        self.kong.call_value("kong.request.get_path_with_query", ())
    }

    /// `kong.request.get_raw_query()`: the query string, without `?`.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from("a=1&b"));
    /// assert_eq!(kong.run(|k| k.request().get_raw_query()).unwrap(), "a=1&b");
    /// ```
    pub fn get_raw_query(&self) -> PdkResult<String> {
        self.kong.call_value("kong.request.get_raw_query", ())
    }

    /// `kong.request.get_query_arg(name)`: the first value of a query argument; `Some("")` for
    /// a flag without value (`?debug`), `None` when absent.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from(true));
    /// assert_eq!(kong.run(|k| k.request().get_query_arg("debug")).unwrap().as_deref(), Some(""));
    /// ```
    pub fn get_query_arg(&self, name: &str) -> PdkResult<Option<String>> {
        let value: serde_json::Value = self.kong.call("kong.request.get_query_arg", (name,))?;
        Ok(match value {
            serde_json::Value::Null | serde_json::Value::Bool(false) => None,
            serde_json::Value::Bool(true) => Some(String::new()),
            serde_json::Value::String(s) => Some(s),
            serde_json::Value::Array(items) => items.into_iter().next().map(|v| match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Bool(true) => String::new(),
                other => other.to_string(),
            }),
            other => Some(other.to_string()),
        })
    }

    /// `kong.request.get_query(max)`: every query argument, name → values (`None`: Kong's
    /// default limit of 100).
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong, Value};
    /// let kong = ScriptedKong::answering(Answer::Value(Value::Map(vec![
    ///     ("a".into(), Value::Array(vec!["1".into(), "2".into()])),
    /// ])));
    /// assert_eq!(kong.run(|k| k.request().get_query(None)).unwrap()["a"], ["1", "2"]);
    /// ```
    pub fn get_query(&self, max: Option<u32>) -> PdkResult<MultiMap> {
        self.kong
            .call_multimap("kong.request.get_query", max_args(max))
    }

    /// `kong.request.get_header(name)`: the first value of a request header, `None` when absent.
    /// Values that are not UTF-8 are decoded lossily.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// assert_eq!(kong.run(|k| k.request().get_header("x-missing")).unwrap(), None);
    /// ```
    pub fn get_header(&self, name: &str) -> PdkResult<Option<String>> {
        self.kong.call("kong.request.get_header", (name,))
    }

    /// `kong.request.get_headers(max)`: every request header, lower-cased name → values.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong, Value};
    /// let kong = ScriptedKong::answering(Answer::Value(Value::Map(vec![])));
    /// assert!(kong.run(|k| k.request().get_headers(Some(10))).unwrap().is_empty());
    /// ```
    pub fn get_headers(&self, max: Option<u32>) -> PdkResult<MultiMap> {
        self.kong
            .call_multimap("kong.request.get_headers", max_args(max))
    }

    /// `kong.request.get_raw_body()`: the request body, as bytes. Kong ≥ 3.0 fails this call when
    /// the body was buffered to a file.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong, Value};
    /// let kong = ScriptedKong::answering(Answer::Value(Value::Binary(vec![0xff])));
    /// assert_eq!(kong.run(|k| k.request().get_raw_body()).unwrap(), vec![0xff]);
    /// ```
    pub fn get_raw_body(&self) -> PdkResult<Vec<u8>> {
        self.kong.call_bytes("kong.request.get_raw_body")
    }

    /// `kong.request.get_uri_captures()`: the regex captures of the route's path.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong, Value};
    /// let kong = ScriptedKong::answering(Answer::Value(Value::Map(vec![
    ///     ("unnamed".into(), Value::Array(vec!["42".into()])),
    ///     ("named".into(), Value::Array(vec![])),
    /// ])));
    /// assert_eq!(kong.run(|k| k.request().get_uri_captures()).unwrap().unnamed, ["42"]);
    /// ```
    pub fn get_uri_captures(&self) -> PdkResult<UriCaptures> {
        self.kong.call_value("kong.request.get_uri_captures", ())
    }
}

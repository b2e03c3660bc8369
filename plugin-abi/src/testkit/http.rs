//! The HTTP messages of a simulated request: what the client sent, what went to the service,
//! what the service answered and what the client got back.

use std::fmt;

use crate::pdk::{LogLevel, MultiMap};

/// A header list: in order, names compared without case, a name may repeat.
///
/// ```
/// use plugin_abi::testkit::Headers;
/// let mut h = Headers::from([("Content-Type", "text/plain")]);
/// h.add("x-a", "1");
/// h.add("X-A", "2");
/// assert_eq!(h.get("content-type"), Some("text/plain"));
/// assert_eq!(h.get_all("x-a"), ["1", "2"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// No headers.
    ///
    /// ```
    /// assert!(plugin_abi::testkit::Headers::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Headers::default()
    }

    /// The first value of `name`.
    ///
    /// ```
    /// let h = plugin_abi::testkit::Headers::from([("Host", "example.com")]);
    /// assert_eq!(h.get("host"), Some("example.com"));
    /// ```
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    ///
    /// ```
    /// let h = plugin_abi::testkit::Headers::from([("a", "1"), ("b", "2"), ("A", "3")]);
    /// assert_eq!(h.get_all("a"), ["1", "3"]);
    /// ```
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether `name` is present.
    ///
    /// ```
    /// assert!(!plugin_abi::testkit::Headers::new().contains("host"));
    /// ```
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Whether there are no headers.
    ///
    /// ```
    /// assert!(!plugin_abi::testkit::Headers::from([("a", "1")]).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Replaces every value of `name` with `value`.
    ///
    /// ```
    /// let mut h = plugin_abi::testkit::Headers::from([("a", "1"), ("a", "2")]);
    /// h.set("A", "3");
    /// assert_eq!(h.get_all("a"), ["3"]);
    /// ```
    pub fn set(&mut self, name: &str, value: &str) {
        self.remove(name);
        self.add(name, value);
    }

    /// Adds a value to `name`, keeping those it has.
    ///
    /// ```
    /// let mut h = plugin_abi::testkit::Headers::new();
    /// h.add("a", "1");
    /// assert_eq!(h.get("a"), Some("1"));
    /// ```
    pub fn add(&mut self, name: &str, value: &str) {
        self.0.push((name.to_owned(), value.to_owned()));
    }

    /// Removes every value of `name`.
    ///
    /// ```
    /// let mut h = plugin_abi::testkit::Headers::from([("a", "1")]);
    /// h.remove("A");
    /// assert!(h.is_empty());
    /// ```
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// The headers as `(name, value)` pairs, in order.
    ///
    /// ```
    /// let h = plugin_abi::testkit::Headers::from([("a", "1")]);
    /// assert_eq!(h.iter().next(), Some(("a", "1")));
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The headers as Kong's `get_headers` returns them: lower-case names, a string for one
    /// value and a list for several, at most `max` names.
    pub(crate) fn to_kong(&self, max: usize) -> serde_json::Value {
        kong_table(
            self.0
                .iter()
                .map(|(name, value)| (name.to_ascii_lowercase(), value.clone().into())),
            max,
        )
    }

    /// `set_headers`: each name given replaces its values; other names stay.
    pub(crate) fn set_many(&mut self, headers: &MultiMap) {
        for (name, values) in headers {
            self.remove(name);
            for value in values {
                self.add(name, value);
            }
        }
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> From<[(K, V); N]> for Headers {
    fn from(pairs: [(K, V); N]) -> Self {
        pairs
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .collect()
    }
}

impl<'s> FromIterator<(&'s str, &'s str)> for Headers {
    fn from_iter<I: IntoIterator<Item = (&'s str, &'s str)>>(pairs: I) -> Self {
        Headers(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }
}

/// The request a client sends to Kong, built from a URL.
///
/// ```
/// use plugin_abi::testkit::TestRequest;
/// let r = TestRequest::get("https://api.example.com:8443/orders?page=2")
///     .header("apikey", "secret")
///     .client_ip("10.1.2.3");
/// assert_eq!((r.scheme.as_str(), r.host.as_str(), r.port), ("https", "api.example.com", 8443));
/// assert_eq!((r.path.as_str(), r.raw_query.as_str()), ("/orders", "page=2"));
/// assert_eq!(r.headers.get("host"), Some("api.example.com:8443"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TestRequest {
    /// `GET`, `POST`...
    pub method: String,
    /// `http` or `https`.
    pub scheme: String,
    /// The host the client asked for.
    pub host: String,
    /// The port the client connected to.
    pub port: u16,
    /// The path, without the query.
    pub path: String,
    /// The query string, without `?`.
    pub raw_query: String,
    /// The request headers, `Host` included.
    pub headers: Headers,
    /// The request body.
    pub body: Vec<u8>,
    /// The client's address.
    pub client_ip: String,
    /// The client's port.
    pub client_port: u16,
}

impl TestRequest {
    /// A `method` request for `url` (`scheme://host[:port][/path][?query]`), from 127.0.0.1,
    /// with a `Host` header.
    ///
    /// ```
    /// let r = plugin_abi::testkit::TestRequest::new("DELETE", "http://example.com/items/7");
    /// assert_eq!((r.method.as_str(), r.port, r.path.as_str()), ("DELETE", 80, "/items/7"));
    /// ```
    ///
    /// # Panics
    ///
    /// When `url` has no `scheme://` or an invalid port: a test's own mistake.
    pub fn new(method: &str, url: &str) -> Self {
        let (scheme, rest) = url
            .split_once("://")
            .unwrap_or_else(|| panic!("test URL `{url}` has no scheme://"));
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(authority_end);
        let (target, raw_query) = target.split_once('?').unwrap_or((target, ""));
        let default_port = if scheme == "https" { 443 } else { 80 };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse()
                    .unwrap_or_else(|_| panic!("test URL `{url}` has an invalid port")),
            ),
            None => (authority, default_port),
        };
        TestRequest {
            method: method.to_owned(),
            scheme: scheme.to_owned(),
            host: host.to_owned(),
            port,
            path: if target.is_empty() { "/" } else { target }.to_owned(),
            raw_query: raw_query.to_owned(),
            headers: Headers::from([("host", authority)]),
            body: Vec::new(),
            client_ip: "127.0.0.1".to_owned(),
            client_port: 54321,
        }
    }

    /// A `GET` request for `url`.
    ///
    /// ```
    /// assert_eq!(plugin_abi::testkit::TestRequest::get("http://a/").method, "GET");
    /// ```
    pub fn get(url: &str) -> Self {
        TestRequest::new("GET", url)
    }

    /// A `POST` request for `url` with `body`.
    ///
    /// ```
    /// let r = plugin_abi::testkit::TestRequest::post("http://a/", "x=1");
    /// assert_eq!(r.body, b"x=1");
    /// ```
    pub fn post(url: &str, body: impl Into<Vec<u8>>) -> Self {
        TestRequest::new("POST", url).body(body)
    }

    /// Adds a header.
    ///
    /// ```
    /// let r = plugin_abi::testkit::TestRequest::get("http://a/").header("x-a", "1");
    /// assert_eq!(r.headers.get("X-A"), Some("1"));
    /// ```
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.add(name, value);
        self
    }

    /// Sets the body.
    ///
    /// ```
    /// let r = plugin_abi::testkit::TestRequest::get("http://a/").body(vec![1, 2]);
    /// assert_eq!(r.body, [1, 2]);
    /// ```
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the client's address.
    ///
    /// ```
    /// let r = plugin_abi::testkit::TestRequest::get("http://a/").client_ip("192.0.2.1");
    /// assert_eq!(r.client_ip, "192.0.2.1");
    /// ```
    pub fn client_ip(mut self, ip: &str) -> Self {
        self.client_ip = ip.to_owned();
        self
    }
}

/// What the service answers when the request is proxied.
///
/// ```
/// use plugin_abi::testkit::UpstreamResponse;
/// let r = UpstreamResponse::new(201).header("location", "/items/7").body("{}");
/// assert_eq!(r.status, 201);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamResponse {
    /// The status code.
    pub status: u16,
    /// The response headers.
    pub headers: Headers,
    /// The response body.
    pub body: Vec<u8>,
}

impl Default for UpstreamResponse {
    fn default() -> Self {
        UpstreamResponse::new(200)
    }
}

impl UpstreamResponse {
    /// An empty response with `status`.
    ///
    /// ```
    /// assert!(plugin_abi::testkit::UpstreamResponse::new(204).body.is_empty());
    /// ```
    pub fn new(status: u16) -> Self {
        UpstreamResponse {
            status,
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    ///
    /// ```
    /// let r = plugin_abi::testkit::UpstreamResponse::new(200).header("etag", "x");
    /// assert_eq!(r.headers.get("ETag"), Some("x"));
    /// ```
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.add(name, value);
        self
    }

    /// Sets the body.
    ///
    /// ```
    /// let r = plugin_abi::testkit::UpstreamResponse::new(200).body("ok");
    /// assert_eq!(r.body, b"ok");
    /// ```
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

/// The response the client gets.
///
/// ```
/// use plugin_abi::testkit::{SimulatedKong, TestRequest};
/// let kong = SimulatedKong::new(TestRequest::get("http://a/"));
/// assert_eq!(kong.response().status, 200);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ClientResponse {
    /// The status code.
    pub status: u16,
    /// The response headers.
    pub headers: Headers,
    /// The response body.
    pub body: Vec<u8>,
    /// Who produced it, as `kong.response.get_source` says: `service`, `exit` or `error`.
    pub source: &'static str,
}

impl ClientResponse {
    /// The body as text (lossy UTF-8).
    ///
    /// ```
    /// # use plugin_abi::testkit::{SimulatedKong, TestRequest};
    /// let kong = SimulatedKong::new(TestRequest::get("http://a/"));
    /// assert_eq!(kong.response().text(), "");
    /// ```
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body decoded as JSON, `Null` when it is not JSON.
    ///
    /// ```
    /// # use plugin_abi::testkit::{SimulatedKong, TestRequest};
    /// let kong = SimulatedKong::new(TestRequest::get("http://a/"));
    /// assert!(kong.response().json().is_null());
    /// ```
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

/// The request Kong sends to the service, as the plugins left it.
///
/// ```
/// use plugin_abi::testkit::{SimulatedKong, TestRequest};
/// let kong = SimulatedKong::new(TestRequest::get("http://a/p?x=1"));
/// let sent = kong.service_request();
/// assert_eq!((sent.path.as_str(), sent.query_arg("x")), ("/p", Some("1".to_string())));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRequest {
    /// The method.
    pub method: String,
    /// `http` or `https`.
    pub scheme: String,
    /// The path.
    pub path: String,
    /// The query string, without `?`.
    pub raw_query: String,
    /// The headers.
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
    /// The upstream chosen with `kong.service.set_upstream`.
    pub upstream: Option<String>,
    /// The host and port chosen with `kong.service.set_target`.
    pub target: Option<(String, u16)>,
}

impl ServiceRequest {
    /// The query arguments, decoded, in order; a flag without `=` has the value `None`.
    ///
    /// ```
    /// # use plugin_abi::testkit::{SimulatedKong, TestRequest};
    /// let kong = SimulatedKong::new(TestRequest::get("http://a/?a=1&debug&b=x%20y"));
    /// let q = kong.service_request().query();
    /// assert_eq!(q[1], ("debug".to_string(), None));
    /// assert_eq!(q[2], ("b".to_string(), Some("x y".to_string())));
    /// ```
    pub fn query(&self) -> Vec<(String, Option<String>)> {
        parse_query(&self.raw_query)
    }

    /// The first value of query argument `name` (`""` for a flag).
    ///
    /// ```
    /// # use plugin_abi::testkit::{SimulatedKong, TestRequest};
    /// let kong = SimulatedKong::new(TestRequest::get("http://a/?a=1"));
    /// assert_eq!(kong.service_request().query_arg("b"), None);
    /// ```
    pub fn query_arg(&self, name: &str) -> Option<String> {
        self.query()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.unwrap_or_default())
    }
}

/// A line a plugin wrote to Kong's log.
///
/// ```
/// # use plugin_abi::testkit::{SimulatedKong, TestRequest};
/// let kong = SimulatedKong::new(TestRequest::get("http://a/"));
/// kong.run(|k| k.log().warn("slow")).unwrap();
/// assert_eq!(kong.logs()[0].to_string(), "[warn] slow");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// The level.
    pub level: LogLevel,
    /// The arguments concatenated, as Kong writes them.
    pub message: String,
}

impl fmt::Display for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = self.level.method().trim_start_matches("kong.log.");
        write!(f, "[{level}] {}", self.message)
    }
}

/// Decodes a query string: `+` and `%XX` decoded, a piece without `=` is a flag.
pub(crate) fn parse_query(raw: &str) -> Vec<(String, Option<String>)> {
    raw.split('&')
        .filter(|piece| !piece.is_empty())
        .filter_map(|piece| {
            let (name, value) = form_urlencoded::parse(piece.as_bytes()).next()?;
            let value = piece.contains('=').then(|| value.into_owned());
            Some((name.into_owned(), value))
        })
        .collect()
}

/// Encodes query arguments; a `None` value is written as a bare flag.
pub(crate) fn encode_query(args: &[(String, Option<String>)]) -> String {
    args.iter()
        .map(|(name, value)| {
            let mut s = form_urlencoded::Serializer::new(String::new());
            s.append_key_only(name);
            let name = s.finish();
            match value {
                None => name,
                Some(v) => {
                    let v: String = form_urlencoded::byte_serialize(v.as_bytes()).collect();
                    format!("{name}={v}")
                }
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The query as Kong's `get_query` returns it: a string for one value, `true` for a flag, a
/// list for repeated names; at most `max` names.
pub(crate) fn query_to_kong(raw: &str, max: usize) -> serde_json::Value {
    let pairs = parse_query(raw).into_iter().map(|(name, value)| {
        (
            name,
            value.map_or(serde_json::Value::Bool(true), Into::into),
        )
    });
    kong_table(pairs, max)
}

/// Name/value pairs as the Lua table Kong's `get_headers` and `get_query` return: one value
/// stays itself, a repeated name gets a list, and names past the first `max` are dropped.
fn kong_table(
    pairs: impl IntoIterator<Item = (String, serde_json::Value)>,
    max: usize,
) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for (name, value) in pairs {
        if out.len() == max && !out.contains_key(&name) {
            continue;
        }
        match out.get_mut(&name) {
            None => {
                out.insert(name, value);
            }
            Some(serde_json::Value::Array(values)) => values.push(value),
            Some(first) => *first = serde_json::json!([first.take(), value]),
        }
    }
    serde_json::Value::Object(out)
}

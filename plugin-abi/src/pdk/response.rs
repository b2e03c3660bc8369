//! `kong.response.*`

use crate::{
    Kong, PdkResult,
    pdk::{MultiMap, max_args},
};

/// `kong.response.*`: the response sent to the client. Get one with [`Kong::response`].
///
/// ```no_run
/// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
/// kong.response().set_header("x-plugin", "rust")?;
/// # Ok(()) }
/// ```
pub struct Response<'k, 'a> {
    pub(crate) kong: &'k Kong<'a>,
}

impl Response<'_, '_> {
    /// `kong.response.get_status()`: the status about to be sent.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from(200));
    /// assert_eq!(kong.run(|k| k.response().get_status()).unwrap(), 200);
    /// ```
    pub fn get_status(&self) -> PdkResult<u16> {
        self.kong.call_value("kong.response.get_status", ())
    }

    /// `kong.response.get_header(name)`: the first value of a response header.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from("mock_upstream"));
    /// let v = kong.run(|k| k.response().get_header("x-powered-by")).unwrap();
    /// assert_eq!(v.as_deref(), Some("mock_upstream"));
    /// ```
    pub fn get_header(&self, name: &str) -> PdkResult<Option<String>> {
        self.kong.call("kong.response.get_header", (name,))
    }

    /// `kong.response.get_headers(max)`: every response header.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong, Value};
    /// let kong = ScriptedKong::answering(Answer::Value(Value::Map(vec![("a".into(), "1".into())])));
    /// assert_eq!(kong.run(|k| k.response().get_headers(None)).unwrap()["a"], ["1"]);
    /// ```
    pub fn get_headers(&self, max: Option<u32>) -> PdkResult<MultiMap> {
        self.kong
            .call_multimap("kong.response.get_headers", max_args(max))
    }

    /// `kong.response.get_source()`: `service`, `error` or `exit` (Kong allows it only in the
    /// header_filter, body_filter and log phases).
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from("service"));
    /// assert_eq!(kong.run(|k| k.response().get_source()).unwrap(), "service");
    /// ```
    pub fn get_source(&self) -> PdkResult<String> {
        self.kong.call_value("kong.response.get_source", ())
    }

    /// `kong.response.set_status(status)`.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// kong.run(|k| k.response().set_status(204)).unwrap();
    /// assert_eq!(kong.calls()[0].args, vec![204.into()]);
    /// ```
    pub fn set_status(&self, status: u16) -> PdkResult<()> {
        self.kong.call_unit("kong.response.set_status", (status,))
    }

    /// `kong.response.set_header(name, value)`: sets a response header, replacing any value.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// kong.run(|k| k.response().set_header("cache-control", "no-store")).unwrap();
    /// ```
    pub fn set_header(&self, name: &str, value: &str) -> PdkResult<()> {
        self.kong
            .call_unit("kong.response.set_header", (name, value))
    }

    /// `kong.response.add_header(name, value)`: adds a value to a response header.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// kong.run(|k| k.response().add_header("vary", "origin")).unwrap();
    /// ```
    pub fn add_header(&self, name: &str, value: &str) -> PdkResult<()> {
        self.kong
            .call_unit("kong.response.add_header", (name, value))
    }

    /// `kong.response.clear_header(name)`: removes a response header.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// kong.run(|k| k.response().clear_header("server")).unwrap();
    /// ```
    pub fn clear_header(&self, name: &str) -> PdkResult<()> {
        self.kong.call_unit("kong.response.clear_header", (name,))
    }

    /// `kong.response.set_headers(headers)`: sets several response headers.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// let headers = [("x-a".to_string(), vec!["1".to_string()])].into();
    /// kong.run(|k| k.response().set_headers(&headers)).unwrap();
    /// ```
    pub fn set_headers(&self, headers: &MultiMap) -> PdkResult<()> {
        self.kong.call_unit("kong.response.set_headers", (headers,))
    }

    /// `kong.response.exit(status, body, headers)`: ends the request with this response.
    ///
    /// Terminal: Kong never answers it, the event ends, and every later PDK call of this event
    /// fails with [`PdkError::EventEnded`](crate::PdkError::EventEnded). Return from the handler
    /// right after it.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// let headers = [("content-type".to_string(), vec!["text/plain".to_string()])].into();
    /// kong.run(|k| k.response().exit(403, Some("forbidden"), Some(&headers))).unwrap();
    /// assert_eq!(kong.calls()[0].method, "kong.response.exit");
    /// ```
    pub fn exit(
        &self,
        status: u16,
        body: Option<&str>,
        headers: Option<&MultiMap>,
    ) -> PdkResult<()> {
        self.terminal("kong.response.exit", status, body, headers)
    }

    /// `kong.response.exit(status, body, headers)` with a body Kong encodes as JSON: Kong sends
    /// a table body JSON-encoded, with `Content-Type: application/json; charset=utf-8` unless
    /// `headers` sets one. `body` must serialize as a map or a sequence. Terminal, like
    /// [`exit`](Self::exit).
    ///
    /// ```
    /// # use plugin_abi::testkit::{SimulatedKong, TestRequest};
    /// let kong = SimulatedKong::new(TestRequest::get("http://a/"));
    /// kong.run(|k| k.response().exit_json(401, &plugin_abi::serde_json::json!({"message": "no key"}), None))
    ///     .unwrap();
    /// assert_eq!(kong.calls()[0].method, "kong.response.exit");
    /// assert_eq!(kong.response().json()["message"], "no key");
    /// assert_eq!(kong.response().headers.get("content-type"), Some("application/json; charset=utf-8"));
    /// ```
    pub fn exit_json(
        &self,
        status: u16,
        body: &impl serde::Serialize,
        headers: Option<&MultiMap>,
    ) -> PdkResult<()> {
        let method = "kong.response.exit";
        match headers {
            None => self.kong.call_unit(method, (status, body)),
            Some(headers) => self.kong.call_unit(method, (status, body, headers)),
        }
    }

    /// `kong.response.error(status, message, headers)`: ends the request with Kong's error
    /// response for `status` (JSON or HTML by the client's `Accept`). Terminal, like
    /// [`exit`](Self::exit).
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// kong.run(|k| k.response().error(401, Some("no key"), None)).unwrap();
    /// assert_eq!(kong.calls()[0].args, vec![401.into(), "no key".into()]);
    /// ```
    pub fn error(
        &self,
        status: u16,
        message: Option<&str>,
        headers: Option<&MultiMap>,
    ) -> PdkResult<()> {
        self.terminal("kong.response.error", status, message, headers)
    }

    fn terminal(
        &self,
        method: &str,
        status: u16,
        body: Option<&str>,
        headers: Option<&MultiMap>,
    ) -> PdkResult<()> {
        // Kong unpacks Args positionally and a nil in the middle cuts the list: pass "" for a
        // missing body when headers follow.
        match (body, headers) {
            (None, None) => self.kong.call_unit(method, (status,)),
            (Some(body), None) => self.kong.call_unit(method, (status, body)),
            (body, Some(headers)) => self
                .kong
                .call_unit(method, (status, body.unwrap_or(""), headers)),
        }
    }
}

//! `kong.service.*`, `kong.service.request.*`, `kong.service.response.*`

use crate::{
    Kong, PdkResult,
    pdk::{MultiMap, max_args},
};

/// `kong.service.*`: where the request is proxied. Get one with [`Kong::service`].
///
/// ```
/// # use plugin_abi::testkit::{Answer, ScriptedKong};
/// let kong = ScriptedKong::answering(Answer::from(true));
/// kong.run(|k| k.service().set_upstream("backend")).unwrap();
/// ```
pub struct UpstreamService<'k, 'a> {
    pub(crate) kong: &'k Kong<'a>,
}

impl<'k, 'a> UpstreamService<'k, 'a> {
    /// `kong.service.set_upstream(host)`: proxy to the named upstream.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// kong.run(|k| k.service().set_upstream("backend")).unwrap();
    /// assert_eq!(kong.calls()[0].args, vec!["backend".into()]);
    /// ```
    pub fn set_upstream(&self, host: &str) -> PdkResult<()> {
        self.kong.call_unit("kong.service.set_upstream", (host,))
    }

    /// `kong.service.set_target(host, port)`: proxy to this host and port.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// kong.run(|k| k.service().set_target("10.0.0.5", 8080)).unwrap();
    /// ```
    pub fn set_target(&self, host: &str, port: u16) -> PdkResult<()> {
        self.kong.call_unit("kong.service.set_target", (host, port))
    }

    /// `kong.service.request.*`: the request sent upstream.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// kong.run(|k| k.service().request().set_path("/v2")).unwrap();
    /// ```
    pub fn request(&self) -> ServiceRequest<'k, 'a> {
        ServiceRequest { kong: self.kong }
    }

    /// `kong.service.response.*`: the upstream's response.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from(200));
    /// assert_eq!(kong.run(|k| k.service().response().get_status()).unwrap(), Some(200));
    /// ```
    pub fn response(&self) -> ServiceResponse<'k, 'a> {
        ServiceResponse { kong: self.kong }
    }
}

/// `kong.service.request.*`. Get one with [`UpstreamService::request`].
///
/// ```
/// # use plugin_abi::testkit::{Answer, ScriptedKong};
/// let kong = ScriptedKong::answering(Answer::Nil);
/// kong.run(|k| k.service().request().set_method("POST")).unwrap();
/// ```
pub struct ServiceRequest<'k, 'a> {
    kong: &'k Kong<'a>,
}

impl ServiceRequest<'_, '_> {
    /// `kong.service.request.set_scheme(scheme)`.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// kong.run(|k| k.service().request().set_scheme("https")).unwrap();
    /// ```
    pub fn set_scheme(&self, scheme: &str) -> PdkResult<()> {
        self.kong
            .call_unit("kong.service.request.set_scheme", (scheme,))
    }

    /// `kong.service.request.set_path(path)`.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// kong.run(|k| k.service().request().set_path("/v2/users")).unwrap();
    /// ```
    pub fn set_path(&self, path: &str) -> PdkResult<()> {
        self.kong
            .call_unit("kong.service.request.set_path", (path,))
    }

    /// `kong.service.request.set_raw_query(query)`: the query string, without `?`.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// kong.run(|k| k.service().request().set_raw_query("a=1")).unwrap();
    /// ```
    pub fn set_raw_query(&self, query: &str) -> PdkResult<()> {
        self.kong
            .call_unit("kong.service.request.set_raw_query", (query,))
    }

    /// `kong.service.request.set_method(method)`.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// kong.run(|k| k.service().request().set_method("PUT")).unwrap();
    /// ```
    pub fn set_method(&self, method: &str) -> PdkResult<()> {
        self.kong
            .call_unit("kong.service.request.set_method", (method,))
    }

    /// `kong.service.request.set_query(args)`: replaces the query with these arguments.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// let query = [("page".to_string(), vec!["2".to_string()])].into();
    /// kong.run(|k| k.service().request().set_query(&query)).unwrap();
    /// ```
    pub fn set_query(&self, args: &MultiMap) -> PdkResult<()> {
        self.kong
            .call_unit("kong.service.request.set_query", (args,))
    }

    /// `kong.service.request.set_header(name, value)`.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// kong.run(|k| k.service().request().set_header("x-user", "alice")).unwrap();
    /// ```
    pub fn set_header(&self, name: &str, value: &str) -> PdkResult<()> {
        self.kong
            .call_unit("kong.service.request.set_header", (name, value))
    }

    /// `kong.service.request.add_header(name, value)`.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// kong.run(|k| k.service().request().add_header("x-tag", "a")).unwrap();
    /// ```
    pub fn add_header(&self, name: &str, value: &str) -> PdkResult<()> {
        self.kong
            .call_unit("kong.service.request.add_header", (name, value))
    }

    /// `kong.service.request.clear_header(name)`.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// kong.run(|k| k.service().request().clear_header("authorization")).unwrap();
    /// ```
    pub fn clear_header(&self, name: &str) -> PdkResult<()> {
        self.kong
            .call_unit("kong.service.request.clear_header", (name,))
    }

    /// `kong.service.request.set_headers(headers)`.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// let headers = [("x-a".to_string(), vec!["1".to_string(), "2".to_string()])].into();
    /// kong.run(|k| k.service().request().set_headers(&headers)).unwrap();
    /// ```
    pub fn set_headers(&self, headers: &MultiMap) -> PdkResult<()> {
        self.kong
            .call_unit("kong.service.request.set_headers", (headers,))
    }

    /// `kong.service.request.set_raw_body(body)`: the body sent upstream (sent as MessagePack
    /// bin, so any bytes pass).
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong, Value};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// kong.run(|k| k.service().request().set_raw_body(b"{}")).unwrap();
    /// assert_eq!(kong.calls()[0].args, vec![Value::Binary(b"{}".to_vec())]);
    /// ```
    pub fn set_raw_body(&self, body: &[u8]) -> PdkResult<()> {
        self.kong.call_unit(
            "kong.service.request.set_raw_body",
            (serde_bytes_ref(body),),
        )
    }
}

/// `kong.service.response.*`. Get one with [`UpstreamService::response`].
///
/// ```
/// # use plugin_abi::testkit::{Answer, ScriptedKong};
/// let kong = ScriptedKong::answering(Answer::from("mock-upstream/1.0.0"));
/// let server = kong.run(|k| k.service().response().get_header("server")).unwrap();
/// assert_eq!(server.as_deref(), Some("mock-upstream/1.0.0"));
/// ```
pub struct ServiceResponse<'k, 'a> {
    kong: &'k Kong<'a>,
}

impl ServiceResponse<'_, '_> {
    /// `kong.service.response.get_status()`: the upstream's status, `None` before it answered.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// assert_eq!(kong.run(|k| k.service().response().get_status()).unwrap(), None);
    /// ```
    pub fn get_status(&self) -> PdkResult<Option<u16>> {
        self.kong.call("kong.service.response.get_status", ())
    }

    /// `kong.service.response.get_headers(max)`: the upstream's headers.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong, Value};
    /// let kong = ScriptedKong::answering(Answer::Value(Value::Array(vec![])));
    /// assert!(kong.run(|k| k.service().response().get_headers(None)).unwrap().is_empty());
    /// ```
    pub fn get_headers(&self, max: Option<u32>) -> PdkResult<MultiMap> {
        self.kong
            .call_multimap("kong.service.response.get_headers", max_args(max))
    }

    /// `kong.service.response.get_header(name)`: the first value of an upstream header.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// assert_eq!(kong.run(|k| k.service().response().get_header("etag")).unwrap(), None);
    /// ```
    pub fn get_header(&self, name: &str) -> PdkResult<Option<String>> {
        self.kong.call("kong.service.response.get_header", (name,))
    }

    /// `kong.service.response.get_raw_body()`: the upstream's body, as bytes (in the response
    /// phase, which makes Kong buffer it).
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong, Value};
    /// let kong = ScriptedKong::answering(Answer::Value(Value::Binary(b"ok".to_vec())));
    /// assert_eq!(kong.run(|k| k.service().response().get_raw_body()).unwrap(), b"ok");
    /// ```
    pub fn get_raw_body(&self) -> PdkResult<Vec<u8>> {
        self.kong.call_bytes("kong.service.response.get_raw_body")
    }
}

/// Bytes that serialize as MessagePack bin rather than an array of numbers.
fn serde_bytes_ref(bytes: &[u8]) -> impl serde::Serialize + '_ {
    struct Bin<'b>(&'b [u8]);
    impl serde::Serialize for Bin<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }
    Bin(bytes)
}

//! `kong.nginx.*` and `kong.node.*`

use serde::{Serialize, de::DeserializeOwned};

use crate::{Kong, PdkResult, pdk::MemoryStats};

/// `kong.nginx.*`: nginx variables and the request context. Get one with [`Kong::nginx`].
///
/// ```
/// # use plugin_abi::testkit::{Answer, ScriptedKong};
/// let kong = ScriptedKong::answering(Answer::from("http"));
/// assert_eq!(kong.run(|k| k.nginx().get_subsystem()).unwrap(), "http");
/// ```
pub struct Nginx<'k, 'a> {
    pub(crate) kong: &'k Kong<'a>,
}

impl Nginx<'_, '_> {
    /// `kong.nginx.get_var(name)`: `ngx.var[name]`, `None` when unset.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from("abc123"));
    /// assert_eq!(kong.run(|k| k.nginx().get_var("request_id")).unwrap().as_deref(), Some("abc123"));
    /// ```
    pub fn get_var(&self, name: &str) -> PdkResult<Option<String>> {
        self.kong.call("kong.nginx.get_var", (name,))
    }

    /// `kong.nginx.get_tls1_version_str()`: `TLSv1.3`..., `None` without TLS.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from("TLSv1.3"));
    /// assert_eq!(kong.run(|k| k.nginx().get_tls1_version_str()).unwrap().as_deref(), Some("TLSv1.3"));
    /// ```
    pub fn get_tls1_version_str(&self) -> PdkResult<Option<String>> {
        self.kong.call("kong.nginx.get_tls1_version_str", ())
    }

    /// `kong.nginx.set_ctx(key, value)`: stores a value in `ngx.ctx`.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// kong.run(|k| k.nginx().set_ctx("tenant", "acme")).unwrap();
    /// ```
    pub fn set_ctx(&self, key: &str, value: impl Serialize) -> PdkResult<()> {
        self.kong.call_unit("kong.nginx.set_ctx", (key, value))
    }

    /// `kong.nginx.get_ctx(key)`: a value of `ngx.ctx` (`KONG_ACCESS_START`...).
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from(1_751_350_000_000u64));
    /// let start: Option<u64> = kong.run(|k| k.nginx().get_ctx("KONG_ACCESS_START")).unwrap();
    /// assert_eq!(start, Some(1_751_350_000_000));
    /// ```
    pub fn get_ctx<T: DeserializeOwned>(&self, key: &str) -> PdkResult<Option<T>> {
        self.kong.call("kong.nginx.get_ctx", (key,))
    }

    /// `kong.nginx.req_start_time()`: when the request started, unix seconds with fractions.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong, Value};
    /// let kong = ScriptedKong::answering(Answer::Value(Value::F64(1751350000.25)));
    /// assert_eq!(kong.run(|k| k.nginx().req_start_time()).unwrap(), 1751350000.25);
    /// ```
    pub fn req_start_time(&self) -> PdkResult<f64> {
        self.kong.call_value("kong.nginx.req_start_time", ())
    }

    /// `kong.nginx.get_subsystem()`: `http` or `stream`.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from("stream"));
    /// assert_eq!(kong.run(|k| k.nginx().get_subsystem()).unwrap(), "stream");
    /// ```
    pub fn get_subsystem(&self) -> PdkResult<String> {
        self.kong.call_value("kong.nginx.get_subsystem", ())
    }
}

/// `kong.node.*`: this Kong node. Get one with [`Kong::node`].
///
/// ```
/// # use plugin_abi::testkit::{Answer, ScriptedKong};
/// let kong = ScriptedKong::answering(Answer::from("2c5a3b0e-0000-4000-8000-000000000000"));
/// assert!(kong.run(|k| k.node().get_id()).unwrap().starts_with("2c5a"));
/// ```
pub struct Node<'k, 'a> {
    pub(crate) kong: &'k Kong<'a>,
}

impl Node<'_, '_> {
    /// `kong.node.get_id()`: the node's UUID.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from("id"));
    /// assert_eq!(kong.run(|k| k.node().get_id()).unwrap(), "id");
    /// ```
    pub fn get_id(&self) -> PdkResult<String> {
        self.kong.call_value("kong.node.get_id", ())
    }

    /// `kong.node.get_memory_stats()`: memory of the shared dicts and the workers' Lua VMs.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong, Value};
    /// let kong = ScriptedKong::answering(Answer::Value(Value::Map(vec![])));
    /// assert!(kong.run(|k| k.node().get_memory_stats()).unwrap().workers_lua_vms.is_empty());
    /// ```
    pub fn get_memory_stats(&self) -> PdkResult<MemoryStats> {
        self.kong.call_value("kong.node.get_memory_stats", ())
    }
}

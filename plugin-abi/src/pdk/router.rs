//! `kong.router.*`

use crate::{
    Kong, PdkResult,
    pdk::{Route, Service},
};

/// `kong.router.*`: what the request was routed to. Get one with [`Kong::router`].
///
/// ```
/// # use plugin_abi::testkit::{Answer, ScriptedKong, Value};
/// let kong = ScriptedKong::answering(Answer::Value(Value::Map(vec![("id".into(), "r1".into())])));
/// assert_eq!(kong.run(|k| k.router().get_route()).unwrap().id, "r1");
/// ```
pub struct Router<'k, 'a> {
    pub(crate) kong: &'k Kong<'a>,
}

impl Router<'_, '_> {
    /// `kong.router.get_route()`: the matched route.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong, Value};
    /// let route = Value::Map(vec![
    ///     ("id".into(), "r1".into()),
    ///     ("headers".into(), Value::Map(vec![("x-v".into(), Value::Array(vec!["2".into()]))])),
    /// ]);
    /// let kong = ScriptedKong::answering(Answer::Value(route));
    /// assert_eq!(kong.run(|k| k.router().get_route()).unwrap().headers["x-v"], ["2"]);
    /// ```
    pub fn get_route(&self) -> PdkResult<Route> {
        self.kong.call_value("kong.router.get_route", ())
    }

    /// `kong.router.get_service()`: the matched service.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong, Value};
    /// let kong = ScriptedKong::answering(Answer::Value(Value::Map(vec![("host".into(), "up".into())])));
    /// assert_eq!(kong.run(|k| k.router().get_service()).unwrap().host.as_deref(), Some("up"));
    /// ```
    pub fn get_service(&self) -> PdkResult<Service> {
        self.kong.call_value("kong.router.get_service", ())
    }
}

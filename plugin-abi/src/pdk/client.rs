//! `kong.client.*` and `kong.ip.*`

use crate::{
    Kong, PdkResult,
    pdk::{AuthenticatedCredential, Consumer},
};

/// `kong.client.*`: who sent the request. Get one with [`Kong::client`].
///
/// ```
/// # use plugin_abi::testkit::{Answer, ScriptedKong};
/// let kong = ScriptedKong::answering(Answer::from("10.0.0.1"));
/// assert_eq!(kong.run(|k| k.client().get_ip()).unwrap(), "10.0.0.1");
/// ```
pub struct Client<'k, 'a> {
    pub(crate) kong: &'k Kong<'a>,
}

impl Client<'_, '_> {
    /// `kong.client.get_ip()`: the address of the peer that connected to Kong.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from("127.0.0.1"));
    /// assert_eq!(kong.run(|k| k.client().get_ip()).unwrap(), "127.0.0.1");
    /// ```
    pub fn get_ip(&self) -> PdkResult<String> {
        self.kong.call_value("kong.client.get_ip", ())
    }

    /// `kong.client.get_forwarded_ip()`: the client's address, trusting `X-Forwarded-For` from
    /// trusted IPs.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from("203.0.113.9"));
    /// assert_eq!(kong.run(|k| k.client().get_forwarded_ip()).unwrap(), "203.0.113.9");
    /// ```
    pub fn get_forwarded_ip(&self) -> PdkResult<String> {
        self.kong.call_value("kong.client.get_forwarded_ip", ())
    }

    /// `kong.client.get_port()`: the peer's port.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from(51234));
    /// assert_eq!(kong.run(|k| k.client().get_port()).unwrap(), 51234);
    /// ```
    pub fn get_port(&self) -> PdkResult<u16> {
        self.kong.call_value("kong.client.get_port", ())
    }

    /// `kong.client.get_forwarded_port()`: the client's port, trusting `X-Forwarded-Port`.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from(443));
    /// assert_eq!(kong.run(|k| k.client().get_forwarded_port()).unwrap(), 443);
    /// ```
    pub fn get_forwarded_port(&self) -> PdkResult<u16> {
        self.kong.call_value("kong.client.get_forwarded_port", ())
    }

    /// `kong.client.get_credential()`: the credential the request authenticated with, if any.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// assert_eq!(kong.run(|k| k.client().get_credential()).unwrap(), None);
    /// ```
    pub fn get_credential(&self) -> PdkResult<Option<AuthenticatedCredential>> {
        self.kong.call("kong.client.get_credential", ())
    }

    /// `kong.client.load_consumer(id, by_username)`: a consumer by id (or by username).
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong, Value};
    /// let kong = ScriptedKong::answering(Answer::Value(Value::Map(vec![("id".into(), "c1".into())])));
    /// let consumer = kong.run(|k| k.client().load_consumer("alice", true)).unwrap();
    /// assert_eq!(consumer.unwrap().id, "c1");
    /// assert_eq!(kong.calls()[0].args, vec!["alice".into(), true.into()]);
    /// ```
    pub fn load_consumer(&self, id: &str, by_username: bool) -> PdkResult<Option<Consumer>> {
        self.kong
            .call("kong.client.load_consumer", (id, by_username))
    }

    /// `kong.client.get_consumer()`: the authenticated consumer, if any.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// assert_eq!(kong.run(|k| k.client().get_consumer()).unwrap(), None);
    /// ```
    pub fn get_consumer(&self) -> PdkResult<Option<Consumer>> {
        self.kong.call("kong.client.get_consumer", ())
    }

    /// `kong.client.authenticate(consumer, credential)`: marks the request as authenticated.
    /// Kong refuses the call when both are `None`.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// # use plugin_abi::pdk::Consumer;
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// let consumer = Consumer { id: "c1".into(), ..Default::default() };
    /// kong.run(|k| k.client().authenticate(Some(&consumer), None)).unwrap();
    /// ```
    pub fn authenticate(
        &self,
        consumer: Option<&Consumer>,
        credential: Option<&AuthenticatedCredential>,
    ) -> PdkResult<()> {
        // A trailing nil is dropped by Kong's unpack; a leading one must stay in place.
        match credential {
            Some(credential) => self
                .kong
                .call_unit("kong.client.authenticate", (consumer, credential)),
            None => self.kong.call_unit("kong.client.authenticate", (consumer,)),
        }
    }

    /// `kong.client.get_protocol(allow_terminated)`: `http`, `https`, `grpc`, `tcp`...
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from("https"));
    /// assert_eq!(kong.run(|k| k.client().get_protocol(true)).unwrap(), "https");
    /// ```
    pub fn get_protocol(&self, allow_terminated: bool) -> PdkResult<String> {
        self.kong
            .call_value("kong.client.get_protocol", (allow_terminated,))
    }
}

/// `kong.ip.*`. Get one with [`Kong::ip`].
///
/// ```
/// # use plugin_abi::testkit::{Answer, ScriptedKong};
/// let kong = ScriptedKong::answering(Answer::from(true));
/// assert!(kong.run(|k| k.ip().is_trusted("10.0.0.1")).unwrap());
/// ```
pub struct Ip<'k, 'a> {
    pub(crate) kong: &'k Kong<'a>,
}

impl Ip<'_, '_> {
    /// `kong.ip.is_trusted(address)`: whether Kong's `trusted_ips` include `address`.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from(false));
    /// assert!(!kong.run(|k| k.ip().is_trusted("8.8.8.8")).unwrap());
    /// ```
    pub fn is_trusted(&self, address: &str) -> PdkResult<bool> {
        self.kong.call_value("kong.ip.is_trusted", (address,))
    }
}

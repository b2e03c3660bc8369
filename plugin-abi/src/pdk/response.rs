//! `kong.response.*`

use std::collections::BTreeMap;

use crate::{Kong, PdkResult};

/// `kong.response.*`: shape the response sent to the client. Get one with [`Kong::response`].
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
    /// `kong.response.set_header(name, value)`: sets a response header, replacing any value.
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// kong.response().set_header("cache-control", "no-store")?;
    /// # Ok(()) }
    /// ```
    pub fn set_header(&self, name: &str, value: &str) -> PdkResult<()> {
        self.kong
            .call_unit("kong.response.set_header", (name, value))
    }

    /// `kong.response.exit(status, body, headers)`: ends the request with this response.
    ///
    /// Terminal: Kong never answers it, the event ends, and every later PDK call of this event
    /// fails with [`PdkError::EventEnded`](crate::PdkError::EventEnded). Return from the handler
    /// right after it.
    ///
    /// ```no_run
    /// # use std::collections::BTreeMap;
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// let headers = BTreeMap::from([("content-type".to_string(), vec!["text/plain".to_string()])]);
    /// kong.response().exit(403, Some("forbidden"), Some(&headers))?;
    /// # Ok(()) }
    /// ```
    pub fn exit(
        &self,
        status: u16,
        body: Option<&str>,
        headers: Option<&BTreeMap<String, Vec<String>>>,
    ) -> PdkResult<()> {
        const METHOD: &str = "kong.response.exit";
        // Kong unpacks Args positionally and a nil in the middle cuts the list: pass "" for a
        // missing body when headers follow.
        match (body, headers) {
            (None, None) => self.kong.call_unit(METHOD, (status,)),
            (Some(body), None) => self.kong.call_unit(METHOD, (status, body)),
            (body, Some(headers)) => self
                .kong
                .call_unit(METHOD, (status, body.unwrap_or(""), headers)),
        }
    }
}

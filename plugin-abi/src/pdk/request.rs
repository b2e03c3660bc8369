//! `kong.request.*`

use crate::{Kong, PdkResult};

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
    /// `kong.request.get_header(name)`: the first value of a request header, `None` when absent.
    /// Values that are not UTF-8 are decoded lossily.
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// if let Some(host) = kong.request().get_header("host")? {
    ///     kong.log().debug(format!("host is {host}"))?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn get_header(&self, name: &str) -> PdkResult<Option<String>> {
        self.kong.call("kong.request.get_header", (name,))
    }
}

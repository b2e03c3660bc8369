//! `kong.ctx.*`

use serde::{Serialize, de::DeserializeOwned};

use crate::{Kong, PdkResult};

/// `kong.ctx.*`: storage that lives as long as the request. Get one with [`Kong::ctx`].
///
/// ```no_run
/// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
/// let shared = kong.ctx().shared();
/// # Ok(()) }
/// ```
pub struct Ctx<'k, 'a> {
    pub(crate) kong: &'k Kong<'a>,
}

impl<'k, 'a> Ctx<'k, 'a> {
    /// `kong.ctx.shared`: values shared by every plugin of the request, Lua plugins included.
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// kong.ctx().shared().set("tenant", "acme")?;
    /// # Ok(()) }
    /// ```
    pub fn shared(&self) -> Shared<'k, 'a> {
        Shared { kong: self.kong }
    }
}

/// `kong.ctx.shared.*`. Get one with [`Ctx::shared`].
///
/// ```no_run
/// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
/// let tenant: Option<String> = kong.ctx().shared().get("tenant")?;
/// # Ok(()) }
/// ```
pub struct Shared<'k, 'a> {
    kong: &'k Kong<'a>,
}

impl Shared<'_, '_> {
    /// `kong.ctx.shared.get(key)`: the value stored under `key`, `None` when there is none.
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// let hits: Option<u64> = kong.ctx().shared().get("hits")?;
    /// # Ok(()) }
    /// ```
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> PdkResult<Option<T>> {
        self.kong.call("kong.ctx.shared.get", (key,))
    }

    /// `kong.ctx.shared.set(key, value)`: stores any serializable value under `key`.
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// kong.ctx().shared().set("hits", 3)?;
    /// # Ok(()) }
    /// ```
    pub fn set(&self, key: &str, value: impl Serialize) -> PdkResult<()> {
        self.kong.call_unit("kong.ctx.shared.set", (key, value))
    }
}

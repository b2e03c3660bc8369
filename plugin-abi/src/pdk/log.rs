//! `kong.log.*`

use serde::Serialize;

use crate::{Kong, PdkResult};

/// The levels of Kong's error log, from the most severe.
///
/// ```
/// use plugin_abi::pdk::LogLevel;
/// assert_eq!(LogLevel::Err.method(), "kong.log.err");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// `kong.log.alert`
    Alert,
    /// `kong.log.crit`
    Crit,
    /// `kong.log.err`
    Err,
    /// `kong.log.warn`
    Warn,
    /// `kong.log.notice`
    Notice,
    /// `kong.log.info`
    Info,
    /// `kong.log.debug`
    Debug,
}

impl LogLevel {
    /// The PDK method that logs at this level.
    ///
    /// ```
    /// assert_eq!(plugin_abi::pdk::LogLevel::Debug.method(), "kong.log.debug");
    /// ```
    pub fn method(self) -> &'static str {
        match self {
            LogLevel::Alert => "kong.log.alert",
            LogLevel::Crit => "kong.log.crit",
            LogLevel::Err => "kong.log.err",
            LogLevel::Warn => "kong.log.warn",
            LogLevel::Notice => "kong.log.notice",
            LogLevel::Info => "kong.log.info",
            LogLevel::Debug => "kong.log.debug",
        }
    }
}

/// `kong.log.*`: write to Kong's error log. Get one with [`Kong::log`].
///
/// ```no_run
/// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
/// kong.log().warn("upstream slow")?;
/// # Ok(()) }
/// ```
pub struct Log<'k, 'a> {
    pub(crate) kong: &'k Kong<'a>,
}

impl Log<'_, '_> {
    /// Logs `args` at `level`. Kong concatenates the values, as Lua's `kong.log.err(...)` does;
    /// pass a tuple or array of values.
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// use plugin_abi::pdk::LogLevel;
    /// kong.log().values(LogLevel::Debug, ("access_start: ", 1_751_350_000_000u64))?;
    /// # Ok(()) }
    /// ```
    pub fn values(&self, level: LogLevel, args: impl Serialize) -> PdkResult<()> {
        self.kong.call_unit(level.method(), args)
    }

    /// `kong.log.alert(message)`
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// kong.log().alert("disk full")?;
    /// # Ok(()) }
    /// ```
    pub fn alert(&self, message: impl AsRef<str>) -> PdkResult<()> {
        self.values(LogLevel::Alert, (message.as_ref(),))
    }

    /// `kong.log.crit(message)`
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// kong.log().crit("cannot reach the token store")?;
    /// # Ok(()) }
    /// ```
    pub fn crit(&self, message: impl AsRef<str>) -> PdkResult<()> {
        self.values(LogLevel::Crit, (message.as_ref(),))
    }

    /// `kong.log.err(message)`
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// kong.log().err("bad token")?;
    /// # Ok(()) }
    /// ```
    pub fn err(&self, message: impl AsRef<str>) -> PdkResult<()> {
        self.values(LogLevel::Err, (message.as_ref(),))
    }

    /// `kong.log.warn(message)`
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// kong.log().warn("falling back to defaults")?;
    /// # Ok(()) }
    /// ```
    pub fn warn(&self, message: impl AsRef<str>) -> PdkResult<()> {
        self.values(LogLevel::Warn, (message.as_ref(),))
    }

    /// `kong.log.notice(message)`
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// kong.log().notice("config reloaded")?;
    /// # Ok(()) }
    /// ```
    pub fn notice(&self, message: impl AsRef<str>) -> PdkResult<()> {
        self.values(LogLevel::Notice, (message.as_ref(),))
    }

    /// `kong.log.info(message)`
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// kong.log().info("request accepted")?;
    /// # Ok(()) }
    /// ```
    pub fn info(&self, message: impl AsRef<str>) -> PdkResult<()> {
        self.values(LogLevel::Info, (message.as_ref(),))
    }

    /// `kong.log.debug(message)`
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// kong.log().debug("cache hit")?;
    /// # Ok(()) }
    /// ```
    pub fn debug(&self, message: impl AsRef<str>) -> PdkResult<()> {
        self.values(LogLevel::Debug, (message.as_ref(),))
    }

    /// `kong.log.set_serialize_value(key, value)`: sets `key` (dotted for nesting, like
    /// `request.tls`) in what [`serialize`](Self::serialize) returns for this request.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// kong.run(|k| k.log().set_serialize_value("tenant", "acme")).unwrap();
    /// assert_eq!(kong.calls()[0].args, vec!["tenant".into(), "acme".into()]);
    /// ```
    pub fn set_serialize_value(&self, key: &str, value: impl Serialize) -> PdkResult<()> {
        self.kong
            .call_unit("kong.log.set_serialize_value", (key, value))
    }

    /// `kong.log.serialize()`: the request and response as the JSON text Kong's log plugins
    /// write (Kong encodes it itself, so this is a string, not a table).
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// let line = kong.log().serialize()?;
    /// let entry: plugin_abi::serde_json::Value = plugin_abi::serde_json::from_str(&line).unwrap();
    /// # Ok(()) }
    /// ```
    pub fn serialize(&self) -> PdkResult<String> {
        self.kong.call_value("kong.log.serialize", ())
    }
}

//! The FFI surface shared by pluginhost and every plugin: small, and frozen.
//!
//! Three things cross the boundary and nothing else:
//!
//! * [`PluginMod`], the root module a plugin exports: its ABI revision, its metadata as JSON and a
//!   constructor for instances;
//! * [`PluginInstance`], a configured instance that handles one phase at a time;
//! * [`HostBridge`], the host's side: one generic `call(method, msgpack args)` that every PDK
//!   function is built on.
//!
//! Because the PDK is written on the plugin side on top of `call`, adding a PDK function never
//! changes these types. Changing them requires bumping [`ABI_REVISION`].
//!
//! abi_stable's layout check accepts a plugin whose prefix types have the same or *more* fields
//! than the host's, never fewer; keeping the surface frozen is what keeps older plugins loadable.

// The `#[sabi_trait]` expansion trips these lints inside abi_stable's generated code.
#![allow(non_local_definitions, non_camel_case_types)]

use abi_stable::{
    StableAbi, declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RBox, RResult, RSlice, RStr, RString, RVec},
};

/// Revision of the FFI surface in this module. A host refuses plugins built for another revision.
///
/// Revision 2 (plugin-abi 0.2): a handler's error says whether it panicked
/// ([`HandlerError`]); revision 1 returned its text alone.
///
/// ```
/// assert!(plugin_abi::ABI_REVISION >= 2);
/// ```
pub const ABI_REVISION: u32 = 2;

/// The abi_stable these types are made of (`RResult`, `RString`, the loader), pinned by
/// plugin-abi: a host loads plugins with exactly this one.
pub use abi_stable;

/// The root module every plugin exports (through [`plugin`](macro@crate::plugin)).
///
/// Hosts reach it through [`PluginModRef`], loaded with
/// `abi_stable::library::lib_header_from_path(path)?.init_root_module::<PluginModRef>()`.
///
/// ```no_run
/// use plugin_abi::ffi::{PluginModRef, abi_stable};
/// # fn load(path: &std::path::Path) -> Result<(), abi_stable::library::LibraryError> {
/// let header = abi_stable::library::lib_header_from_path(path)?;
/// let module: PluginModRef = header.init_root_module()?;
/// println!("{}", (module.info())().unwrap());
/// # Ok(()) }
/// ```
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    /// The [`ABI_REVISION`] the plugin was built against.
    pub abi_revision: u32,
    /// The plugin's metadata, a [`PluginInfo`](crate::PluginInfo) as JSON text.
    pub info: extern "C" fn() -> RResult<RString, RString>,
    /// Builds an instance from the JSON config text Kong sends with `StartInstance`.
    #[sabi(last_prefix_field)]
    pub new_instance: extern "C" fn(config: RStr<'_>) -> RResult<PluginInstanceBox, RString>,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "pluginhost_plugin";
    const NAME: &'static str = "pluginhost plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// A configured plugin instance. Kong runs its phases concurrently, hence `Send + Sync`.
///
/// Plugin authors never implement this trait themselves: [`plugin`](macro@crate::plugin)
/// implements it over their [`Plugin`](crate::Plugin), catching panics so that none crosses the
/// boundary.
///
/// ```no_run
/// use plugin_abi::ffi::{HostBridgeRef, PluginInstanceBox};
/// fn run(instance: &PluginInstanceBox, bridge: HostBridgeRef<'_>) {
///     let _ = instance.handle("access".into(), bridge);
/// }
/// ```
#[sabi_trait]
pub trait PluginInstance: Send + Sync {
    /// Runs the handler of `phase`; every PDK call goes through `bridge`.
    #[sabi(last_prefix_field)]
    fn handle(&self, phase: RStr<'_>, bridge: HostBridgeRef<'_>) -> RResult<(), HandlerError>;
}

/// Why [`PluginInstance::handle`] did not succeed: the handler returned an error, or it
/// panicked (the panic is caught in the plugin and never crosses the boundary).
///
/// ```
/// use plugin_abi::ffi::{HandlerError, HandlerErrorKind};
/// let e = HandlerError::new(HandlerErrorKind::PANICKED, "hello panicked in access: boom");
/// assert!(e.panicked());
/// ```
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    /// How the handler failed; an open set of [`HandlerErrorKind`] constants.
    pub kind: HandlerErrorKind,
    /// What happened, for the log.
    pub message: RString,
}

impl HandlerError {
    /// Builds an error of `kind` with `message`.
    ///
    /// ```
    /// use plugin_abi::ffi::{HandlerError, HandlerErrorKind};
    /// let e = HandlerError::new(HandlerErrorKind::FAILED, "hello access handler failed: no key");
    /// assert_eq!(e.message.as_str(), "hello access handler failed: no key");
    /// ```
    pub fn new(kind: HandlerErrorKind, message: impl Into<String>) -> Self {
        HandlerError {
            kind,
            message: RString::from(message.into()),
        }
    }

    /// Whether the handler panicked.
    ///
    /// ```
    /// use plugin_abi::ffi::{HandlerError, HandlerErrorKind};
    /// assert!(!HandlerError::new(HandlerErrorKind::FAILED, "no key").panicked());
    /// ```
    pub fn panicked(&self) -> bool {
        self.kind == HandlerErrorKind::PANICKED
    }
}

/// The kind of a [`HandlerError`]. A number rather than an enum, as [`BridgeErrorKind`] is, so
/// that a new kind never changes the layout; an unknown kind counts as
/// [`HandlerErrorKind::FAILED`].
///
/// ```
/// use plugin_abi::ffi::HandlerErrorKind;
/// assert_ne!(HandlerErrorKind::FAILED, HandlerErrorKind::PANICKED);
/// ```
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HandlerErrorKind(pub u32);

impl HandlerErrorKind {
    /// The handler returned an error (or the phase is not one the plugin handles).
    pub const FAILED: Self = Self(1);
    /// The handler panicked.
    pub const PANICKED: Self = Self(2);
}

/// An owned instance as it crosses the boundary.
pub type PluginInstanceBox = PluginInstance_TO<'static, RBox<()>>;

/// The host's side of a running event: one generic call into Kong.
///
/// `args` is a MessagePack array of the PDK function's arguments; the answer is the MessagePack
/// value Kong sent back (`nil` when Kong sent none). The host forwards both without re-encoding.
///
/// ```no_run
/// use plugin_abi::ffi::HostBridgeRef;
/// fn host_of(bridge: &HostBridgeRef<'_>) {
///     // ["host"] as MessagePack: fixarray(1), fixstr(4) "host"
///     let args = [0x91, 0xa4, b'h', b'o', b's', b't'];
///     let _answer = bridge.call("kong.request.get_header".into(), args.as_slice().into());
/// }
/// ```
#[sabi_trait]
pub trait HostBridge {
    /// Calls the Kong PDK function `method` with `args` and returns its MessagePack answer.
    #[sabi(last_prefix_field)]
    fn call(&self, method: RStr<'_>, args: RSlice<'_, u8>) -> RResult<RVec<u8>, BridgeError>;
}

/// A borrowed bridge, as the host hands it to [`PluginInstance::handle`].
pub type HostBridgeRef<'a> = HostBridge_TO<'a, abi_stable::sabi_types::RRef<'a, ()>>;

/// Why a [`HostBridge::call`] produced no answer.
///
/// ```
/// use plugin_abi::ffi::{BridgeError, BridgeErrorKind};
/// let e = BridgeError::new(BridgeErrorKind::KONG, "no phase in kong.ctx.core.phase");
/// assert_eq!(e.kind, BridgeErrorKind::KONG);
/// ```
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct BridgeError {
    /// What kind of failure this is; an open set of [`BridgeErrorKind`] constants.
    pub kind: BridgeErrorKind,
    /// Human-readable detail.
    pub message: RString,
}

impl BridgeError {
    /// Builds an error of `kind` with `message`.
    ///
    /// ```
    /// use plugin_abi::ffi::{BridgeError, BridgeErrorKind};
    /// let e = BridgeError::new(BridgeErrorKind::EVENT_ENDED, "event 7 was abandoned");
    /// assert_eq!(e.message.as_str(), "event 7 was abandoned");
    /// ```
    pub fn new(kind: BridgeErrorKind, message: impl Into<String>) -> Self {
        BridgeError {
            kind,
            message: RString::from(message.into()),
        }
    }
}

/// The kind of a [`BridgeError`]. A number rather than an enum so that new kinds never change
/// the layout; unknown kinds are treated as [`BridgeErrorKind::HOST`].
///
/// ```
/// use plugin_abi::ffi::BridgeErrorKind;
/// assert_ne!(BridgeErrorKind::KONG, BridgeErrorKind::EVENT_ENDED);
/// ```
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BridgeErrorKind(pub u32);

impl BridgeErrorKind {
    /// Kong answered with `plugin.StepError` (the PDK function returned `nil, err`; Kong 2.x).
    pub const KONG: Self = Self(1);
    /// The event is over: `kong.response.exit` was called, or Kong abandoned the event.
    pub const EVENT_ENDED: Self = Self(2);
    /// The host refused the call itself (for example, arguments that are not a MessagePack array).
    pub const HOST: Self = Self(3);
}

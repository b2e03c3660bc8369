//! What [`plugin`](crate::plugin) exports, and the code that export calls.
//!
//! Everything the macro generates calls into [`__private`]; the functions there are what
//! crosses the boundary, and each one catches panics: a panic that reached abi_stable's shims
//! would `exit(1)` the host, and one that unwound into the host would abort it (the plugin's
//! std and the host's are different copies). A panic becomes an error value instead.

/// What `#[plugin_abi::plugin]` expands to: the fingerprint section, the info and instance
/// entry points, and abi_stable's library header. Not a public API: its arguments are what the
/// attribute derived and checked.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_plugin {
    (
        plugin: $plugin:ty,
        name: $name:literal,
        version: $version:literal,
        shared: $shared:expr,
        priority: $priority:expr,
        phases: [$($phase:ident),+ $(,)?],
        fail_closed: $fail_closed:expr,
        calls_services: [$($apart:ident),* $(,)?] $(,)?
    ) => {
        const _: () = ::core::assert!(
            $crate::schema::is_plugin_version($version),
            "the plugin version must be x.y.z, three numbers: Kong 3.0 and later refuse \
             anything else (without version = \"...\", the crate's version is used)"
        );
        const __PLUGINHOST_PRIORITY: i64 = $priority;
        const _: () = ::core::assert!(
            __PLUGINHOST_PRIORITY.unsigned_abs() <= $crate::schema::MAX_PRIORITY,
            "the plugin priority must be an integer Lua holds exactly (at most 2^53 - 1 either side of 0)"
        );
        const __PLUGINHOST_PHASES: &[$crate::Phase] = &[$($crate::__phase!($phase)),+];
        const __PLUGINHOST_APART: &[$crate::Phase] = &[$($crate::__phase!($apart)),*];
        const __PLUGINHOST_FAIL_CLOSED: ::core::option::Option<(u16, ::core::option::Option<&str>)> =
            $fail_closed;
        const _: () = ::core::assert!(
            match __PLUGINHOST_FAIL_CLOSED {
                ::core::option::Option::Some((status, _)) => status >= 400 && status <= 599,
                ::core::option::Option::None => true,
            },
            "fail_closed is the HTTP status of an error response: 400 to 599"
        );

        // Evaluated here, in the plugin crate: its own profile decides the panic strategy.
        const __PLUGINHOST_PANIC: &str = if cfg!(panic = "unwind") { "unwind" } else { "abort" };
        const __PLUGINHOST_DEBUG_ASSERTIONS: &str =
            if cfg!(debug_assertions) { "true" } else { "false" };
        const __PLUGINHOST_FINGERPRINT_TEXT: &str = $crate::__private::concatcp!(
            $crate::fingerprint::COMMON,
            "panic=", __PLUGINHOST_PANIC,
            "\ndebug_assertions=", __PLUGINHOST_DEBUG_ASSERTIONS,
            "\nplugin=", $name,
            "\nplugin_version=", $version,
            "\nshared=", $shared,
            "\n",
        );

        /// The plugin's build fingerprint, read by pluginhost from the file before loading it.
        #[unsafe(no_mangle)]
        #[used]
        #[unsafe(link_section = ".pluginhost_fp")]
        pub static PLUGINHOST_FINGERPRINT: [u8; __PLUGINHOST_FINGERPRINT_TEXT.len()] =
            $crate::fingerprint::text_array(__PLUGINHOST_FINGERPRINT_TEXT);

        extern "C" fn __pluginhost_info() -> $crate::__private::InfoResult {
            $crate::__private::info::<$plugin>(
                $name,
                $version,
                __PLUGINHOST_PRIORITY,
                __PLUGINHOST_PHASES,
                __PLUGINHOST_FAIL_CLOSED,
                __PLUGINHOST_APART,
            )
        }

        extern "C" fn __pluginhost_new_instance(
            config: $crate::__private::RStr<'_>,
        ) -> $crate::__private::NewInstanceResult {
            $crate::__private::new_instance::<$plugin>(
                $name,
                __PLUGINHOST_PHASES,
                __PLUGINHOST_FAIL_CLOSED,
                config,
            )
        }

        fn __pluginhost_root_module() -> $crate::ffi::PluginModRef {
            $crate::__private::root_module(__pluginhost_info, __pluginhost_new_instance)
        }

        impl $crate::Exported for $plugin {
            fn root_module() -> $crate::ffi::PluginModRef {
                __pluginhost_root_module()
            }
        }

        extern "C" fn __pluginhost_load_root_module() -> $crate::__private::RootModuleResult {
            $crate::__private::call_root_module_loader(__pluginhost_root_module)
        }

        /// The symbol abi_stable's loader looks up (what `#[export_root_module]` would emit,
        /// spelled with paths that need no direct abi_stable dependency).
        #[unsafe(no_mangle)]
        #[allow(non_upper_case_globals)]
        pub static _1as_0lib_1header_0root_bmodule_bloader: $crate::__private::LibHeader =
            $crate::__private::lib_header(__pluginhost_load_root_module);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __phase {
    (certificate) => {
        $crate::Phase::Certificate
    };
    (rewrite) => {
        $crate::Phase::Rewrite
    };
    (access) => {
        $crate::Phase::Access
    };
    (response) => {
        $crate::Phase::Response
    };
    (preread) => {
        $crate::Phase::Preread
    };
    (log) => {
        $crate::Phase::Log
    };
    ($other:ident) => {
        compile_error!(concat!(
            "unknown phase `",
            stringify!($other),
            "`: phases are certificate, rewrite, access, response, preread, log"
        ))
    };
}

/// Decodes the config JSON of `StartInstance` into the plugin's config type.
pub(crate) fn decode_config<C: serde::de::DeserializeOwned>(json: &str) -> Result<C, String> {
    let mut value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("Decoding config: {e}"))?;
    strip_nulls(&mut value);
    serde_json::from_value(value).map_err(|e| format!("Decoding config: {e}"))
}

/// Kong sends every absent optional field as `null`; Go's decoder leaves the zero value
/// then, and so do we: a removed key lets `#[serde(default)]` apply.
fn strip_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Support for the code [`plugin`](crate::plugin) generates. Not a public API.
#[doc(hidden)]
pub mod __private {
    use std::{
        any::Any,
        panic::{AssertUnwindSafe, catch_unwind},
    };

    use abi_stable::{
        library::CheckTypeLayout,
        prefix_type::PrefixTypeTrait,
        sabi_trait::TD_Opaque,
        std_types::{RResult, RString},
    };
    pub use const_format::concatcp;

    pub use abi_stable::{
        library::{
            __call_root_module_loader as call_root_module_loader, LibHeader, RootModuleResult,
        },
        std_types::RStr,
    };

    use crate::{
        ABI_REVISION, FailClosed, Kong, Phase, Plugin, PluginInfo,
        ffi::{
            HandlerError, HandlerErrorKind, HostBridgeRef, PluginInstance, PluginInstance_TO,
            PluginInstanceBox, PluginMod, PluginModRef,
        },
        schema::kong_schema,
    };

    pub type InfoResult = RResult<RString, RString>;
    pub type NewInstanceResult = RResult<PluginInstanceBox, RString>;

    /// The library header of a plugin whose root module `load` returns.
    pub const fn lib_header(load: extern "C" fn() -> RootModuleResult) -> LibHeader {
        // SAFETY: `load` returns a `PluginModRef` (the macro builds it from `root_module`), and
        // these are exactly the layout constants of `PluginModRef`.
        unsafe { LibHeader::from_constructor::<PluginModRef>(load, CheckTypeLayout::Yes) }
    }

    pub fn root_module(
        info: extern "C" fn() -> InfoResult,
        new_instance: extern "C" fn(RStr<'_>) -> NewInstanceResult,
    ) -> PluginModRef {
        PluginMod {
            abi_revision: ABI_REVISION,
            info,
            new_instance,
        }
        .leak_into_prefix()
    }

    /// A declared `fail_closed`: the status, and the message if one was given.
    pub type FailClosedArgs = Option<(u16, Option<&'static str>)>;

    /// The response `#[plugin_abi::plugin]`'s `fail_closed` arguments declare.
    fn declared(args: FailClosedArgs) -> Option<FailClosed> {
        args.map(|(status, message)| FailClosed::new(status, message))
    }

    pub fn info<P: Plugin>(
        name: &str,
        version: &str,
        priority: i64,
        phases: &[Phase],
        fail_closed: FailClosedArgs,
        calls_services: &[Phase],
    ) -> InfoResult {
        guarded(name, "describing itself", || {
            let mut phases = phases.to_vec();
            phases.sort();
            phases.dedup();
            let info = PluginInfo {
                name: name.to_owned(),
                version: version.to_owned(),
                priority,
                phases,
                schema: kong_schema::<P::Config>(name)?,
                fail_closed: declared(fail_closed),
                calls_services: calls_services.to_vec(),
            };
            serde_json::to_string(&info).map_err(|e| e.to_string())
        })
        .map(RString::from)
        .map_err(RString::from)
        .into()
    }

    pub fn new_instance<P: Plugin>(
        name: &'static str,
        phases: &'static [Phase],
        fail_closed: FailClosedArgs,
        config: RStr<'_>,
    ) -> NewInstanceResult {
        guarded(name, "starting an instance", || {
            let plugin = P::new(super::decode_config(config.as_str())?)?;
            Ok(PluginInstance_TO::from_value(
                Guarded {
                    plugin,
                    name,
                    phases,
                    fail_closed: declared(fail_closed),
                },
                TD_Opaque,
            ))
        })
        .map_err(RString::from)
        .into()
    }

    struct Guarded<P> {
        plugin: P,
        name: &'static str,
        phases: &'static [Phase],
        fail_closed: Option<FailClosed>,
    }

    impl<P: Plugin> PluginInstance for Guarded<P> {
        fn handle(&self, phase: RStr<'_>, bridge: HostBridgeRef<'_>) -> RResult<(), HandlerError> {
            let name = self.name;
            let Some(phase) = phase
                .as_str()
                .parse::<Phase>()
                .ok()
                .filter(|p| self.phases.contains(p))
            else {
                let undefined = format!("undefined method {phase} on plugin {name}");
                return RResult::RErr(HandlerError::new(HandlerErrorKind::FAILED, undefined));
            };
            let kong = Kong::new(bridge);
            let result = catch_unwind(AssertUnwindSafe(|| {
                crate::plugin::run_handler(&self.plugin, phase, &kong)
            }));
            let error = match result {
                Ok(Ok(())) => return RResult::ROk(()),
                Ok(Err(e)) => HandlerError::new(
                    HandlerErrorKind::FAILED,
                    format!("{name} {phase} handler failed: {e}"),
                ),
                Err(payload) => HandlerError::new(
                    HandlerErrorKind::PANICKED,
                    panicked(name, phase.as_str(), &*payload),
                ),
            };
            if let Some(closed) = &self.fail_closed {
                fail_closed(&kong, closed, phase, &error.message);
            }
            RResult::RErr(error)
        }
    }

    /// Ends the request with the declared response after a handler failed, where the phase
    /// can still answer and the handler has not ended the request itself. What Kong answers to
    /// these calls changes nothing: the handler's error is returned either way, and logged by
    /// the host.
    fn fail_closed(kong: &Kong, closed: &FailClosed, phase: Phase, error: &str) {
        if !closed.applies_to(phase) || kong.has_ended() {
            return;
        }
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let _ = kong.log().err(format!(
                "{error}: the request ends with {} (fail_closed)",
                closed.status
            ));
            let _ = kong
                .response()
                .exit_json(closed.status, &closed.body(), None);
        }));
    }

    /// Runs `f`, turning a panic into an error that says where it happened.
    fn guarded<T>(
        name: &str,
        doing: &str,
        f: impl FnOnce() -> Result<T, String>,
    ) -> Result<T, String> {
        catch_unwind(AssertUnwindSafe(f))
            .unwrap_or_else(|payload| Err(panicked(name, doing, &*payload)))
    }

    /// What a panic of plugin `name` in `doing` says in the log.
    fn panicked(name: &str, doing: &str, payload: &(dyn Any + Send)) -> String {
        format!("{name} panicked in {doing}: {}", message(payload))
    }

    fn message(payload: &(dyn Any + Send)) -> &str {
        payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(a panic payload that is not a string)")
    }
}

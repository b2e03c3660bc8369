//! The attributes of plugin-abi: [`macro@config`] and [`macro@plugin`]. Plugin authors use them
//! through `plugin_abi::config` and `plugin_abi::plugin`, whose docs have the examples; this
//! crate is not meant to be depended on directly.
//!
//! The generated code names plugin-abi as `::plugin_abi`, so a plugin depends on it under that
//! name.

mod config;
mod plugin;
mod shared;

use proc_macro::TokenStream;

/// Makes a type a plugin config: derives serde's `Deserialize` and schemars' `JsonSchema`
/// through plugin-abi's re-exports, so the plugin needs neither crate itself.
#[proc_macro_attribute]
pub fn config(args: TokenStream, item: TokenStream) -> TokenStream {
    config::expand(args.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Exports the plugin implemented by the `impl Plugin for T` block it is put on: its phases
/// are the handlers that block defines.
#[proc_macro_attribute]
pub fn plugin(args: TokenStream, item: TokenStream) -> TokenStream {
    plugin::expand(args.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

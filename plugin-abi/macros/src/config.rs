//! `#[plugin_abi::config]`: serde's and schemars' derives, pointed at plugin-abi's re-exports.

use proc_macro2::TokenStream;
use quote::quote;

pub fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    if !args.is_empty() {
        return Err(syn::Error::new_spanned(
            args,
            "#[plugin_abi::config] takes no arguments",
        ));
    }
    let item: syn::Item = syn::parse2(item)?;
    if !matches!(item, syn::Item::Struct(_) | syn::Item::Enum(_)) {
        return Err(syn::Error::new_spanned(
            item,
            "#[plugin_abi::config] goes on a struct or an enum",
        ));
    }
    // The derives resolve `serde` and `schemars` from the crate root unless told otherwise;
    // a plugin has neither, plugin-abi re-exports both.
    Ok(quote! {
        #[derive(::plugin_abi::serde::Deserialize, ::plugin_abi::schemars::JsonSchema)]
        #[serde(crate = "::plugin_abi::serde")]
        #[schemars(crate = "::plugin_abi::schemars")]
        #item
    })
}

//! `#[plugin_abi::plugin(name = "...", priority = N, version = "x.y.z")]` on `impl Plugin for T`:
//! the phases are the handlers the block defines, the rest is checked here, at compile time,
//! as Kong will check it at `kong start`.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Expr, ExprLit, ImplItem, ItemImpl, Lit, MetaNameValue, Token, punctuated::Punctuated};

/// The handlers of `plugin_abi::Plugin`, which are Kong's phases.
const PHASES: [&str; 6] = [
    "certificate",
    "rewrite",
    "access",
    "response",
    "preread",
    "log",
];

pub fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args = Args::parse(args)?;
    let block: ItemImpl = syn::parse2(item).map_err(|e| {
        syn::Error::new(
            e.span(),
            "#[plugin_abi::plugin] goes on the `impl Plugin for YourType` block",
        )
    })?;
    let is_plugin_impl = block
        .trait_
        .as_ref()
        .and_then(|(_, path, _)| path.segments.last())
        .is_some_and(|s| s.ident == "Plugin");
    if !is_plugin_impl {
        return Err(syn::Error::new_spanned(
            &block.self_ty,
            "#[plugin_abi::plugin] goes on the `impl Plugin for YourType` block",
        ));
    }
    let phases: Vec<syn::Ident> = block
        .items
        .iter()
        .filter_map(|item| match item {
            ImplItem::Fn(f) if PHASES.contains(&f.sig.ident.to_string().as_str()) => {
                Some(f.sig.ident.clone())
            }
            _ => None,
        })
        .collect();
    if phases.is_empty() {
        return Err(syn::Error::new_spanned(
            &block.self_ty,
            format!(
                "this plugin implements no phase handler, so Kong would never call it: \
                 implement at least one of {}",
                PHASES.join(", ")
            ),
        ));
    }
    let plugin = &block.self_ty;
    let shared = match crate::shared::crates() {
        Some(list) => quote!(#list),
        None => quote!(::plugin_abi::fingerprint::SHARED_CRATES),
    };
    let Args {
        name,
        version,
        priority,
        fail_closed,
        fail_closed_message,
        calls_services,
    } = args;
    for phase in &calls_services {
        if !phases.iter().any(|p| p == phase) {
            return Err(syn::Error::new_spanned(
                phase,
                format!("`calls_services` names `{phase}`, which this block has no handler for"),
            ));
        }
    }
    let fail_closed = match (fail_closed, fail_closed_message) {
        (Some(status), message) => {
            let message = match message {
                Some(m) => quote!(::core::option::Option::Some(#m)),
                None => quote!(::core::option::Option::None),
            };
            quote!(::core::option::Option::Some((#status, #message)))
        }
        (None, None) => quote!(::core::option::Option::None),
        (None, Some(_)) => {
            return Err(syn::Error::new(
                Span::call_site(),
                "`fail_closed_message` needs `fail_closed = STATUS`",
            ));
        }
    };
    Ok(quote! {
        #block

        ::plugin_abi::__export_plugin! {
            plugin: #plugin,
            name: #name,
            version: #version,
            shared: #shared,
            priority: #priority,
            phases: [#(#phases),*],
            fail_closed: #fail_closed,
            calls_services: [#(#calls_services),*],
        }
    })
}

/// The attribute's arguments, in any order.
struct Args {
    name: String,
    version: String,
    priority: Expr,
    fail_closed: Option<Expr>,
    fail_closed_message: Option<String>,
    calls_services: Vec<syn::Ident>,
}

impl Args {
    fn parse(tokens: TokenStream) -> syn::Result<Args> {
        let usage = "write #[plugin_abi::plugin(name = \"my-plugin\", priority = 1000)], \
                     optionally with version = \"x.y.z\" (default: the crate's version)";
        let pairs = syn::parse::Parser::parse2(
            Punctuated::<MetaNameValue, Token![,]>::parse_terminated,
            tokens,
        )
        .map_err(|e| syn::Error::new(e.span(), usage))?;
        let (mut name, mut version, mut priority) = (None, None, None);
        let (mut fail_closed, mut fail_closed_message, mut calls_services) = (None, None, None);
        for pair in pairs {
            let key = pair.path.get_ident().map(ToString::to_string);
            let slot = match key.as_deref() {
                Some("name") => &mut name,
                Some("version") => &mut version,
                Some("priority") => &mut priority,
                Some("fail_closed") => &mut fail_closed,
                Some("fail_closed_message") => &mut fail_closed_message,
                Some("calls_services") => &mut calls_services,
                _ => {
                    return Err(syn::Error::new_spanned(
                        &pair.path,
                        format!(
                            "unknown argument: the arguments are name, priority, version, \
                             fail_closed, fail_closed_message and calls_services; {usage}"
                        ),
                    ));
                }
            };
            if slot.is_some() {
                return Err(syn::Error::new_spanned(&pair.path, "given twice"));
            }
            *slot = Some(pair);
        }
        let name = match name {
            Some(pair) => {
                let name = string(&pair.value, "name")?;
                if name.is_empty() || name.chars().any(char::is_whitespace) {
                    return Err(syn::Error::new_spanned(
                        &pair.value,
                        "a plugin name is a non-empty word, the name Kong knows the plugin by",
                    ));
                }
                name
            }
            None => {
                return Err(syn::Error::new(
                    Span::call_site(),
                    format!("`name` is missing: {usage}"),
                ));
            }
        };
        let priority = match priority {
            Some(pair) => pair.value,
            None => {
                return Err(syn::Error::new(
                    Span::call_site(),
                    format!(
                        "`priority` is missing (Kong runs plugins with higher priorities first): {usage}"
                    ),
                ));
            }
        };
        let version = match version {
            Some(pair) => string(&pair.value, "version")?,
            // Checked with the given one, by the code the export expands to.
            None => std::env::var("CARGO_PKG_VERSION").unwrap_or_default(),
        };
        let fail_closed_message = fail_closed_message
            .map(|pair| string(&pair.value, "fail_closed_message"))
            .transpose()?;
        let calls_services = match calls_services {
            None => Vec::new(),
            Some(pair) => phase_list(&pair.value)?,
        };
        Ok(Args {
            name,
            version,
            priority,
            fail_closed: fail_closed.map(|pair| pair.value),
            fail_closed_message,
            calls_services,
        })
    }
}

/// `[access, log]`: phase names, each one of [`PHASES`].
fn phase_list(value: &Expr) -> syn::Result<Vec<syn::Ident>> {
    let usage = "`calls_services` is a list of phases: calls_services = [access]";
    let Expr::Array(array) = value else {
        return Err(syn::Error::new_spanned(value, usage));
    };
    array
        .elems
        .iter()
        .map(|elem| match elem {
            Expr::Path(path) => match path.path.get_ident() {
                Some(ident) if PHASES.contains(&ident.to_string().as_str()) => Ok(ident.clone()),
                _ => Err(syn::Error::new_spanned(
                    elem,
                    format!("not a phase: the phases are {}", PHASES.join(", ")),
                )),
            },
            _ => Err(syn::Error::new_spanned(elem, usage)),
        })
        .collect()
}

fn string(value: &Expr, key: &str) -> syn::Result<String> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.value()),
        _ => Err(syn::Error::new_spanned(
            value,
            format!("`{key}` is a string literal"),
        )),
    }
}

//! Attribute parsing with `parse_nested_meta`. Each attribute is parsed once, here; a mistake is
//! recorded and parsing goes on with the next attribute.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Attribute, LitStr, Path};

use crate::ctxt::Ctxt;

/// `#[sio(…)]` on a struct.
#[derive(Default)]
pub(crate) struct ContainerAttrs {
    pub(crate) request_elem: Option<LitStr>,
    pub(crate) response_elem: Option<LitStr>,
    pub(crate) namespace: Option<LitStr>,
    pub(crate) skip_empty_keys: bool,
    pub(crate) krate: Option<Path>,
}

/// `#[sio(…)]` on a field.
#[derive(Default)]
pub(crate) struct FieldAttrs {
    pub(crate) rename: Option<LitStr>,
    pub(crate) default: Option<Option<Path>>,
    pub(crate) force_empty: bool,
    /// `max_items = N`: the most items the field's list takes.
    pub(crate) max_items: Option<syn::LitInt>,
    /// `min_items = N`: the fewest items the field's list takes when sent.
    pub(crate) min_items: Option<syn::LitInt>,
}

fn sio_attrs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|a| a.path().is_ident("sio"))
}

pub(crate) fn container(cx: &mut Ctxt, attrs: &[Attribute]) -> ContainerAttrs {
    let mut out = ContainerAttrs::default();
    for attr in sio_attrs(attrs) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("request_elem") {
                out.request_elem = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("response_elem") {
                out.response_elem = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("namespace") {
                out.namespace = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("skip_empty_keys") {
                out.skip_empty_keys = true;
            } else if meta.path.is_ident("crate") {
                let lit: LitStr = meta.value()?.parse()?;
                out.krate = Some(lit.parse()?);
            } else {
                return Err(meta.error(
                    "unknown sio attribute; expected `request_elem`, `response_elem`, `namespace`, `skip_empty_keys` or `crate`",
                ));
            }
            Ok(())
        });
        if let Err(err) = result {
            cx.syn_error(err);
        }
    }
    out
}

pub(crate) fn field(cx: &mut Ctxt, attrs: &[Attribute]) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    for attr in sio_attrs(attrs) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                out.rename = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("default") {
                if meta.input.peek(syn::Token![=]) {
                    let lit: LitStr = meta.value()?.parse()?;
                    out.default = Some(Some(lit.parse()?));
                } else {
                    out.default = Some(None);
                }
            } else if meta.path.is_ident("force_empty") {
                out.force_empty = true;
            } else if meta.path.is_ident("max_items") {
                let lit: syn::LitInt = meta.value()?.parse()?;
                if lit.base10_parse::<usize>()? == 0 {
                    return Err(syn::Error::new_spanned(
                        &lit,
                        "max_items must be at least 1",
                    ));
                }
                out.max_items = Some(lit);
            } else if meta.path.is_ident("min_items") {
                let lit: syn::LitInt = meta.value()?.parse()?;
                if lit.base10_parse::<usize>()? == 0 {
                    return Err(syn::Error::new_spanned(
                        &lit,
                        "min_items = 0 is every list's minimum already; leave it out (to let a caller leave the list out altogether, use `default` or `Option`)",
                    ));
                }
                out.min_items = Some(lit);
            } else {
                return Err(meta.error(
                    "unknown sio field attribute; expected `rename`, `default`, `force_empty`, `min_items` or `max_items`",
                ));
            }
            Ok(())
        });
        if let Err(err) = result {
            cx.syn_error(err);
        }
    }
    out
}

/// The arguments of `#[service(…)]`.
#[derive(Default)]
pub(crate) struct ServiceArgs {
    pub(crate) name: Option<LitStr>,
    pub(crate) krate: Option<Path>,
}

pub(crate) fn service(cx: &mut Ctxt, args: TokenStream) -> ServiceArgs {
    let mut out = ServiceArgs::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            out.name = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("crate") {
            let lit: LitStr = meta.value()?.parse()?;
            out.krate = Some(lit.parse()?);
        } else {
            return Err(meta.error("unknown service attribute; expected `name` or `crate`"));
        }
        Ok(())
    });
    if let Err(err) = syn::parse::Parser::parse2(parser, args) {
        cx.syn_error(err);
    }
    out
}

/// Where zato is, as `crate = "…"` says: `::zato` by default.
pub(crate) fn krate(path: Option<&Path>) -> TokenStream {
    match path {
        Some(p) => quote!(#p),
        None => quote!(::zato),
    }
}

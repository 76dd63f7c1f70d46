//! Attribute parsing with `parse_nested_meta`, collecting every mistake.

use proc_macro2::TokenStream;
use syn::{Attribute, LitStr, Path};

use crate::valid::Errors;

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
}

fn sio_attrs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|a| a.path().is_ident("sio"))
}

pub(crate) fn container(attrs: &[Attribute], errors: &mut Errors) -> ContainerAttrs {
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
        errors.push_result(result);
    }
    out
}

pub(crate) fn field(attrs: &[Attribute], errors: &mut Errors) -> FieldAttrs {
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
            } else {
                return Err(meta.error(
                    "unknown sio field attribute; expected `rename`, `default` or `force_empty`",
                ));
            }
            Ok(())
        });
        errors.push_result(result);
    }
    out
}

/// The arguments of `#[service(…)]`.
#[derive(Default)]
pub(crate) struct ServiceArgs {
    pub(crate) name: Option<LitStr>,
    pub(crate) krate: Option<Path>,
}

pub(crate) fn service(args: TokenStream, errors: &mut Errors) -> ServiceArgs {
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
    errors.push_result(syn::parse::Parser::parse2(parser, args));
    out
}

//! Cross-field checks, and the collector that lets one expansion report several mistakes.

use std::collections::HashMap;

use quote::ToTokens;
use syn::{GenericArgument, PathArguments, Type};

use crate::ast::Container;

/// Several errors, reported together.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, err: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(err),
            None => self.0 = Some(err),
        }
    }

    pub(crate) fn push_result(&mut self, result: syn::Result<()>) {
        if let Err(e) = result {
            self.push(e);
        }
    }

    pub(crate) fn spanned(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        match self.0 {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// A type no SimpleIO element can have, told apart by its shape alone; other unsupported types
/// are caught by the `SioType` bound, whose diagnostic names the type too.
fn unsupported(ty: &Type) -> Option<(&Type, &'static str)> {
    let why = match ty {
        Type::Reference(_) => {
            "references are not SimpleIO element types; use an owned type such as `String`"
        }
        Type::Tuple(t) if t.elems.is_empty() => "`()` is not a SimpleIO element type",
        Type::Tuple(_) => "tuples are not SimpleIO element types; use a struct deriving `SimpleIo`",
        Type::Array(_) | Type::Slice(_) => {
            "arrays and slices are not SimpleIO element types; use `Vec<T>`"
        }
        Type::Ptr(_)
        | Type::BareFn(_)
        | Type::ImplTrait(_)
        | Type::TraitObject(_)
        | Type::Never(_) => "this type cannot be a SimpleIO element",
        Type::Path(p) => {
            // Look inside Option<…>, Vec<…> and the like for an offending argument.
            let last = p.path.segments.last()?;
            if let PathArguments::AngleBracketed(args) = &last.arguments {
                for arg in &args.args {
                    if let GenericArgument::Type(inner) = arg {
                        if let Some(found) = unsupported(inner) {
                            return Some(found);
                        }
                    }
                }
            }
            return None;
        }
        Type::Paren(p) => return unsupported(&p.elem),
        Type::Group(g) => return unsupported(&g.elem),
        _ => return None,
    };
    Some((ty, why))
}

pub(crate) fn check_container(c: &Container) -> syn::Result<()> {
    let mut errors = Errors::default();
    let mut seen: HashMap<&str, &syn::Ident> = HashMap::new();
    for field in &c.fields {
        if let Some((ty, why)) = unsupported(&field.ty) {
            errors.spanned(ty, why);
        }
        if let Some(first) = seen.insert(&field.wire_name, &field.member) {
            let at: &dyn ToTokens = match &field.attrs.rename {
                Some(lit) => lit,
                None => &field.member,
            };
            errors.spanned(
                at,
                format!(
                    "fields `{first}` and `{}` both map to the element `{}`",
                    field.member, field.wire_name
                ),
            );
        }
        if field.wire_name.is_empty() {
            errors.spanned(&field.member, "an element name cannot be empty");
        }
    }
    errors.finish()
}

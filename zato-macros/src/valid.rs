//! Every check on a macro input. The model is read whatever it holds; this is where it is judged,
//! and each mistake is recorded at the token it is about.

use std::collections::HashMap;

use quote::ToTokens;
use syn::{FnArg, GenericArgument, PathArguments, ReturnType, Type};

use crate::ast::{Container, Field, ParamKind, ServiceFn, Shape};
use crate::ctxt::Ctxt;

/// The signature a service function must have, quoted in each error about it.
pub(crate) const SIGNATURE: &str =
    "expected `async fn name(req: Request<Input>, ctx: &Context) -> Result<Output, ServiceError>`";

/// A type no SimpleIO element can have, told apart by its shape alone. Other unsupported types are
/// caught by the expansion's `SioType` assertion, which needs the compiler to know the type.
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
                    if let GenericArgument::Type(inner) = arg
                        && let Some(found) = unsupported(inner)
                    {
                        return Some(found);
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

pub(crate) fn check_container(cx: &mut Ctxt, c: &Container<'_>) {
    if let Shape::Other = c.shape {
        cx.error_spanned_by(
            &c.input.ident,
            "SimpleIo can be derived only for structs with named fields",
        );
    }
    let mut seen: HashMap<&str, &syn::Ident> = HashMap::new();
    for field in &c.fields {
        if let Some((ty, why)) = unsupported(field.ty) {
            cx.error_spanned_by(ty, why);
        }
        if let Some(first) = seen.insert(&field.wire_name, field.member) {
            let at: &dyn ToTokens = match &field.attrs.rename {
                Some(lit) => lit,
                None => field.member,
            };
            cx.error_spanned_by(
                at,
                format!(
                    "fields `{first}` and `{}` both map to the element `{}`",
                    field.member, field.wire_name
                ),
            );
        }
        if field.wire_name.is_empty() {
            cx.error_spanned_by(field.member, "an element name cannot be empty");
        }
        check_list_bounds(cx, field);
    }
}

/// `min_items` no greater than `max_items`: no list could satisfy both.
fn check_list_bounds(cx: &mut Ctxt, field: &Field<'_>) {
    let (Some(min), Some(max)) = (&field.attrs.min_items, &field.attrs.max_items) else {
        return;
    };
    // Both parsed as usize already, when the attributes were read.
    let (Ok(lo), Ok(hi)) = (min.base10_parse::<usize>(), max.base10_parse::<usize>()) else {
        return;
    };
    if lo > hi {
        cx.error_spanned_by(
            min,
            format!(
                "min_items = {lo} is greater than max_items = {hi}: no list of `{}` could be accepted",
                field.wire_name
            ),
        );
    }
}

pub(crate) fn check_service(cx: &mut Ctxt, s: &ServiceFn<'_>) {
    let sig = &s.item.sig;
    if sig.asyncness.is_none() {
        cx.error_spanned_by(
            sig.fn_token,
            format!("a service must be an `async fn`; {SIGNATURE}"),
        );
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        cx.error_spanned_by(&sig.generics, "a service function cannot be generic");
    }
    check_params(cx, s);
    if s.output.is_none() {
        let at: &dyn ToTokens = match &sig.output {
            ReturnType::Default => sig,
            ReturnType::Type(_, ty) => ty,
        };
        cx.error_spanned_by(at, format!("a service must return a `Result`; {SIGNATURE}"));
    }
    match &s.args.name {
        Some(name) if name.value().trim().is_empty() => {
            cx.error_spanned_by(name, "the service name cannot be empty");
        }
        Some(_) => {}
        None => cx.syn_error(syn::Error::new(
            s.args_span,
            "missing service name: write `#[service(name = \"my.service\")]`",
        )),
    }
}

fn check_params(cx: &mut Ctxt, s: &ServiceFn<'_>) {
    let [first, rest @ ..] = s.params.as_slice() else {
        cx.error_spanned_by(
            &s.item.sig,
            format!("a service takes its request as first argument; {SIGNATURE}"),
        );
        return;
    };
    match (&first.kind, first.arg) {
        (ParamKind::Request(_), _) => {}
        (_, FnArg::Receiver(r)) => {
            cx.error_spanned_by(
                r,
                format!("a service function takes no `self`; {SIGNATURE}"),
            );
        }
        (_, FnArg::Typed(pat)) => cx.error_spanned_by(
            &pat.ty,
            format!("the first argument must be a `Request<Input>`; {SIGNATURE}"),
        ),
    }
    match rest {
        [] => {}
        [second] => {
            if !matches!(second.kind, ParamKind::Context) {
                let at: &dyn ToTokens = match second.arg {
                    FnArg::Typed(pat) => &pat.ty,
                    FnArg::Receiver(r) => r,
                };
                cx.error_spanned_by(
                    at,
                    format!("the second argument must be `&Context`; {SIGNATURE}"),
                );
            }
        }
        [_, extra, ..] => cx.error_spanned_by(
            extra.arg,
            format!("a service takes at most two arguments; {SIGNATURE}"),
        ),
    }
}

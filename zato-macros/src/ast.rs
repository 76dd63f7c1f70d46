//! The model the expansions work from, parsed from syn's syntax tree.

use proc_macro2::TokenStream;
use syn::spanned::Spanned;
use syn::{
    Data, DeriveInput, Fields, FnArg, GenericArgument, Ident, ItemFn, LitStr, Path, PathArguments,
    ReturnType, Type,
};

use crate::attr::{self, ContainerAttrs, FieldAttrs, ServiceArgs};
use crate::valid::Errors;

pub(crate) struct Field {
    pub(crate) member: Ident,
    pub(crate) ty: Type,
    pub(crate) wire_name: String,
    pub(crate) attrs: FieldAttrs,
}

pub(crate) struct Container<'a> {
    pub(crate) input: &'a DeriveInput,
    pub(crate) attrs: ContainerAttrs,
    pub(crate) fields: Vec<Field>,
}

pub(crate) fn krate(path: &Option<Path>) -> TokenStream {
    match path {
        Some(p) => quote::quote!(#p),
        None => quote::quote!(::zato),
    }
}

impl<'a> Container<'a> {
    pub(crate) fn from_syn(input: &'a DeriveInput) -> syn::Result<Self> {
        let mut errors = Errors::default();
        let attrs = attr::container(&input.attrs, &mut errors);
        let syn_fields: Vec<&syn::Field> = match &input.data {
            Data::Struct(s) => match &s.fields {
                Fields::Named(named) => named.named.iter().collect(),
                Fields::Unit => Vec::new(),
                Fields::Unnamed(_) => {
                    return Err(syn::Error::new_spanned(
                        &input.ident,
                        "SimpleIo can be derived only for structs with named fields",
                    ));
                }
            },
            _ => {
                return Err(syn::Error::new_spanned(
                    &input.ident,
                    "SimpleIo can be derived only for structs with named fields",
                ));
            }
        };
        let mut fields = Vec::new();
        for f in syn_fields {
            let field_attrs = attr::field(&f.attrs, &mut errors);
            let Some(member) = f.ident.clone() else {
                continue;
            };
            let wire_name = match &field_attrs.rename {
                Some(lit) => lit.value(),
                None => member.to_string().trim_start_matches("r#").to_owned(),
            };
            fields.push(Field {
                member,
                ty: f.ty.clone(),
                wire_name,
                attrs: field_attrs,
            });
        }
        errors.finish()?;
        Ok(Container {
            input,
            attrs,
            fields,
        })
    }
}

/// What a service function returns on success.
pub(crate) enum Output {
    /// `Result<T, E>`: the output is `T`.
    Plain(Type),
    /// `Result<Response<T>, E>`: the output is `T`, status and headers are the function's.
    Response(Type),
}

pub(crate) struct ServiceFn<'a> {
    pub(crate) item: &'a ItemFn,
    pub(crate) name: LitStr,
    pub(crate) krate: Option<Path>,
    pub(crate) input: Type,
    pub(crate) output: Output,
    pub(crate) takes_context: bool,
}

/// The single type argument of a path type whose last segment is `name`: `Request<T>` → `T`.
fn generic_of<'t>(ty: &'t Type, name: &str) -> Option<Vec<&'t Type>> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return Some(Vec::new());
    };
    Some(
        args.args
            .iter()
            .filter_map(|a| match a {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
    )
}

const SIGNATURE: &str =
    "expected `async fn name(req: Request<Input>, ctx: &Context) -> Result<Output, ServiceError>`";

impl<'a> ServiceFn<'a> {
    pub(crate) fn from_syn(args: TokenStream, item: &'a ItemFn) -> syn::Result<Self> {
        let mut errors = Errors::default();
        let attr_span = args.span();
        let ServiceArgs { name, krate } = attr::service(args, &mut errors);
        let sig = &item.sig;
        if sig.asyncness.is_none() {
            errors.spanned(
                sig.fn_token,
                format!("a service must be an `async fn`; {SIGNATURE}"),
            );
        }
        if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
            errors.spanned(&sig.generics, "a service function cannot be generic");
        }
        let mut input = None;
        let mut takes_context = false;
        let params: Vec<&FnArg> = sig.inputs.iter().collect();
        match params.as_slice() {
            [] => errors.spanned(
                sig,
                format!("a service takes its request as first argument; {SIGNATURE}"),
            ),
            [first, rest @ ..] => {
                match first {
                    FnArg::Typed(pat) => match generic_of(&pat.ty, "Request").as_deref() {
                        Some([t]) => input = Some((*t).clone()),
                        _ => errors.spanned(
                            &pat.ty,
                            format!("the first argument must be a `Request<Input>`; {SIGNATURE}"),
                        ),
                    },
                    FnArg::Receiver(r) => errors.spanned(
                        r,
                        format!("a service function takes no `self`; {SIGNATURE}"),
                    ),
                }
                match rest {
                    [] => {}
                    [FnArg::Typed(pat)] => {
                        let ok = matches!(&*pat.ty, Type::Reference(r)
                            if r.mutability.is_none() && generic_of(&r.elem, "Context").is_some());
                        if ok {
                            takes_context = true;
                        } else {
                            errors.spanned(
                                &pat.ty,
                                format!("the second argument must be `&Context`; {SIGNATURE}"),
                            );
                        }
                    }
                    [FnArg::Receiver(r)] => errors.spanned(
                        r,
                        format!("the second argument must be `&Context`; {SIGNATURE}"),
                    ),
                    [_, extra, ..] => errors.spanned(
                        extra,
                        format!("a service takes at most two arguments; {SIGNATURE}"),
                    ),
                }
            }
        }
        let output = match &sig.output {
            ReturnType::Default => {
                errors.spanned(
                    sig,
                    format!("a service must return a `Result`; {SIGNATURE}"),
                );
                None
            }
            ReturnType::Type(_, ty) => match generic_of(ty, "Result").as_deref() {
                Some([ok, ..]) => Some(match generic_of(ok, "Response").as_deref() {
                    Some([inner]) => Output::Response((*inner).clone()),
                    _ => Output::Plain((*ok).clone()),
                }),
                _ => {
                    errors.spanned(ty, format!("a service must return a `Result`; {SIGNATURE}"));
                    None
                }
            },
        };
        let name = match name {
            Some(n) if n.value().trim().is_empty() => {
                errors.spanned(&n, "the service name cannot be empty");
                None
            }
            Some(n) => Some(n),
            None => {
                errors.push(syn::Error::new(
                    attr_span,
                    "missing service name: write `#[service(name = \"my.service\")]`",
                ));
                None
            }
        };
        errors.finish()?;
        match (name, input, output) {
            (Some(name), Some(input), Some(output)) => Ok(ServiceFn {
                item,
                name,
                krate,
                input,
                output,
                takes_context,
            }),
            _ => Err(syn::Error::new_spanned(sig, SIGNATURE)),
        }
    }
}

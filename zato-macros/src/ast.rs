//! The model the checks and the expansions work from, read from syn's syntax tree. It records
//! what the input is, right or wrong; `valid.rs` decides whether it is acceptable.

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{
    Data, DeriveInput, Fields, FnArg, GenericArgument, Ident, ItemFn, PathArguments, ReturnType,
    Type,
};

use crate::attr::{self, ContainerAttrs, FieldAttrs, ServiceArgs};
use crate::ctxt::Ctxt;

/// The input of `#[derive(SimpleIo)]`.
pub(crate) struct Container<'a> {
    pub(crate) input: &'a DeriveInput,
    pub(crate) attrs: ContainerAttrs,
    pub(crate) shape: Shape,
    /// The named fields; none unless the shape is `Named`.
    pub(crate) fields: Vec<Field<'a>>,
}

/// What kind of type the derive is on.
pub(crate) enum Shape {
    /// A struct with named fields.
    Named,
    /// `struct Unit;`
    Unit,
    /// A tuple struct, an enum or a union.
    Other,
}

pub(crate) struct Field<'a> {
    pub(crate) member: &'a Ident,
    pub(crate) ty: &'a Type,
    /// The element's name on the wire: the field's name or its `rename`.
    pub(crate) wire_name: String,
    pub(crate) attrs: FieldAttrs,
    /// The field's doc comment, its lines joined, if it has one.
    pub(crate) doc: Option<String>,
}

impl<'a> Container<'a> {
    pub(crate) fn from_syn(cx: &mut Ctxt, input: &'a DeriveInput) -> Self {
        let attrs = attr::container(cx, &input.attrs);
        let (shape, syn_fields): (Shape, Vec<&syn::Field>) = match &input.data {
            Data::Struct(s) => match &s.fields {
                Fields::Named(named) => (Shape::Named, named.named.iter().collect()),
                Fields::Unit => (Shape::Unit, Vec::new()),
                Fields::Unnamed(_) => (Shape::Other, Vec::new()),
            },
            Data::Enum(_) | Data::Union(_) => (Shape::Other, Vec::new()),
        };
        let fields = syn_fields
            .into_iter()
            .filter_map(|f| {
                let attrs = attr::field(cx, &f.attrs);
                let member = f.ident.as_ref()?;
                let wire_name = match &attrs.rename {
                    Some(lit) => lit.value(),
                    None => member.to_string().trim_start_matches("r#").to_owned(),
                };
                Some(Field {
                    member,
                    ty: &f.ty,
                    wire_name,
                    attrs,
                    doc: doc_comment(&f.attrs),
                })
            })
            .collect();
        Container {
            input,
            attrs,
            shape,
            fields,
        }
    }

    /// Where zato is.
    pub(crate) fn krate(&self) -> TokenStream {
        attr::krate(self.attrs.krate.as_ref())
    }
}

/// The function under `#[service(…)]`.
pub(crate) struct ServiceFn<'a> {
    pub(crate) item: &'a ItemFn,
    pub(crate) args: ServiceArgs,
    /// Where the arguments are, for an error about one that is missing.
    pub(crate) args_span: Span,
    pub(crate) params: Vec<Param<'a>>,
    /// `None` when the function does not return a `Result`.
    pub(crate) output: Option<Output<'a>>,
}

/// One parameter of a service function.
pub(crate) struct Param<'a> {
    pub(crate) arg: &'a FnArg,
    pub(crate) kind: ParamKind<'a>,
}

pub(crate) enum ParamKind<'a> {
    /// `Request<T>`: the service's input is `T`.
    Request(&'a Type),
    /// `&Context`.
    Context,
    /// Anything else, `self` included.
    Other,
}

/// What a service function returns on success.
pub(crate) enum Output<'a> {
    /// `Result<T, E>`: the output is `T`.
    Plain(&'a Type),
    /// `Result<Response<T>, E>`: the output is `T`, status and headers are the function's.
    Response(&'a Type),
}

impl Output<'_> {
    pub(crate) fn ty(&self) -> &Type {
        match self {
            Output::Plain(ty) | Output::Response(ty) => ty,
        }
    }
}

/// The type arguments of a path type whose last segment is `name`: `Request<T>` → `[T]`.
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

impl<'a> Param<'a> {
    fn from_syn(arg: &'a FnArg) -> Self {
        let kind = match arg {
            FnArg::Typed(pat) => match (&*pat.ty, generic_of(&pat.ty, "Request").as_deref()) {
                (_, Some(&[input])) => ParamKind::Request(input),
                (Type::Reference(r), _)
                    if r.mutability.is_none() && generic_of(&r.elem, "Context").is_some() =>
                {
                    ParamKind::Context
                }
                _ => ParamKind::Other,
            },
            FnArg::Receiver(_) => ParamKind::Other,
        };
        Param { arg, kind }
    }
}

impl<'a> ServiceFn<'a> {
    pub(crate) fn from_syn(cx: &mut Ctxt, args: TokenStream, item: &'a ItemFn) -> Self {
        let args_span = args.span();
        let args = attr::service(cx, args);
        let params = item.sig.inputs.iter().map(Param::from_syn).collect();
        let output = match &item.sig.output {
            ReturnType::Default => None,
            ReturnType::Type(_, ty) => match generic_of(ty, "Result").as_deref() {
                Some(&[ok, ..]) => Some(match generic_of(ok, "Response").as_deref() {
                    Some(&[inner]) => Output::Response(inner),
                    _ => Output::Plain(ok),
                }),
                _ => None,
            },
        };
        ServiceFn {
            item,
            args,
            args_span,
            params,
            output,
        }
    }

    /// The `T` of a first parameter `Request<T>`.
    pub(crate) fn input(&self) -> Option<&'a Type> {
        match self.params.first()?.kind {
            ParamKind::Request(ty) => Some(ty),
            _ => None,
        }
    }

    /// Whether the second parameter is the `&Context`.
    pub(crate) fn takes_context(&self) -> bool {
        matches!(
            self.params.get(1),
            Some(Param {
                kind: ParamKind::Context,
                ..
            })
        )
    }

    /// Where zato is.
    pub(crate) fn krate(&self) -> TokenStream {
        attr::krate(self.args.krate.as_ref())
    }
}

/// The text of `///` comments (`#[doc = "…"]`), one leading space of each line dropped, lines
/// joined; `None` when there is none or it is blank.
fn doc_comment(attrs: &[syn::Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .map(|line| {
            line.strip_prefix(' ')
                .unwrap_or(&line)
                .trim_end()
                .to_owned()
        })
        .collect();
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}

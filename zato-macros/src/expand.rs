//! Code generation. Generated code names everything by absolute path through
//! `<zato>::__private` and sits inside `const _: () = { … };`.

use proc_macro2::{Ident, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::ItemFn;
use syn::spanned::Spanned;

use crate::ast::{Container, Output, ServiceFn};
use crate::valid::SIGNATURE;

fn opt_str(lit: Option<&syn::LitStr>) -> TokenStream {
    match lit {
        Some(l) => quote!(::core::option::Option::Some(#l)),
        None => quote!(::core::option::Option::None),
    }
}

fn opt_usize(lit: Option<&syn::LitInt>) -> TokenStream {
    match lit {
        // Unsuffixed, so the literal is a usize whatever its spelling.
        Some(l) => {
            let n = syn::LitInt::new(l.base10_digits(), l.span());
            quote!(::core::option::Option::Some(#n))
        }
        None => quote!(::core::option::Option::None),
    }
}

/// Whether `tokens` hold one of `idents`.
fn names_any(tokens: TokenStream, idents: &[Ident]) -> bool {
    tokens.into_iter().any(|tt| match tt {
        TokenTree::Ident(i) => idents.contains(&i),
        TokenTree::Group(g) => names_any(g.stream(), idents),
        TokenTree::Punct(_) | TokenTree::Literal(_) => false,
    })
}

pub(crate) fn simple_io(c: &Container<'_>) -> TokenStream {
    let zato = c.krate();
    let p = quote!(#zato::__private);
    let ident = &c.input.ident;
    let mut generics = c.input.generics.clone();
    // Bounds only on the types that name a type parameter: a false bound on any other type is an
    // error of its own (a "trivial bound"), and the assertion reports those types already.
    let params: Vec<Ident> = generics.type_params().map(|t| t.ident.clone()).collect();
    let bounded: Vec<&syn::Type> = c
        .fields
        .iter()
        .map(|f| f.ty)
        .filter(|ty| names_any(ty.to_token_stream(), &params))
        .collect();
    if !bounded.is_empty() {
        let where_clause = generics.make_where_clause();
        for ty in bounded {
            where_clause
                .predicates
                .push(syn::parse_quote_spanned!(ty.span()=> #ty: #p::SioType));
        }
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let request_elem = opt_str(c.attrs.request_elem.as_ref());
    let response_elem = opt_str(c.attrs.response_elem.as_ref());
    let namespace = opt_str(c.attrs.namespace.as_ref());

    let vars: Vec<_> = (0..c.fields.len())
        .map(|i| format_ident!("__f{}", i))
        .collect();
    let members: Vec<_> = c.fields.iter().map(|f| f.member).collect();
    // Per field type, autoref picks `ElementOps` for an element type and `NotElementOps`
    // otherwise (see `__private::FieldOps`), so an unsupported type is reported once, by the
    // assertion below, and not again at every use.
    let ops = |ty: &syn::Type| quote!((&#p::FieldOps::<#ty>::NEW));

    // The one place an unsupported field type is reported, at the type.
    let assertions = c.fields.iter().map(|f| {
        let ty = f.ty;
        quote_spanned!(ty.span()=> let _ = <#ty as #p::SioType>::type_desc;)
    });

    let describe = c.fields.iter().map(|f| {
        let ops = ops(f.ty);
        let name = &f.wire_name;
        let required = f.attrs.default.is_none();
        let description = match &f.doc {
            Some(doc) => quote!(::core::option::Option::Some(#doc)),
            None => quote!(::core::option::Option::None),
        };
        let default = match &f.attrs.default {
            None => quote!(::core::option::Option::None),
            Some(None) => {
                let ty = f.ty;
                let default = quote_spanned!(ty.span()=> ::core::default::Default::default);
                quote!(#ops.__sio_default(#default))
            }
            Some(Some(func)) => quote!(#ops.__sio_default(#func)),
        };
        let bounds = match (&f.attrs.min_items, &f.attrs.max_items) {
            (None, None) => TokenStream::new(),
            (min, max) => {
                let min = opt_usize(min.as_ref());
                let max = opt_usize(max.as_ref());
                quote!(.with_list_bounds(#min, #max))
            }
        };
        quote!(#ops.__sio_element(#name, #required)
            .with_description(#description)
            .with_default(#default)
            #bounds)
    });

    let decode = c.fields.iter().zip(&vars).map(|(f, var)| {
        let ty = f.ty;
        let ops = ops(ty);
        let name = &f.wire_name;
        let call = match &f.attrs.default {
            None => quote!(#ops.__sio_field(fields, #name, path, errors)),
            Some(None) => {
                let default = quote_spanned!(ty.span()=> ::core::default::Default::default);
                quote!(#ops.__sio_field_or(fields, #name, path, errors, #default))
            }
            Some(Some(func)) => quote!(#ops.__sio_field_or(fields, #name, path, errors, #func)),
        };
        // A field's own bounds hold for the next list decoded, its own, and are dropped after,
        // whether or not a list took them.
        let (min, max) = (f.attrs.min_items.as_ref(), f.attrs.max_items.as_ref());
        if min.is_none() && max.is_none() {
            return quote!(let #var = #call;);
        }
        let none = quote!(::core::option::Option::None);
        let (set_min, reset_min) = match min {
            Some(_) => {
                let min = opt_usize(min);
                (
                    quote!(errors.require_next_list(#min);),
                    quote!(errors.require_next_list(#none);),
                )
            }
            None => (TokenStream::new(), TokenStream::new()),
        };
        let (set_max, reset_max) = match max {
            Some(_) => {
                let max = opt_usize(max);
                (
                    quote!(errors.limit_next_list(#max);),
                    quote!(errors.limit_next_list(#none);),
                )
            }
            None => (TokenStream::new(), TokenStream::new()),
        };
        let (set, reset) = (quote!(#set_min #set_max), quote!(#reset_min #reset_max));
        quote! {
            let #var = {
                #set
                let value = #call;
                #reset
                value
            };
        }
    });

    let encode = c.fields.iter().map(|f| {
        let ops = ops(f.ty);
        let member = f.member;
        let name = &f.wire_name;
        let skip = c.attrs.skip_empty_keys && !f.attrs.force_empty;
        quote!(#ops.__sio_encode(&self.#member, #name, w, #skip);)
    });

    let field_ops = if c.fields.is_empty() {
        TokenStream::new()
    } else {
        quote!(use #p::{ElementOps as _, NotElementOps as _};)
    };

    quote! {
        const _: () = {
            #field_ops

            #[automatically_derived]
            impl #impl_generics #p::SioObject for #ident #ty_generics #where_clause {
                const REQUEST_ELEM: ::core::option::Option<&'static str> = #request_elem;
                const RESPONSE_ELEM: ::core::option::Option<&'static str> = #response_elem;
                const NAMESPACE: ::core::option::Option<&'static str> = #namespace;

                fn elements() -> ::std::vec::Vec<#p::ElementDesc> {
                    #(#assertions)*
                    ::std::vec![#(#describe),*]
                }

                fn decode_fields(
                    fields: &#p::Fields<'_>,
                    path: &#p::Path<'_>,
                    errors: &mut #p::Errors,
                ) -> ::core::option::Option<Self> {
                    #(#decode)*
                    ::core::option::Option::Some(Self { #(#members: #vars?),* })
                }

                fn encode_fields(&self, w: &mut #p::Writer<'_>) {
                    #(#encode)*
                }
            }

            #[automatically_derived]
            impl #impl_generics #p::SioType for #ident #ty_generics #where_clause {
                fn type_desc() -> #p::TypeDesc {
                    #p::TypeDesc::Object(<Self as #p::SioObject>::elements())
                }

                fn decode(
                    node: #p::Node<'_>,
                    path: &#p::Path<'_>,
                    errors: &mut #p::Errors,
                ) -> ::core::option::Option<Self> {
                    #p::decode_nested::<Self>(node, path, errors)
                }

                fn encode(&self, name: &str, w: &mut #p::Writer<'_>) {
                    #p::encode_nested(self, name, w)
                }
            }
        };
    }
}

pub(crate) fn service(s: &ServiceFn<'_>) -> syn::Result<TokenStream> {
    let (Some(name), Some(input), Some(output)) = (&s.args.name, s.input(), &s.output) else {
        // valid.rs has reported what is missing already.
        return Err(syn::Error::new_spanned(&s.item.sig, SIGNATURE));
    };
    let zato = s.krate();
    let p = quote!(#zato::__private);
    let item = s.item;
    let ident = &item.sig.ident;
    let other_attrs = item.attrs.iter().filter(|a| !a.path().is_ident("doc"));

    let mut inner_sig = item.sig.clone();
    inner_sig.ident = format_ident!("__zato_service_body");
    let body = &item.block;

    let convert = match output {
        Output::Plain(_) => quote!(#p::plain_response),
        Output::Response(_) => quote!(#p::full_response),
    };
    let output = output.ty();
    let (call, ctx_name) = if s.takes_context() {
        (quote!(__zato_service_body(req, ctx)), quote!(ctx))
    } else {
        (quote!(__zato_service_body(req)), quote!(_ctx))
    };
    let service_struct = service_struct(item);

    Ok(quote! {
        #service_struct

        const _: () = {
            #(#other_attrs)*
            #inner_sig #body

            impl #p::Service for #ident {
                const NAME: &'static str = #name;
                type Input = #input;
                type Output = #output;

                fn handle(
                    &self,
                    req: #p::Request<#input>,
                    #ctx_name: &#p::Context,
                ) -> impl ::core::future::Future<
                    Output = ::core::result::Result<#p::Response<#output>, #p::ServiceError>,
                > + ::core::marker::Send {
                    #convert(#call)
                }
            }
        };
    })
}

/// The unit struct a service function becomes, named and documented like the function.
pub(crate) fn service_struct(item: &ItemFn) -> TokenStream {
    let ident = &item.sig.ident;
    let vis = &item.vis;
    let docs = item.attrs.iter().filter(|a| a.path().is_ident("doc"));
    quote! {
        #(#docs)*
        #[allow(non_camel_case_types, reason = "named after the function it was written as")]
        #[derive(Debug, Clone, Copy, Default)]
        #vis struct #ident;
    }
}

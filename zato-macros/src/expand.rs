//! Code generation. Generated code names everything by absolute path through
//! `<zato>::__private` and sits inside `const _: () = { … };`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::{Container, Output, ServiceFn, krate};

fn opt_str(lit: &Option<syn::LitStr>) -> TokenStream {
    match lit {
        Some(l) => quote!(::core::option::Option::Some(#l)),
        None => quote!(::core::option::Option::None),
    }
}

pub(crate) fn simple_io(c: &Container<'_>) -> TokenStream {
    let zato = krate(&c.attrs.krate);
    let p = quote!(#zato::__private);
    let ident = &c.input.ident;
    let mut generics = c.input.generics.clone();
    // Bounds only for generic structs: on a concrete type a false bound would be reported at the
    // derive, while without it the error lands on the field's type.
    if generics.type_params().next().is_some() {
        let where_clause = generics.make_where_clause();
        for f in &c.fields {
            let ty = &f.ty;
            where_clause
                .predicates
                .push(syn::parse_quote!(#ty: #p::SioType));
        }
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let request_elem = opt_str(&c.attrs.request_elem);
    let response_elem = opt_str(&c.attrs.response_elem);
    let namespace = opt_str(&c.attrs.namespace);

    let vars: Vec<_> = (0..c.fields.len())
        .map(|i| format_ident!("__f{}", i))
        .collect();
    let members: Vec<_> = c.fields.iter().map(|f| &f.member).collect();

    let describe = c.fields.iter().map(|f| {
        let ty = &f.ty;
        let name = &f.wire_name;
        let required = f.attrs.default.is_none();
        quote_spanned!(ty.span()=> #p::element::<#ty>(#name, #required))
    });

    let decode = c.fields.iter().zip(&vars).map(|(f, var)| {
        let ty = &f.ty;
        let name = &f.wire_name;
        let call = match &f.attrs.default {
            None => quote_spanned!(ty.span()=> #p::field::<#ty>(fields, #name, path, errors)),
            Some(None) => quote_spanned!(ty.span()=>
                #p::field_or::<#ty>(fields, #name, path, errors, ::core::default::Default::default)
            ),
            Some(Some(func)) => quote_spanned!(ty.span()=>
                #p::field_or::<#ty>(fields, #name, path, errors, #func)
            ),
        };
        quote!(let #var = #call;)
    });

    let encode = c.fields.iter().map(|f| {
        let member = &f.member;
        let name = &f.wire_name;
        let skip = c.attrs.skip_empty_keys && !f.attrs.force_empty;
        quote!(#p::encode_field(&self.#member, #name, w, #skip);)
    });

    quote! {
        #[automatically_derived]
        const _: () = {
            impl #impl_generics #p::SioObject for #ident #ty_generics #where_clause {
                const REQUEST_ELEM: ::core::option::Option<&'static str> = #request_elem;
                const RESPONSE_ELEM: ::core::option::Option<&'static str> = #response_elem;
                const NAMESPACE: ::core::option::Option<&'static str> = #namespace;

                fn elements() -> ::std::vec::Vec<#p::ElementDesc> {
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

pub(crate) fn service(s: &ServiceFn<'_>) -> TokenStream {
    let zato = krate(&s.krate);
    let p = quote!(#zato::__private);
    let item = s.item;
    let ident = &item.sig.ident;
    let vis = &item.vis;
    let name = &s.name;
    let input = &s.input;
    let docs = item.attrs.iter().filter(|a| a.path().is_ident("doc"));
    let other_attrs = item.attrs.iter().filter(|a| !a.path().is_ident("doc"));

    let mut inner_sig = item.sig.clone();
    inner_sig.ident = format_ident!("__zato_service_body");
    let body = &item.block;

    let (output, convert) = match &s.output {
        Output::Plain(ty) => (ty, quote!(#p::into_response)),
        Output::Response(ty) => (ty, quote!(#p::from_response)),
    };
    let call = if s.takes_context {
        quote!(__zato_service_body(req, ctx))
    } else {
        quote!(__zato_service_body(req))
    };
    let ctx_name = if s.takes_context {
        quote!(ctx)
    } else {
        quote!(_ctx)
    };

    quote! {
        #(#docs)*
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, Default)]
        #vis struct #ident;

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
                    async move { #convert(#call.await) }
                }
            }
        };
    }
}

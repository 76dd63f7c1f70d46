//! What is emitted next to a compile error: every impl the expansion would have emitted, with
//! bodies that never run, so that the user sees that one error and not a cascade of others about
//! a missing trait (after thiserror's `impl/src/fallback.rs`).

use proc_macro2::TokenStream;
use quote::quote;

use crate::ast::{Container, ServiceFn};
use crate::expand::service_struct;

pub(crate) fn simple_io(c: &Container<'_>, err: syn::Error) -> TokenStream {
    let ident = &c.input.ident;
    let (impl_generics, ty_generics, where_clause) = c.input.generics.split_for_impl();
    let error = err.to_compile_error();
    let zato = c.krate();
    let p = quote!(#zato::__private);
    quote! {
        #error

        const _: () = {
            #[automatically_derived]
            impl #impl_generics #p::SioObject for #ident #ty_generics #where_clause {
                fn elements() -> ::std::vec::Vec<#p::ElementDesc> {
                    ::core::unreachable!()
                }

                fn decode_fields(
                    _: &#p::Fields<'_>,
                    _: &#p::Path<'_>,
                    _: &mut #p::Errors,
                ) -> ::core::option::Option<Self> {
                    ::core::unreachable!()
                }

                fn encode_fields(&self, _: &mut #p::Writer<'_>) {
                    ::core::unreachable!()
                }
            }

            #[automatically_derived]
            impl #impl_generics #p::SioType for #ident #ty_generics #where_clause {
                fn type_desc() -> #p::TypeDesc {
                    ::core::unreachable!()
                }

                fn decode(
                    _: #p::Node<'_>,
                    _: &#p::Path<'_>,
                    _: &mut #p::Errors,
                ) -> ::core::option::Option<Self> {
                    ::core::unreachable!()
                }

                fn encode(&self, _: &str, _: &mut #p::Writer<'_>) {
                    ::core::unreachable!()
                }
            }
        };
    }
}

/// The service's struct and `Service` impl, with as much of the signature as could be read, so
/// that code deploying or invoking the service type-checks as it would have.
pub(crate) fn service(s: &ServiceFn<'_>, err: syn::Error) -> TokenStream {
    // The types of a generic function may name its parameters, which the impl does not have.
    let generic = !s.item.sig.generics.params.is_empty();
    let ident = &s.item.sig.ident;
    let error = err.to_compile_error();
    let zato = s.krate();
    let p = quote!(#zato::__private);
    let name = match &s.args.name {
        Some(name) => quote!(#name),
        None => quote!(""),
    };
    let input = match s.input() {
        Some(ty) if !generic => quote!(#ty),
        _ => quote!(()),
    };
    let output = match &s.output {
        Some(output) if !generic => {
            let ty = output.ty();
            quote!(#ty)
        }
        _ => quote!(()),
    };
    let service_struct = service_struct(s.item);
    quote! {
        #error

        #service_struct

        const _: () = {
            impl #p::Service for #ident {
                const NAME: &'static str = #name;
                type Input = #input;
                type Output = #output;

                fn handle(
                    &self,
                    _: #p::Request<#input>,
                    _: &#p::Context,
                ) -> impl ::core::future::Future<
                    Output = ::core::result::Result<#p::Response<#output>, #p::ServiceError>,
                > + ::core::marker::Send {
                    async { ::core::unreachable!() }
                }
            }
        };
    }
}

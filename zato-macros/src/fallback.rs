//! What is emitted next to a compile error, so the user sees that one error and not a cascade of
//! others about a trait that is missing.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{DeriveInput, ItemFn};

use crate::ast::krate;

pub(crate) fn simple_io(input: &DeriveInput, err: syn::Error) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let error = err.to_compile_error();
    let mut ignored = crate::valid::Errors::default();
    let zato = krate(&crate::attr::container(&input.attrs, &mut ignored).krate);
    quote! {
        #error
        const _: () = {
            impl #impl_generics #zato::__private::SioObject for #ident #ty_generics #where_clause {
                fn elements() -> ::std::vec::Vec<#zato::__private::ElementDesc> {
                    ::std::unreachable!()
                }
                fn decode_fields(
                    _: &#zato::__private::Fields<'_>,
                    _: &#zato::__private::Path<'_>,
                    _: &mut #zato::__private::Errors,
                ) -> ::std::option::Option<Self> {
                    ::std::unreachable!()
                }
                fn encode_fields(&self, _: &mut #zato::__private::Writer<'_>) {
                    ::std::unreachable!()
                }
            }
        };
    }
}

pub(crate) fn service(
    item: &ItemFn,
    krate_path: Option<syn::Path>,
    err: syn::Error,
) -> TokenStream {
    let ident = &item.sig.ident;
    let vis = &item.vis;
    let error = err.to_compile_error();
    let zato = krate(&krate_path);
    quote! {
        #error
        #[allow(non_camel_case_types)]
        #vis struct #ident;
        const _: () = {
            impl #zato::__private::Service for #ident {
                const NAME: &'static str = "";
                type Input = ();
                type Output = ();
                #[allow(clippy::manual_async_fn)]
                fn handle(
                    &self,
                    _: #zato::__private::Request<()>,
                    _: &#zato::__private::Context,
                ) -> impl ::core::future::Future<
                    Output = ::core::result::Result<
                        #zato::__private::Response<()>,
                        #zato::__private::ServiceError,
                    >,
                > + ::core::marker::Send {
                    async { ::std::unreachable!() }
                }
            }
        };
    }
}

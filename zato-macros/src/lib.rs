//! The `#[service]` attribute and the `SimpleIo` derive of zato-rs.
//!
//! Use them through the `zato` crate (`use zato::prelude::*;`), which re-exports both; the
//! generated code names `::zato` unless told otherwise with `crate = "…"`.
//!
//! ```
//! use zato::prelude::*;
//!
//! #[derive(SimpleIo)]
//! struct Dispatch {
//!     target: Vec<String>,
//! }
//!
//! #[service(name = "invoice.dispatcher")]
//! async fn invoice_dispatcher(req: Request<Dispatch>, ctx: &Context) -> Result<(), ServiceError> {
//!     let _ = (req.input.target, ctx.cid());
//!     Ok(())
//! }
//!
//! Platform::new().services().deploy(invoice_dispatcher).unwrap();
//! ```

mod ast;
mod attr;
mod ctxt;
mod expand;
mod fallback;
mod valid;

use proc_macro::TokenStream;
use syn::parse_macro_input;

use crate::ctxt::Ctxt;

/// Derives SimpleIO for a struct with named fields, making it a service input or output and a
/// nested element of other such structs.
///
/// Container attributes, `#[sio(…)]`: `request_elem = "request"` (a JSON body may be wrapped in
/// it), `response_elem = "response"` (the output is wrapped in it; for XML the root element),
/// `namespace = "urn:…"` (of the XML output), `skip_empty_keys` (leave out empty outputs),
/// `crate = "path"` (where zato is, `::zato` by default).
///
/// Field attributes, `#[sio(…)]`: `rename = "name"` (the element's name on the wire),
/// `default` or `default = "path::to::fn"` (the field is optional and takes that value when
/// absent), `force_empty` (written even when empty under `skip_empty_keys`), `max_items = N`
/// (the most items the field's list or `Csv` takes, instead of the channel's bound; more is a
/// 400 naming the element and the bound), `min_items = N` (the fewest items the field's list or
/// `Csv` takes when sent, at least 1 and at most `max_items`; fewer is a 400 naming the element
/// and the minimum; a list left out is still missing, or takes its `default`). Both bounds are in
/// the element's description, so in the generated OpenAPI (`minItems`, `maxItems`) and WSDL.
#[proc_macro_derive(SimpleIo, attributes(sio))]
pub fn derive_simple_io(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as syn::DeriveInput);
    let mut cx = Ctxt::default();
    let container = ast::Container::from_syn(&mut cx, &input);
    valid::check_container(&mut cx, &container);
    match cx.check() {
        Ok(()) => expand::simple_io(&container),
        Err(err) => fallback::simple_io(&container, err),
    }
    .into()
}

/// Declares a service from an async function.
///
/// The function takes a `Request<Input>` and optionally a `&Context`, and returns
/// `Result<Output, E>` or `Result<Response<Output>, E>` with `E: Into<ServiceError>`. It becomes a
/// unit struct of the same name implementing `Service`, which is what you deploy.
///
/// Arguments: `name = "invoice.dispatcher"` (required), `crate = "path"` (where zato is,
/// `::zato` by default).
#[proc_macro_attribute]
pub fn service(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = parse_macro_input!(item as syn::ItemFn);
    let mut cx = Ctxt::default();
    let svc = ast::ServiceFn::from_syn(&mut cx, args.into(), &item);
    valid::check_service(&mut cx, &svc);
    match cx.check().and_then(|()| expand::service(&svc)) {
        Ok(tokens) => tokens,
        Err(err) => fallback::service(&svc, err),
    }
    .into()
}

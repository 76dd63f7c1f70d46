//! Services declared with the macros, run through the facade as a user would.

use std::sync::Arc;

use bytes::Bytes;
use zato::channels::HTTP_KIND;
use zato::prelude::*;
use zato::{ChannelInfo, Cid, DataFormat, RawRequest};

#[derive(SimpleIo, Debug, PartialEq)]
struct Targets {
    target: Vec<String>,
}

#[derive(SimpleIo, Debug, PartialEq)]
struct Stored {
    stored: Vec<String>,
    bytes: usize,
}

/// The seed's service, minus Swift: it reports what it would store.
#[service(name = "invoice.dispatcher")]
async fn invoice_dispatcher(req: Request<Targets>, _ctx: &Context) -> Result<Stored, ServiceError> {
    Ok(Stored {
        stored: req.input.target,
        bytes: req.raw_request.len(),
    })
}

#[allow(
    clippy::unwrap_used,
    reason = "a test helper; a query that does not parse is a mistake in the test"
)]
fn json_request(query: &str, body: &'static str) -> RawRequest {
    let channel = Arc::new(ChannelInfo::new("t", HTTP_KIND, DataFormat::Json));
    let http = zato::HttpInfo {
        uri: format!("/invoice.dispatcher?{query}").parse().unwrap(),
        ..Default::default()
    };
    RawRequest::new(Cid::new(), channel, Bytes::from_static(body.as_bytes())).with_transport(http)
}

#[tokio::test]
async fn the_seed_service_declared_with_the_macro() {
    let platform = Platform::new();
    platform.services().deploy(invoice_dispatcher).unwrap();
    let reply = platform
        .dispatch(
            "invoice.dispatcher",
            json_request("target=CRM&target=Billing", r#"{"id":"123"}"#),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 200);
    let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"stored": ["CRM", "Billing"], "bytes": 12})
    );
}

#[tokio::test]
async fn the_service_type_carries_name_and_types() {
    assert_eq!(<invoice_dispatcher as Service>::NAME, "invoice.dispatcher");
    let platform = Platform::new();
    platform.services().deploy(invoice_dispatcher).unwrap();
    let out = platform
        .context()
        .invoke_typed::<invoice_dispatcher>(Targets {
            target: vec!["A".into()],
        })
        .await
        .unwrap();
    assert_eq!(
        out.output,
        Stored {
            stored: vec!["A".into()],
            bytes: 0
        }
    );
}

/// A domain error of the user's own, converted into a ServiceError by `?`.
#[derive(Debug)]
struct Closed;

impl From<Closed> for ServiceError {
    fn from(_: Closed) -> Self {
        ServiceError::Conflict("the ledger is closed".into())
    }
}

#[service(name = "ledger.post")]
async fn ledger_post(_req: Request<()>) -> Result<(), Closed> {
    Err(Closed)
}

#[service(name = "ledger.create")]
async fn ledger_create(_req: Request<()>) -> Result<Response<()>, ServiceError> {
    Ok(Response::new(()).with_status(http::StatusCode::NO_CONTENT))
}

#[tokio::test]
async fn user_error_types_and_responses_with_status() {
    let platform = Platform::new();
    platform.services().deploy(ledger_post).unwrap();
    platform.services().deploy(ledger_create).unwrap();
    let reply = platform.dispatch("ledger.post", json_request("", "")).await;
    assert_eq!(reply.status.as_u16(), 409);
    let reply = platform
        .dispatch("ledger.create", json_request("", ""))
        .await;
    assert_eq!(reply.status.as_u16(), 204);
    assert!(reply.body.is_empty());
}

#[derive(SimpleIo, Debug, PartialEq)]
struct Page<T> {
    items: Vec<T>,
    #[sio(default)]
    next: Option<String>,
}

#[derive(SimpleIo, Debug, PartialEq)]
struct Id {
    id: u64,
}

#[test]
fn generic_structs_derive_too() {
    let page: Page<Id> = zato::sio::decode_parts(
        DataFormat::Json,
        None,
        br#"{"items":[{"id":1},{"id":"2"}]}"#,
    )
    .unwrap();
    assert_eq!(
        page,
        Page {
            items: vec![Id { id: 1 }, Id { id: 2 }],
            next: None
        }
    );
}

#[test]
fn descriptions_say_what_is_required() {
    use zato::sio::SioObject;
    let els = <Page<Id> as SioObject>::elements();
    assert_eq!(els[0].name, "items");
    assert!(els[0].required);
    assert!(!els[1].required);
    assert_eq!(els[0].ty.to_string(), "list of object");
}

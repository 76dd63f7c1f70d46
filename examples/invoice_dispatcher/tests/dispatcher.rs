//! The InvoiceDispatcher tested as a user tests their own service: with `zato::testing`, in
//! memory, through the facade alone. Each test takes milliseconds and needs no server.

use ::invoice_dispatcher as app;
use app::OBJECT;
use zato::testing::{Fault, SwiftDouble, TestNode};

const INVOICE: &str = r#"{"id":"123"}"#;

/// The service, and its Swift connection pointed at a double.
async fn dispatcher() -> (TestNode, SwiftDouble) {
    let node = TestNode::new().deploy(app::invoice_dispatcher);
    let swift = node.swift("Invoice Dispatcher").await;
    (node, swift)
}

#[tokio::test]
async fn the_seed_request_stores_the_invoice_in_both_containers() {
    let (node, swift) = dispatcher().await;
    let reply = node
        .request("invoice.dispatcher")
        .query("target=CRM&target=Billing");
    let reply = reply.json(INVOICE).send().await;
    assert_eq!(
        reply.json(),
        serde_json::json!({"stored": ["CRM", "Billing"]})
    );
    for target in ["CRM", "Billing"] {
        assert_eq!(
            swift.object(target, OBJECT).as_deref(),
            Some(INVOICE.as_bytes())
        );
    }
}

#[tokio::test]
async fn a_failing_target_is_named_with_what_was_and_was_not_stored() {
    let (node, swift) = dispatcher().await;
    swift.fail(Some("Billing"), Fault::Status(503));
    let reply = node
        .request("invoice.dispatcher")
        .query("target=CRM&target=Billing");
    let reply = reply.json(INVOICE).send().await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert!(
        reply
            .text()
            .contains(r#"stored for: \"CRM\"; not stored for: \"Billing\""#)
    );
    assert!(swift.object("CRM", OBJECT).is_some() && swift.object("Billing", OBJECT).is_none());
}

#[tokio::test]
async fn a_bad_target_is_refused_and_nothing_is_stored() {
    let (node, swift) = dispatcher().await;
    let reply = node
        .request("invoice.dispatcher")
        .query("target=CRM&target=a%2Fb");
    let reply = reply.json(INVOICE).send().await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(swift.objects("CRM").is_empty());
}

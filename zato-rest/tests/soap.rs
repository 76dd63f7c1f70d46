//! A SOAP call to our own SOAP channel over both versions, a Fault as a typed error, and a
//! REST call to our own JSON channel through a service's context.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use serde_json::json;
use support::Node;
use zato_core::config::Section;
use zato_core::{Request, ServiceError};
use zato_macros::{SimpleIo, service};
use zato_rest::RestErrorKind;

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Quote {
    sku: String,
    qty: u32,
}

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Priced {
    sku: String,
    total: u64,
}

#[service(name = "shop.price", crate = "zato_core")]
async fn price(req: Request<Quote>) -> Result<Priced, ServiceError> {
    if req.input.qty == 0 {
        return Err(ServiceError::bad_request("qty must be at least 1"));
    }
    Ok(Priced {
        sku: req.input.sku,
        total: u64::from(req.input.qty) * 250,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soap_call_works_over_both_versions_and_a_fault_comes_back_typed() {
    let node = Node::new().await;
    node.platform.services().deploy(price).unwrap();
    node.put(
        Section::Channels,
        "http",
        json!({"name": "price.soap", "url_path": "/soap/price", "service": "shop.price", "data_format": "soap"}),
    )
    .await
    .unwrap();
    let address = format!("http://{}/soap/price", node.server.local_addr());
    for version in ["1.1", "1.2"] {
        let name = format!("Shop {version}");
        let conn = node
            .soap(json!({"name": name, "address": address, "soap_version": version, "data_format": "xml"}))
            .await;
        let priced: Priced = conn
            .call(
                "urn:price",
                &Quote {
                    sku: "A-1".into(),
                    qty: 4,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            (priced.sku.as_str(), priced.total),
            ("A-1", 1000),
            "{version}"
        );

        let err = conn
            .call::<_, Priced>(
                "urn:price",
                &Quote {
                    sku: "A-1".into(),
                    qty: 0,
                },
            )
            .await
            .unwrap_err();
        match err.kind() {
            RestErrorKind::SoapFault { code, reason } => {
                let want = if version == "1.1" { "Client" } else { "Sender" };
                assert!(code.ends_with(want), "{version}: {code}");
                assert!(
                    reason.contains("qty must be at least 1"),
                    "{version}: {reason}"
                );
            }
            other => panic!("{version}: not a fault: {other:?}"),
        }
        assert_eq!(ServiceError::from(err).status(), 502);
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_calls_a_rest_connection_by_name_through_its_context() {
    let node = Node::new().await;
    node.platform.services().deploy(price).unwrap();
    node.put(
        Section::Channels,
        "http",
        json!({"name": "price.json", "url_path": "/price/{sku}", "service": "shop.price"}),
    )
    .await
    .unwrap();
    node.http(json!({"name": "Shop", "address": format!("http://{}", node.server.local_addr())}))
        .await;
    let ctx = node.platform.context();
    use zato_rest::RestOutgoing;
    let priced: serde_json::Value = ctx
        .outgoing()
        .http("Shop")
        .unwrap()
        .post("/price/{sku}", &json!({"qty": 2}))
        .param("sku", "B 2")
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(priced, json!({"sku": "B 2", "total": 500}));
    let missing = ctx.outgoing().http("Nobody").unwrap_err();
    assert_eq!(missing.status(), 503);
    node.shutdown().await;
}

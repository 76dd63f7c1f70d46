//! The seed scenario's input, in every format, parses to the same typed value.

mod support;

use support::*;
use zato_core::sio::{ReplyFormat, SoapVersion};
use zato_core::{Context, DataFormat, Platform, Request, Response, Service, ServiceError};
use zato_macros::SimpleIo;

#[derive(SimpleIo, Debug, PartialEq)]
#[sio(crate = "zato_core")]
struct Dispatch {
    target: Vec<String>,
}

fn expected() -> Dispatch {
    Dispatch {
        target: vec!["CRM".into(), "Billing".into()],
    }
}

#[test]
fn query_string_with_json_body() {
    let raw = request(
        DataFormat::Json,
        Some("target=CRM&target=Billing"),
        r#"{"id":"123"}"#,
        Some("application/x-www-form-urlencoded"),
    );
    assert_eq!(decode::<Dispatch>(&raw).unwrap(), expected());
}

#[test]
fn xml_body() {
    let raw = request(
        DataFormat::Xml,
        None,
        "<request><target>CRM</target><target>Billing</target></request>",
        Some("application/xml"),
    );
    assert_eq!(decode::<Dispatch>(&raw).unwrap(), expected());
}

#[test]
fn xml_body_with_namespaces_and_prefixes() {
    let raw = request(
        DataFormat::Xml,
        None,
        r#"<inv:request xmlns:inv="urn:invoices" xmlns:x="urn:other"><inv:target>CRM</inv:target><x:target>Billing</x:target></inv:request>"#,
        None,
    );
    assert_eq!(decode::<Dispatch>(&raw).unwrap(), expected());
}

#[test]
fn soap_envelopes_of_both_versions_with_prefixed_and_default_namespaces() {
    let body = r#"<inv:request xmlns:inv="urn:invoices"><inv:target>CRM</inv:target><inv:target>Billing</inv:target></inv:request>"#;
    let plain = "<request><target>CRM</target><target>Billing</target></request>";
    let cases = [
        (soap_prefixed(SOAP11, body), SoapVersion::V11, "text/xml"),
        (
            soap_default(SOAP11, plain),
            SoapVersion::V11,
            "text/xml; charset=utf-8",
        ),
        (
            soap_prefixed(SOAP12, body),
            SoapVersion::V12,
            "application/soap+xml",
        ),
        (
            soap_default(SOAP12, plain),
            SoapVersion::V12,
            "application/soap+xml",
        ),
    ];
    for (envelope, version, ct) in cases {
        let raw = request(DataFormat::Soap, None, &envelope, Some(ct));
        let (value, reply) = decode_reply::<Dispatch>(&raw);
        assert_eq!(value.unwrap(), expected(), "{envelope}");
        assert_eq!(reply, ReplyFormat::Soap(version), "{envelope}");
    }
}

#[test]
fn form_body() {
    let raw = request(
        DataFormat::Form,
        None,
        "target=CRM&target=Billing",
        Some("application/x-www-form-urlencoded"),
    );
    assert_eq!(decode::<Dispatch>(&raw).unwrap(), expected());
}

#[test]
fn json_body_alone() {
    let raw = request(
        DataFormat::Json,
        None,
        r#"{"target":["CRM","Billing"]}"#,
        None,
    );
    assert_eq!(decode::<Dispatch>(&raw).unwrap(), expected());
}

/// Captures what the service saw, to compare with what was sent.
struct Capture(tokio::sync::mpsc::UnboundedSender<(Vec<String>, bytes::Bytes)>);

impl Service for Capture {
    const NAME: &'static str = "invoice.dispatcher";
    type Input = Dispatch;
    type Output = ();

    async fn handle(
        &self,
        req: Request<Dispatch>,
        _: &Context,
    ) -> Result<Response<()>, ServiceError> {
        let _ = self.0.send((req.input.target, req.raw_request));
        Ok(Response::new(()))
    }
}

#[tokio::test]
async fn raw_request_is_byte_identical_to_the_body() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let platform = Platform::new();
    platform.services().deploy(Capture(tx)).unwrap();
    let body = r#"{"id":"123"}"#;
    let raw = request(
        DataFormat::Json,
        Some("target=CRM&target=Billing"),
        body,
        None,
    );
    let sent = raw.body.clone();
    let reply = platform.dispatch("invoice.dispatcher", raw).await;
    assert_eq!(reply.status.as_u16(), 200);
    let (targets, seen) = rx.recv().await.unwrap();
    assert_eq!(targets, ["CRM", "Billing"]);
    assert_eq!(seen, body.as_bytes());
    // Zero-copy: the service sees the very buffer the channel received.
    assert_eq!(seen.as_ptr(), sent.as_ptr());
}

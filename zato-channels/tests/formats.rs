//! Each data format in and out through the real listener, errors included.
#![cfg(feature = "http")]

mod support;

use support::*;
use zato_channels::HttpChannelConfig;
use zato_core::DataFormat;

const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";

fn envelope(ns: &str, body: &str) -> String {
    format!(
        r#"<soapenv:Envelope xmlns:soapenv="{ns}"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"#
    )
}

async fn server() -> TestServer {
    let channels = vec![
        HttpChannelConfig::new("json", "/invoice.dispatcher", "invoice.dispatcher"),
        HttpChannelConfig::new("xml", "/xml/invoice.dispatcher", "invoice.dispatcher")
            .with_data_format(DataFormat::Xml),
        HttpChannelConfig::new("soap", "/soap/invoice.dispatcher", "invoice.dispatcher")
            .with_data_format(DataFormat::Soap),
        HttpChannelConfig::new("form", "/form/invoice.dispatcher", "invoice.dispatcher")
            .with_data_format(DataFormat::Form),
    ];
    TestServer::start(platform(), channels, vec![]).await
}

#[tokio::test]
async fn the_seed_command_works_verbatim() {
    // curl "localhost:11223/invoice.dispatcher?target=CRM&target=Billing" -d '{"id":"123"}'
    let s = server().await;
    let r = s
        .post(
            "/invoice.dispatcher?target=CRM&target=Billing",
            "application/x-www-form-urlencoded",
            r#"{"id":"123"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), "application/json");
    r.cid();
    let v = r.json();
    assert_eq!(v["stored"], serde_json::json!(["CRM", "Billing"]));
    assert_eq!(v["id"], "123");
    s.stop().await;
}

#[tokio::test]
async fn json_in_and_out() {
    let s = server().await;
    let r = s
        .post(
            "/invoice.dispatcher",
            "application/json",
            r#"{"target":["ERP"],"id":"7"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["stored"], serde_json::json!(["ERP"]));
    s.stop().await;
}

#[tokio::test]
async fn xml_in_and_out() {
    let s = server().await;
    let r = s
        .post(
            "/xml/invoice.dispatcher",
            "application/xml",
            "<request><target>CRM</target><target>Billing</target><id>9</id></request>",
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.header("content-type").starts_with("application/xml"));
    assert!(
        r.body
            .contains("<stored>CRM</stored><stored>Billing</stored>"),
        "{}",
        r.body
    );
    assert!(r.body.contains("<id>9</id>"), "{}", r.body);
    s.stop().await;
}

#[tokio::test]
async fn soap_11_and_12_answered_in_their_own_version() {
    let s = server().await;
    let req = "<inv:dispatch xmlns:inv=\"urn:inv\"><inv:target>CRM</inv:target><inv:id>5</inv:id></inv:dispatch>";
    let r11 = s
        .post(
            "/soap/invoice.dispatcher",
            "text/xml; charset=utf-8",
            &envelope(SOAP11, req),
        )
        .await;
    assert_eq!(r11.status, 200, "{r11:?}");
    assert!(r11.header("content-type").starts_with("text/xml"));
    assert!(r11.body.contains(SOAP11), "{}", r11.body);
    assert!(r11.body.contains("<stored>CRM</stored>"), "{}", r11.body);

    // The version is told by the envelope, even under a media type that says otherwise.
    let r12 = s
        .post(
            "/soap/invoice.dispatcher",
            "text/xml",
            &envelope(SOAP12, req),
        )
        .await;
    assert_eq!(r12.status, 200, "{r12:?}");
    assert!(
        r12.header("content-type")
            .starts_with("application/soap+xml")
    );
    assert!(r12.body.contains(SOAP12), "{}", r12.body);
    assert!(r12.body.contains("<id>5</id>"), "{}", r12.body);
    s.stop().await;
}

#[tokio::test]
async fn form_in_json_out() {
    let s = server().await;
    let r = s
        .post(
            "/form/invoice.dispatcher",
            "application/x-www-form-urlencoded",
            "target=CRM&target=Billing&id=1",
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["stored"], serde_json::json!(["CRM", "Billing"]));
    s.stop().await;
}

#[tokio::test]
async fn bad_input_is_a_400_in_each_format_with_the_cid() {
    let s = server().await;

    let json = s
        .post("/invoice.dispatcher", "application/json", r#"{"id":"1"}"#)
        .await;
    let v = json.assert_json_error(400, "invalid_input");
    assert_eq!(v["elements"][0]["name"], "target");
    assert_eq!(v["elements"][0]["problem"], "missing");

    let malformed = s
        .post("/invoice.dispatcher", "application/json", "{\"target\":")
        .await;
    let v = malformed.assert_json_error(400, "malformed_json");
    assert!(v["line"].is_number(), "{}", malformed.body);

    let xml = s
        .post(
            "/xml/invoice.dispatcher",
            "application/xml",
            "<request><id>1</id></request>",
        )
        .await;
    assert_eq!(xml.status, 400);
    assert!(xml.header("content-type").starts_with("application/xml"));
    assert!(xml.body.contains("<error>"), "{}", xml.body);
    assert!(
        xml.body.contains(&format!("<cid>{}</cid>", xml.cid())),
        "{}",
        xml.body
    );
    assert!(xml.body.contains("<name>target</name>"), "{}", xml.body);

    let soap11 = s
        .post(
            "/soap/invoice.dispatcher",
            "text/xml",
            &envelope(SOAP11, "<dispatch><id>1</id></dispatch>"),
        )
        .await;
    assert_eq!(soap11.status, 400);
    assert!(soap11.body.contains(SOAP11), "{}", soap11.body);
    assert!(
        soap11
            .body
            .contains("<faultcode>soapenv:Client</faultcode>"),
        "{}",
        soap11.body
    );
    assert!(soap11.body.contains(soap11.cid()), "{}", soap11.body);

    let soap12 = s
        .post(
            "/soap/invoice.dispatcher",
            "application/soap+xml",
            &envelope(SOAP12, "<dispatch><id>1</id></dispatch>"),
        )
        .await;
    assert_eq!(soap12.status, 400);
    assert!(soap12.body.contains(SOAP12), "{}", soap12.body);
    assert!(soap12.body.contains("soapenv:Sender"), "{}", soap12.body);
    assert!(soap12.body.contains(soap12.cid()), "{}", soap12.body);
    s.stop().await;
}

#[tokio::test]
async fn a_media_type_not_fitting_the_channel_is_415_in_the_channel_format() {
    let s = server().await;
    let json = s
        .post("/invoice.dispatcher", "application/xml", "<request/>")
        .await;
    json.assert_json_error(415, "unsupported_media_type");

    let xml = s
        .post("/xml/invoice.dispatcher", "application/json", "{}")
        .await;
    assert_eq!(xml.status, 415);
    assert!(xml.body.contains("<error>"), "{}", xml.body);
    assert!(xml.body.contains(xml.cid()), "{}", xml.body);
    s.stop().await;
}

/// What `demo.profiled` answers.
#[derive(zato_macros::SimpleIo, Debug)]
#[sio(crate = "zato_core")]
pub struct Profiled {
    /// Always true.
    pub ok: bool,
}

/// Answers with a media type whose parameter is not ASCII.
#[zato_macros::service(name = "demo.profiled", crate = "zato_core")]
pub async fn profiled(
    _req: zato_core::Request<()>,
) -> Result<zato_core::Response<Profiled>, zato_core::ServiceError> {
    Ok(zato_core::Response::new(Profiled { ok: true })
        .with_content_type("application/json; profile=\"café\""))
}

#[tokio::test]
async fn a_non_ascii_content_type_from_a_service_is_answered() {
    let platform = platform();
    platform.services().deploy(profiled).unwrap();
    let channels = vec![HttpChannelConfig::new(
        "profiled",
        "/profiled",
        "demo.profiled",
    )];
    let s = TestServer::start(platform, channels, vec![]).await;
    let resp = s.client.get(s.url("/profiled")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].as_bytes(),
        "application/json; profile=\"café\"".as_bytes()
    );
    assert_eq!(resp.text().await.unwrap(), r#"{"ok":true}"#);
    s.stop().await;
}

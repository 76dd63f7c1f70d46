//! Output in every format: JSON, XML with a namespace, SOAP 1.1 and 1.2, empty keys.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] functions panic on what would fail the test anyway"
)]

use chrono::NaiveDate;
use rust_decimal::Decimal;
use zato_core::sio::{Csv, Raw, RawKind, ReplyFormat, SoapVersion, encode_output};
use zato_macros::SimpleIo;

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Item {
    sku: String,
    qty: u32,
}

#[derive(SimpleIo, Debug)]
#[sio(
    crate = "zato_core",
    response_elem = "invoice",
    namespace = "urn:zato:invoice"
)]
struct Out {
    id: String,
    total: Decimal,
    paid: bool,
    ratio: f64,
    due: NaiveDate,
    items: Vec<Item>,
    codes: Csv<u8>,
    note: Option<String>,
    extra: Raw,
}

fn out() -> Out {
    Out {
        id: "1 < 2 & \"3\"".into(),
        total: "10.50".parse().unwrap(),
        paid: true,
        ratio: 0.25,
        due: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
        items: vec![
            Item {
                sku: "A".into(),
                qty: 1,
            },
            Item {
                sku: "B".into(),
                qty: 2,
            },
        ],
        codes: Csv(vec![1, 2]),
        note: None,
        extra: Raw {
            text: r#"{"k":[1]}"#.into(),
            kind: RawKind::Json,
        },
    }
}

fn encode(format: ReplyFormat) -> String {
    let mut buf = Vec::new();
    encode_output(&out(), format, &mut buf);
    String::from_utf8(buf).unwrap()
}

#[test]
fn json_wrapped_in_the_response_element() {
    let v: serde_json::Value = serde_json::from_str(&encode(ReplyFormat::Json)).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"invoice": {
            "id": "1 < 2 & \"3\"", "total": "10.50", "paid": true, "ratio": 0.25,
            "due": "2026-12-01", "items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}],
            "codes": "1,2", "note": null, "extra": {"k": [1]}
        }})
    );
}

#[test]
fn json_without_a_response_element_is_the_bare_object() {
    let mut buf = Vec::new();
    encode_output(
        &Item {
            sku: "A".into(),
            qty: 3,
        },
        ReplyFormat::Json,
        &mut buf,
    );
    assert_eq!(buf, br#"{"sku":"A","qty":3}"#);
}

#[test]
fn xml_with_namespace_escaping_and_repeated_list_elements() {
    let xml = encode(ReplyFormat::Xml);
    assert!(
        xml.starts_with(
            r#"<?xml version="1.0" encoding="utf-8"?><invoice xmlns="urn:zato:invoice">"#
        ),
        "{xml}"
    );
    assert!(
        xml.contains("<id>1 &lt; 2 &amp; &quot;3&quot;</id>"),
        "{xml}"
    );
    assert!(
        xml.contains(
            "<items><sku>A</sku><qty>1</qty></items><items><sku>B</sku><qty>2</qty></items>"
        ),
        "{xml}"
    );
    // An unset optional element is XML Schema's null, its prefix declared where it is used.
    assert!(
        xml.contains(
            r#"<note xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:nil="true"/>"#
        ),
        "{xml}"
    );
    // A raw JSON value is text in XML, escaped.
    assert!(xml.contains("<extra>{&quot;k&quot;:[1]}</extra>"), "{xml}");
    assert!(xml.ends_with("</invoice>"), "{xml}");
}

#[test]
fn xml_output_parses_back_with_the_same_values() {
    // Round trip through our own XML input: what we write, we can read.
    let xml = encode(ReplyFormat::Xml);
    #[derive(SimpleIo, Debug)]
    #[sio(crate = "zato_core")]
    struct Back {
        id: String,
        total: Decimal,
        items: Vec<Item>,
        note: Option<String>,
    }
    let back: Back =
        zato_core::sio::decode_parts(zato_core::DataFormat::Xml, None, xml.as_bytes()).unwrap();
    assert_eq!(back.id, "1 < 2 & \"3\"");
    assert_eq!(back.total, "10.50".parse::<Decimal>().unwrap());
    assert_eq!(back.items.len(), 2);
    assert_eq!(back.items[1].qty, 2);
    // Read back as unset, not as an empty text.
    assert_eq!(back.note, None);
}

#[test]
fn soap_11_and_12_envelopes() {
    let s11 = encode(ReplyFormat::Soap(SoapVersion::V11));
    assert!(s11.contains(r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><invoice xmlns="urn:zato:invoice">"#), "{s11}");
    assert!(
        s11.ends_with("</invoice></soapenv:Body></soapenv:Envelope>"),
        "{s11}"
    );
    let s12 = encode(ReplyFormat::Soap(SoapVersion::V12));
    assert!(
        s12.contains(r#"xmlns:soapenv="http://www.w3.org/2003/05/soap-envelope""#),
        "{s12}"
    );
    assert_eq!(
        ReplyFormat::Soap(SoapVersion::V12).content_type(),
        "application/soap+xml; charset=utf-8"
    );
    assert_eq!(
        ReplyFormat::Soap(SoapVersion::V11).content_type(),
        "text/xml; charset=utf-8"
    );
}

#[derive(SimpleIo, Debug, Default)]
#[sio(crate = "zato_core", skip_empty_keys)]
struct Sparse {
    id: String,
    note: Option<String>,
    tags: Vec<String>,
    #[sio(force_empty)]
    status: Option<String>,
}

#[test]
fn skip_empty_keys_leaves_out_empty_outputs_unless_forced() {
    let mut buf = Vec::new();
    encode_output(
        &Sparse {
            id: "1".into(),
            ..Default::default()
        },
        ReplyFormat::Json,
        &mut buf,
    );
    assert_eq!(
        std::str::from_utf8(&buf).unwrap(),
        r#"{"id":"1","status":null}"#
    );
    buf.clear();
    encode_output(
        &Sparse {
            id: "1".into(),
            ..Default::default()
        },
        ReplyFormat::Xml,
        &mut buf,
    );
    assert!(
        std::str::from_utf8(&buf)
            .unwrap()
            .ends_with(r#"<response><id>1</id><status xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:nil="true"/></response>"#)
    );
}

#[test]
fn without_skip_empty_keys_empty_outputs_are_written() {
    let mut buf = Vec::new();
    let v = Out {
        note: None,
        items: vec![],
        ..out()
    };
    encode_output(&v, ReplyFormat::Json, &mut buf);
    let j: serde_json::Value = serde_json::from_slice(&buf).unwrap();
    assert_eq!(j["invoice"]["note"], serde_json::Value::Null);
    assert_eq!(j["invoice"]["items"], serde_json::json!([]));
}

#[test]
fn non_finite_floats_are_null_not_invalid_json() {
    #[derive(SimpleIo, Debug)]
    #[sio(crate = "zato_core")]
    struct F {
        x: f64,
    }
    let mut buf = Vec::new();
    encode_output(&F { x: f64::NAN }, ReplyFormat::Json, &mut buf);
    assert_eq!(buf, br#"{"x":null}"#);
}

#[test]
fn xml_output_replaces_characters_xml_cannot_carry() {
    // A caller's JSON may hold control characters; echoed into XML they must not break it.
    let mut buf = Vec::new();
    encode_output(
        &Item {
            sku: "a\u{1}b\u{FFFF}c\td".into(),
            qty: 1,
        },
        ReplyFormat::Xml,
        &mut buf,
    );
    let xml = String::from_utf8(buf).unwrap();
    assert!(xml.contains("<sku>a\u{FFFD}b\u{FFFD}c\td</sku>"), "{xml:?}");
    let back: Item =
        zato_core::sio::decode_parts(zato_core::DataFormat::Xml, None, xml.as_bytes()).unwrap();
    assert_eq!(back.qty, 1);
}

#[test]
fn secrets_in_an_output_are_written_as_stars() {
    #[derive(SimpleIo, Debug)]
    #[sio(crate = "zato_core")]
    struct Creds {
        user: String,
        password: zato_core::Secret,
    }
    let v = Creds {
        user: "crm".into(),
        password: "hunter2".into(),
    };
    for format in [
        ReplyFormat::Json,
        ReplyFormat::Xml,
        ReplyFormat::Soap(SoapVersion::V12),
    ] {
        let mut buf = Vec::new();
        encode_output(&v, format, &mut buf);
        let text = String::from_utf8(buf).unwrap();
        assert!(!text.contains("hunter2") && text.contains("***"), "{text}");
    }
}

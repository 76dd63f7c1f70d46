//! What decoding refuses rather than guesses: strict SOAP, bounded lists, no numbers as text,
//! duplicate keys, other charsets, hostile nesting, numbers too large for their type.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] functions panic on what would fail the test anyway"
)]

mod support;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use support::*;
use zato_core::sio::{Csv, ElementProblem, FaultCode, ReplyFormat, SioError, SoapVersion};
use zato_core::{Cid, DataFormat, ServiceError, render_error};
use zato_macros::SimpleIo;

#[derive(SimpleIo, Debug, PartialEq)]
#[sio(crate = "zato_core")]
struct Dispatch {
    id: String,
    target: Vec<String>,
}

fn soap_err(doc: &str) -> SioError {
    decode::<Dispatch>(&request(DataFormat::Soap, None, doc, None)).unwrap_err()
}

fn soap_fault(err: SioError, version: SoapVersion) -> String {
    let reply = render_error(&err.into(), ReplyFormat::Soap(version), Cid::new());
    assert_eq!(reply.status.as_u16(), 400);
    String::from_utf8(reply.body.to_vec()).unwrap()
}

const REQUEST: &str = "<d><id>1</id><target>CRM</target></d>";

#[test]
fn soap_with_two_bodies_or_two_request_elements_is_refused() {
    let two_bodies = format!(
        r#"<s:Envelope xmlns:s="{SOAP11}"><s:Body>{REQUEST}</s:Body><s:Body>{REQUEST}</s:Body></s:Envelope>"#
    );
    let e = soap_err(&two_bodies);
    assert!(e.to_string().contains("more than one Body"), "{e}");
    assert_eq!(e.status().as_u16(), 400);
    assert_eq!(e.fault_code(), FaultCode::Client);

    let e = soap_err(&soap_prefixed(SOAP12, &format!("{REQUEST}{REQUEST}")));
    assert!(e.to_string().contains("2 request elements"), "{e}");
    assert_eq!(e.status().as_u16(), 400);

    let two_headers = format!(
        r#"<s:Envelope xmlns:s="{SOAP11}"><s:Header/><s:Header/><s:Body>{REQUEST}</s:Body></s:Envelope>"#
    );
    assert!(
        soap_err(&two_headers)
            .to_string()
            .contains("more than one Header")
    );

    // One Body with one request element still works, in both versions.
    for ns in [SOAP11, SOAP12] {
        let raw = request(DataFormat::Soap, None, &soap_prefixed(ns, REQUEST), None);
        assert_eq!(decode::<Dispatch>(&raw).unwrap().target, ["CRM"]);
    }
}

#[test]
fn a_foreign_envelope_namespace_is_a_version_mismatch_fault() {
    let doc =
        format!(r#"<s:Envelope xmlns:s="urn:soap-2.0"><s:Body>{REQUEST}</s:Body></s:Envelope>"#);
    let raw = request(DataFormat::Soap, None, &doc, Some("text/xml"));
    let (result, reply) = decode_reply::<Dispatch>(&raw);
    let e = result.unwrap_err();
    assert!(matches!(e, SioError::SoapVersionMismatch { .. }), "{e:?}");
    assert!(e.to_string().contains("urn:soap-2.0"), "{e}");
    assert_eq!(e.fault_code(), FaultCode::VersionMismatch);
    assert_eq!(
        ServiceError::from(e.clone()).fault_code(),
        FaultCode::VersionMismatch
    );
    assert_eq!(reply, ReplyFormat::Soap(SoapVersion::V11));
    let f11 = soap_fault(e.clone(), SoapVersion::V11);
    assert!(
        f11.contains("<faultcode>soapenv:VersionMismatch</faultcode>"),
        "{f11}"
    );
    let f12 = soap_fault(e, SoapVersion::V12);
    assert!(
        f12.contains("<soapenv:Value>soapenv:VersionMismatch</soapenv:Value>"),
        "{f12}"
    );
}

fn with_header(ns: &str, header: &str) -> String {
    format!(
        r#"<s:Envelope xmlns:s="{ns}"><s:Header>{header}</s:Header><s:Body>{REQUEST}</s:Body></s:Envelope>"#
    )
}

#[test]
fn must_understand_headers_we_do_not_understand_are_a_must_understand_fault() {
    for (ns, value) in [
        (SOAP11, "1"),
        (SOAP12, "true"),
        (SOAP12, "1"),
        (SOAP12, " true "),
    ] {
        let doc = with_header(
            ns,
            &format!(r#"<t:Tx xmlns:t="urn:tx" s:mustUnderstand="{value}">42</t:Tx>"#),
        );
        let e = soap_err(&doc);
        assert!(
            matches!(&e, SioError::SoapMustUnderstand { header } if header == "Tx"),
            "{e:?}"
        );
        assert_eq!(e.fault_code(), FaultCode::MustUnderstand);
        let version = if ns == SOAP11 {
            SoapVersion::V11
        } else {
            SoapVersion::V12
        };
        let fault = soap_fault(e, version);
        assert!(fault.contains("soapenv:MustUnderstand<"), "{fault}");
    }
    // Addressed to the next node (us) explicitly.
    let next = with_header(
        SOAP12,
        r#"<t:Tx xmlns:t="urn:tx" s:mustUnderstand="true" s:role="http://www.w3.org/2003/05/soap-envelope/role/next"/>"#,
    );
    assert!(matches!(
        soap_err(&next),
        SioError::SoapMustUnderstand { .. }
    ));
}

#[test]
fn headers_we_may_ignore_are_ignored() {
    let cases = [
        (
            SOAP11,
            r#"<t:Tx xmlns:t="urn:tx" s:mustUnderstand="0">42</t:Tx>"#,
        ),
        (
            SOAP12,
            r#"<t:Tx xmlns:t="urn:tx" s:mustUnderstand="false"/>"#,
        ),
        (SOAP12, r#"<t:Tx xmlns:t="urn:tx">42</t:Tx>"#),
        // Not in the SOAP namespace, so not SOAP's mustUnderstand.
        (SOAP11, r#"<t:Tx xmlns:t="urn:tx" mustUnderstand="1"/>"#),
        // Addressed to another node.
        (
            SOAP11,
            r#"<t:Tx xmlns:t="urn:tx" s:mustUnderstand="1" s:actor="urn:other"/>"#,
        ),
        (
            SOAP12,
            r#"<t:Tx xmlns:t="urn:tx" s:mustUnderstand="true" s:role="http://www.w3.org/2003/05/soap-envelope/role/none"/>"#,
        ),
    ];
    for (ns, header) in cases {
        let raw = request(DataFormat::Soap, None, &with_header(ns, header), None);
        assert_eq!(decode::<Dispatch>(&raw).unwrap().id, "1", "{header}");
    }
}

#[derive(SimpleIo, Debug, PartialEq)]
#[sio(crate = "zato_core")]
struct Capped {
    #[sio(max_items = 3)]
    target: Vec<String>,
    #[sio(max_items = 2)]
    codes: Csv<u16>,
    #[sio(default)]
    tags: Vec<String>,
    #[sio(max_items = 2, default)]
    lines: Vec<Line>,
}

#[derive(SimpleIo, Debug, PartialEq, Default)]
#[sio(crate = "zato_core")]
struct Line {
    notes: Vec<String>,
}

fn too_many(err: &SioError) -> Vec<(String, usize)> {
    err.element_errors()
        .iter()
        .map(|e| match e.problem {
            ElementProblem::TooManyItems { limit } => (e.element.clone(), limit),
            _ => panic!("{err}"),
        })
        .collect()
}

#[test]
fn a_field_caps_its_list_in_every_format() {
    let raw = request(
        DataFormat::Json,
        Some("target=a&target=b&target=c&target=d&codes=1,2,3"),
        "",
        None,
    );
    let e = decode::<Capped>(&raw).unwrap_err();
    assert_eq!(too_many(&e), [("target".into(), 3), ("codes".into(), 2)]);
    assert_eq!(e.status().as_u16(), 400);
    assert!(
        e.to_string().contains("`target` has more than 3 items"),
        "{e}"
    );

    let json = r#"{"target":["a","b","c","d"],"codes":"1,2"}"#;
    let e = decode::<Capped>(&request(DataFormat::Json, None, json, None)).unwrap_err();
    assert_eq!(too_many(&e), [("target".into(), 3)]);

    let xml = "<r><target>a</target><target>b</target><target>c</target><target>d</target>\
               <codes>1</codes></r>";
    let e = decode::<Capped>(&request(DataFormat::Xml, None, xml, None)).unwrap_err();
    assert_eq!(too_many(&e), [("target".into(), 3)]);

    // At the bound is fine.
    let raw = request(
        DataFormat::Json,
        Some("target=a&target=b&target=c&codes=1,2"),
        "",
        None,
    );
    assert_eq!(decode::<Capped>(&raw).unwrap().target, ["a", "b", "c"]);

    // The error body names the element and the bound.
    let reply = render_error(&e.into(), ReplyFormat::Json, Cid::new());
    let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(body["elements"][0]["name"], "target");
    assert_eq!(body["elements"][0]["problem"], "too_many_items");
    assert_eq!(body["elements"][0]["limit"], 3);
}

#[test]
fn lists_without_their_own_bound_take_the_channels() {
    let query: String = (0..=zato_core::sio::DEFAULT_MAX_ITEMS)
        .map(|i| format!("tags={i}&"))
        .collect();
    let raw = request(
        DataFormat::Json,
        Some(&format!("{query}target=a&codes=1")),
        "",
        None,
    );
    let e = decode::<Capped>(&raw).unwrap_err();
    assert_eq!(too_many(&e), [("tags".into(), 1_000)]);

    // A channel sets its own bound; a list nested in a capped list keeps the channel's.
    let body = r#"{"target":"a","codes":"1","tags":["1","2","3"],
                   "lines":[{"notes":["x","y","z"]}]}"#;
    let mut raw = request(DataFormat::Json, None, body, None);
    raw.channel = std::sync::Arc::new((*raw.channel).clone().with_max_items(2));
    let e = decode::<Capped>(&raw).unwrap_err();
    assert_eq!(
        too_many(&e),
        [("tags".into(), 2), ("lines[0].notes".into(), 2)]
    );
}

#[derive(SimpleIo, Debug, PartialEq)]
#[sio(crate = "zato_core")]
struct Texts {
    name: String,
    note: Option<String>,
    target: Vec<String>,
}

#[test]
fn json_numbers_and_booleans_are_not_text() {
    let cases = [
        (r#"{"name":5,"target":["a"]}"#, "name", "number 5"),
        (
            r#"{"name":"n","note":true,"target":["a"]}"#,
            "note",
            "boolean true",
        ),
        (
            r#"{"name":"n","target":["CRM",42]}"#,
            "target[1]",
            "number 42",
        ),
        (
            r#"{"name":"n","target":1.5e3}"#,
            "target[0]",
            "number 1.5e3",
        ),
    ];
    for (body, element, got) in cases {
        let e = decode::<Texts>(&request(DataFormat::Json, None, body, None)).unwrap_err();
        let errors = e.element_errors();
        assert_eq!(errors.len(), 1, "{body}: {e}");
        assert_eq!(errors[0].element, element);
        assert_eq!(
            errors[0].problem,
            ElementProblem::WrongType {
                expected: "text",
                got: got.into()
            }
        );
        assert_eq!(e.status().as_u16(), 400);
    }
    // A query string is text, digits included; JSON strings and null stay fine.
    let raw = request(DataFormat::Json, Some("name=5&target=42"), "", None);
    assert_eq!(decode::<Texts>(&raw).unwrap().name, "5");
    let body = r#"{"name":"5","note":null,"target":["42"]}"#;
    assert!(decode::<Texts>(&request(DataFormat::Json, None, body, None)).is_ok());
}

#[test]
fn an_empty_body_names_every_missing_element() {
    for format in [DataFormat::Json, DataFormat::Xml, DataFormat::Form] {
        for body in ["", "  \n"] {
            let e = decode::<Texts>(&request(format, None, body, None)).unwrap_err();
            let missing: Vec<&str> = e.element_errors().iter().map(|e| &*e.element).collect();
            assert_eq!(missing, ["name", "target"], "{format:?}");
            assert_eq!(e.status().as_u16(), 400);
        }
    }
}

#[test]
fn charsets_other_than_utf8_are_415() {
    for ct in [
        "application/json; charset=iso-8859-1",
        "application/json;charset=UTF-16",
        "text/plain; charset=\"windows-1252\"",
    ] {
        let raw = request(
            DataFormat::Json,
            None,
            r#"{"id":"1","target":"a"}"#,
            Some(ct),
        );
        let e = decode::<Dispatch>(&raw).unwrap_err();
        assert!(
            matches!(e, SioError::UnsupportedCharset { .. }),
            "{ct}: {e:?}"
        );
        assert_eq!(e.status().as_u16(), 415, "{ct}");
        let named = ct.rsplit('=').next().unwrap().trim_matches('"');
        assert!(e.to_string().contains(named), "{e}");
    }
    for ct in [
        "application/json; charset=utf-8",
        "application/json; charset=UTF8",
        "application/json; charset=\"utf-8\"",
        "application/json; charset=us-ascii",
        "application/json",
    ] {
        let raw = request(
            DataFormat::Json,
            None,
            r#"{"id":"1","target":"a"}"#,
            Some(ct),
        );
        assert!(decode::<Dispatch>(&raw).is_ok(), "{ct}");
    }
    let latin1 = format!(r#"<?xml version="1.0" encoding="ISO-8859-1"?>{REQUEST}"#);
    let e = decode::<Dispatch>(&request(DataFormat::Xml, None, &latin1, None)).unwrap_err();
    assert!(matches!(&e, SioError::UnsupportedCharset { charset } if charset == "ISO-8859-1"));
    assert_eq!(e.status().as_u16(), 415);
    let utf8 = format!(r#"<?xml version="1.0" encoding="UTF-8"?>{REQUEST}"#);
    assert!(decode::<Dispatch>(&request(DataFormat::Xml, None, &utf8, None)).is_ok());
}

#[test]
fn deep_nesting_is_400_not_a_stack_overflow() {
    let depth = 100_000;
    let deep_json = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    for body in [
        format!(r#"{{"id":"1","target":"a","ignored":{deep_json}}}"#),
        format!(r#"{{"id":"1","target":{deep_json}}}"#),
        deep_json.clone(),
    ] {
        let e = decode::<Dispatch>(&request(DataFormat::Json, None, &body, None)).unwrap_err();
        assert!(matches!(e, SioError::JsonLimit { .. }), "{e:?}");
        assert_eq!(e.status().as_u16(), 400);
    }
    // Brackets inside strings are text.
    let body = format!(r#"{{"id":"{}","target":"a"}}"#, "[".repeat(1_000));
    assert!(decode::<Dispatch>(&request(DataFormat::Json, None, &body, None)).is_ok());

    let deep_xml = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
    for (format, doc) in [
        (DataFormat::Xml, deep_xml.clone()),
        (DataFormat::Soap, soap_prefixed(SOAP11, &deep_xml)),
    ] {
        let e = decode::<Dispatch>(&request(format, None, &doc, None)).unwrap_err();
        assert!(matches!(e, SioError::XmlLimit { .. }), "{e:?}");
    }
}

#[test]
fn doctype_in_soap_is_refused() {
    let doc = format!(
        r#"<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x SYSTEM "http://127.0.0.1:1/x">]>{}"#,
        soap_prefixed(SOAP11, "<d><id>&x;</id></d>").trim_start_matches(r#"<?xml version="1.0"?>"#)
    );
    let e = soap_err(&doc);
    assert!(e.to_string().contains("DOCTYPE is not allowed"), "{e}");
    assert_eq!(e.status().as_u16(), 400);
}

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Numbers {
    int: Option<i64>,
    unsigned: Option<u64>,
    float: Option<f64>,
    amount: Option<Decimal>,
    day: Option<NaiveDate>,
}

#[test]
fn numbers_too_large_for_their_type_are_400_naming_the_element() {
    let digits = "9".repeat(500);
    for (element, value) in [
        ("int", digits.as_str()),
        ("int", "1e400"),
        ("unsigned", digits.as_str()),
        ("float", "1e400"),
        ("float", "-1e400"),
        ("float", digits.as_str()),
        ("amount", "1e400"),
        ("amount", digits.as_str()),
        ("amount", "1e-400"),
    ] {
        for raw in [
            request(
                DataFormat::Json,
                None,
                &format!(r#"{{"{element}":{value}}}"#),
                None,
            ),
            request(
                DataFormat::Json,
                Some(&format!("{element}={value}")),
                "",
                None,
            ),
            request(
                DataFormat::Xml,
                None,
                &format!("<r><{element}>{value}</{element}></r>"),
                None,
            ),
        ] {
            let e = decode::<Numbers>(&raw).unwrap_err();
            let errors = e.element_errors();
            assert_eq!(errors.len(), 1, "{element}={value}: {e}");
            assert_eq!(errors[0].element, element);
            assert_eq!(e.status().as_u16(), 400);
        }
    }
    // Within range, a long number is fine: a float rounds.
    let long = format!("1{}", "0".repeat(300));
    let raw = request(
        DataFormat::Json,
        None,
        &format!(r#"{{"float":{long}}}"#),
        None,
    );
    assert_eq!(decode::<Numbers>(&raw).unwrap().float, Some(1e300));
}

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core", request_elem = "request")]
struct Order {
    id: String,
    customer: Option<Customer>,
    lines: Option<Vec<Customer>>,
}

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Customer {
    name: String,
}

#[test]
fn duplicate_json_keys_are_refused_naming_the_key() {
    let e = decode::<Order>(&request(
        DataFormat::Json,
        None,
        r#"{"id":"1","id":"2"}"#,
        None,
    ))
    .unwrap_err();
    let SioError::MalformedJson {
        message,
        line,
        column,
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(message, "duplicate key `id`");
    assert_eq!((*line, *column), (1, 16));
    assert_eq!(e.status().as_u16(), 400);

    let wrapped = r#"{"request":{"id":"1","id":"2"}}"#;
    let e = decode::<Order>(&request(DataFormat::Json, None, wrapped, None)).unwrap_err();
    assert!(e.to_string().contains("duplicate key `id`"), "{e}");

    let nested = r#"{"id":"1","customer":{"name":"a","name":"b"},
                     "lines":[{"name":"x"},{"name":"y","name":"z"}]}"#;
    let e = decode::<Order>(&request(DataFormat::Json, None, nested, None)).unwrap_err();
    let seen: Vec<(&str, &ElementProblem)> = e
        .element_errors()
        .iter()
        .map(|e| (&*e.element, &e.problem))
        .collect();
    let dup = ElementProblem::DuplicateKey { key: "name".into() };
    assert_eq!(seen, [("customer", &dup), ("lines[1]", &dup)]);

    // Many keys: the check goes through a set, and still finds the one repeated.
    let mut many: String = (0..500).map(|i| format!(r#""k{i}":1,"#)).collect();
    many.push_str(r#""k7":2,"id":"1"}"#);
    let e =
        decode::<Order>(&request(DataFormat::Json, None, &format!("{{{many}"), None)).unwrap_err();
    assert!(e.to_string().contains("duplicate key `k7`"), "{e}");
}

#[test]
fn invalid_utf8_after_percent_decoding_is_400() {
    let raw = request(DataFormat::Json, Some("id=%FF&target=a"), "", None);
    let e = decode::<Dispatch>(&raw).unwrap_err();
    assert!(
        matches!(
            e,
            SioError::InvalidUtf8 {
                part: "query string"
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.status().as_u16(), 400);
    let raw = request(DataFormat::Form, None, "id=1&target=%C3", None);
    assert!(matches!(
        decode::<Dispatch>(&raw).unwrap_err(),
        SioError::InvalidUtf8 { part: "form body" }
    ));
    let mut raw = request(DataFormat::Form, None, "", None);
    raw.body = bytes::Bytes::from_static(b"id=\xff&target=a");
    assert!(matches!(
        decode::<Dispatch>(&raw).unwrap_err(),
        SioError::InvalidUtf8 { .. }
    ));
    // Percent-encoded UTF-8 is fine.
    let raw = request(DataFormat::Json, Some("id=%C3%A9&target=a"), "", None);
    assert_eq!(decode::<Dispatch>(&raw).unwrap().id, "é");
}

//! Every kind of input error: what it says, and the status it maps to.

mod support;

use support::*;
use zato_core::sio::{ElementProblem, SioError};
use zato_core::{DataFormat, ServiceError};
use zato_macros::SimpleIo;

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Invoice {
    id: String,
    amount: u64,
    target: Vec<String>,
    lines: Vec<Line>,
    note: Option<String>,
}

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Line {
    qty: u32,
}

fn status(err: SioError) -> u16 {
    ServiceError::from(err).status().as_u16()
}

#[test]
fn every_missing_element_is_listed_at_once() {
    let raw = request(DataFormat::Json, None, "{}", None);
    let err = decode::<Invoice>(&raw).unwrap_err();
    let missing: Vec<&str> = err
        .element_errors()
        .iter()
        .filter(|e| e.problem == ElementProblem::Missing)
        .map(|e| &*e.element)
        .collect();
    assert_eq!(missing, ["id", "amount", "target", "lines"]);
    assert_eq!(status(err), 400);
}

#[test]
fn wrong_types_name_element_expected_type_and_a_truncated_value() {
    let long = "x".repeat(500);
    let body = format!(
        r#"{{"id":"1","amount":"{long}","target":["a"],"lines":[{{"qty":1}},{{"qty":"many"}},{{}}]}}"#
    );
    let raw = request(DataFormat::Json, None, &body, None);
    let err = decode::<Invoice>(&raw).unwrap_err();
    let errors = err.element_errors();
    assert_eq!(errors.len(), 3, "{err}");
    assert_eq!(errors[0].element, "amount");
    let ElementProblem::WrongType { expected, got } = &errors[0].problem else {
        panic!("{err}")
    };
    assert_eq!(*expected, "unsigned integer");
    assert!(got.chars().count() <= 65 && got.ends_with('…'), "{got}");
    assert_eq!(errors[1].element, "lines[1].qty");
    assert_eq!(errors[2].element, "lines[2].qty");
    assert_eq!(errors[2].problem, ElementProblem::Missing);
    assert_eq!(status(err), 400);
}

#[test]
fn malformed_json_reports_the_parser_position() {
    let raw = request(
        DataFormat::Json,
        None,
        "{\n  \"id\": \"1\",\n  \"amount\": }",
        None,
    );
    let err = decode::<Invoice>(&raw).unwrap_err();
    let SioError::MalformedJson {
        line,
        column,
        message,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((*line, *column), (3, 13), "{message}");
    assert!(!message.contains(" at line "), "{message}");
    assert_eq!(status(err), 400);
}

#[test]
fn json_that_is_not_an_object_is_refused() {
    for body in ["[1,2]", "\"text\"", "42"] {
        let raw = request(DataFormat::Json, None, body, None);
        let err = decode::<Invoice>(&raw).unwrap_err();
        assert!(
            matches!(err, SioError::UnexpectedDocument(_)),
            "{body}: {err:?}"
        );
        assert_eq!(status(err), 400);
    }
    let raw = request(DataFormat::Json, None, "nonsense", None);
    assert!(matches!(
        decode::<Invoice>(&raw).unwrap_err(),
        SioError::MalformedJson { .. }
    ));
}

#[test]
fn invalid_utf8_is_malformed_not_a_panic() {
    let mut raw = request(DataFormat::Json, None, "", None);
    raw.body = bytes::Bytes::from_static(b"{\"id\":\"\xff\"}");
    assert!(matches!(
        decode::<Invoice>(&raw).unwrap_err(),
        SioError::MalformedJson { .. }
    ));
    raw = request(DataFormat::Xml, None, "", None);
    raw.body = bytes::Bytes::from_static(b"<r>\xff</r>");
    assert!(matches!(
        decode::<Invoice>(&raw).unwrap_err(),
        SioError::MalformedXml { .. }
    ));
}

#[test]
fn malformed_xml_reports_the_parser_position() {
    let raw = request(
        DataFormat::Xml,
        None,
        "<r>\n  <id>1</id>\n  <amount>2</amont>\n</r>",
        None,
    );
    let err = decode::<Invoice>(&raw).unwrap_err();
    let SioError::MalformedXml { line, message, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*line, 3, "{message}");
    assert_eq!(status(err), 400);
}

#[test]
fn unsupported_media_type_is_415() {
    let raw = request(DataFormat::Json, None, "<r/>", Some("application/xml"));
    let err = decode::<Invoice>(&raw).unwrap_err();
    assert!(matches!(err, SioError::UnsupportedMediaType { .. }));
    assert_eq!(status(err), 415);
}

#[test]
fn soap_problems_are_the_callers() {
    let cases = [
        ("<r><id>1</id></r>".to_owned(), "expected a SOAP Envelope"),
        (
            r#"<s:Envelope xmlns:s="urn:not-soap"><s:Body/></s:Envelope>"#.to_owned(),
            "unknown envelope namespace",
        ),
        (
            format!(r#"<s:Envelope xmlns:s="{SOAP11}"><s:Header/></s:Envelope>"#),
            "no Body",
        ),
        (String::new(), "no root element"),
    ];
    for (doc, needle) in cases {
        let raw = request(DataFormat::Soap, None, &doc, None);
        let err = decode::<Invoice>(&raw).unwrap_err();
        assert!(err.to_string().contains(needle), "{doc}: {err}");
        assert_eq!(status(err), 400);
    }
}

#[test]
fn a_soap_body_without_a_request_element_means_every_element_is_missing() {
    let raw = request(DataFormat::Soap, None, &soap_prefixed(SOAP11, ""), None);
    let err = decode::<Invoice>(&raw).unwrap_err();
    assert_eq!(err.element_errors().len(), 4);
}

#[test]
fn scalar_where_list_of_objects_expected_and_list_where_scalar_expected() {
    let raw = request(
        DataFormat::Json,
        Some("id=1&id=2"),
        r#"{"amount":[1],"target":"a","lines":{"qty":1}}"#,
        None,
    );
    let err = decode::<Invoice>(&raw).unwrap_err();
    let names: Vec<&str> = err.element_errors().iter().map(|e| &*e.element).collect();
    // `lines` as a single object is a list of one.
    assert_eq!(names, ["id", "amount"], "{err}");
}

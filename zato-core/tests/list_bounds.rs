//! A field's own bounds on its list, `#[sio(min_items = N, max_items = M)]`: fewer items than
//! the minimum is the caller's fault in every format, answered like every other element error.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] functions panic on what would fail the test anyway"
)]

mod support;

use support::*;
use zato_core::sio::{
    Csv, ElementProblem, ReplyFormat, SioError, SioObject, SoapVersion, TypeDesc,
};
use zato_core::{Cid, DataFormat, render_error};
use zato_macros::SimpleIo;

#[derive(SimpleIo, Debug, PartialEq)]
#[sio(crate = "zato_core")]
struct Bounded {
    #[sio(min_items = 2, max_items = 3)]
    target: Vec<String>,
    #[sio(min_items = 2, default)]
    codes: Csv<u16>,
    #[sio(min_items = 1)]
    tags: Option<Vec<String>>,
    #[sio(min_items = 1, default)]
    lines: Vec<Line>,
}

#[derive(SimpleIo, Debug, PartialEq, Default)]
#[sio(crate = "zato_core")]
struct Line {
    notes: Vec<String>,
}

/// Each element refused for too few items, with its minimum and what came.
fn too_few(err: &SioError) -> Vec<(String, usize, usize)> {
    err.element_errors()
        .iter()
        .map(|e| match e.problem {
            ElementProblem::TooFewItems { minimum, got } => (e.element.clone(), minimum, got),
            _ => panic!("{err}"),
        })
        .collect()
}

fn refused(format: DataFormat, query: Option<&str>, body: &str) -> SioError {
    decode::<Bounded>(&request(format, query, body, None)).unwrap_err()
}

#[test]
fn too_few_items_in_the_query_string_or_a_form() {
    let e = refused(DataFormat::Json, Some("target=a&codes=1&tags=x"), "");
    assert_eq!(
        too_few(&e),
        [("target".into(), 2, 1), ("codes".into(), 2, 1)]
    );
    assert_eq!(e.status().as_u16(), 400);
    assert_eq!(
        e.to_string(),
        "invalid input: element `target` needs at least 2 items, got 1; \
         element `codes` needs at least 2 items, got 1"
    );
    let e = refused(DataFormat::Form, None, "target=a&codes=1,2");
    assert_eq!(too_few(&e), [("target".into(), 2, 1)]);
    // At the minimum, and at the most, is fine.
    let raw = request(
        DataFormat::Json,
        Some("target=a&target=b&codes=1,2"),
        "",
        None,
    );
    assert_eq!(decode::<Bounded>(&raw).unwrap().target, ["a", "b"]);
    let raw = request(
        DataFormat::Json,
        Some("target=a&target=b&target=c&target=d"),
        "",
        None,
    );
    let e = decode::<Bounded>(&raw).unwrap_err();
    assert_eq!(
        e.element_errors()[0].problem,
        ElementProblem::TooManyItems { limit: 3 }
    );
}

#[test]
fn too_few_items_in_json() {
    let e = refused(
        DataFormat::Json,
        None,
        r#"{"target":[],"codes":"","tags":[]}"#,
    );
    assert_eq!(
        too_few(&e),
        [
            ("target".into(), 2, 0),
            ("codes".into(), 2, 0),
            ("tags".into(), 1, 0)
        ]
    );
    // A single value where a list is declared is a list of one.
    let e = refused(DataFormat::Json, None, r#"{"target":"a"}"#);
    assert_eq!(too_few(&e), [("target".into(), 2, 1)]);
    // Each field's minimum is its own list's: a list nested in one, or the next field, takes
    // any number; an optional list left out, or null, is not held to it.
    let ok = r#"{"target":["a","b"],"tags":null,"lines":[{"notes":[]}]}"#;
    let v = decode::<Bounded>(&request(DataFormat::Json, None, ok, None)).unwrap();
    assert_eq!(v.lines, [Line { notes: vec![] }]);
    assert_eq!((v.tags, v.codes), (None, Csv(vec![])));
    let e = refused(DataFormat::Json, None, r#"{"target":["a","b"],"lines":[]}"#);
    assert_eq!(too_few(&e), [("lines".into(), 1, 0)]);
}

#[test]
fn too_few_items_in_xml_and_soap() {
    let xml = "<r><target>a</target><codes>7</codes></r>";
    let e = refused(DataFormat::Xml, None, xml);
    assert_eq!(
        too_few(&e),
        [("target".into(), 2, 1), ("codes".into(), 2, 1)]
    );
    // In XML an empty list is no element at all: a required one is missing.
    let e = refused(DataFormat::Xml, None, "<r/>");
    assert_eq!(e.element_errors()[0].problem, ElementProblem::Missing);
    for ns in [SOAP11, SOAP12] {
        let doc = soap_prefixed(ns, "<r><target>a</target></r>");
        let e = refused(DataFormat::Soap, None, &doc);
        assert_eq!(too_few(&e), [("target".into(), 2, 1)], "{ns}");
    }
    let ok = "<r><target>a</target><target>b</target><lines><notes>x</notes></lines></r>";
    let v = decode::<Bounded>(&request(DataFormat::Xml, None, ok, None)).unwrap();
    assert_eq!(v.lines[0].notes, ["x"]);
}

#[test]
fn the_error_body_names_the_element_and_the_minimum_in_every_format() {
    let e = refused(DataFormat::Json, Some("target=a&codes=1,2"), "");
    let reply = render_error(&e.clone().into(), ReplyFormat::Json, Cid::new());
    assert_eq!(reply.status.as_u16(), 400);
    let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(body["code"], "invalid_input");
    assert_eq!(
        body["elements"],
        serde_json::json!([{"name": "target", "problem": "too_few_items", "minimum": 2}])
    );
    let element = "<element><name>target</name><problem>too_few_items</problem>\
                   <minimum>2</minimum></element>";
    for format in [
        ReplyFormat::Xml,
        ReplyFormat::Soap(SoapVersion::V11),
        ReplyFormat::Soap(SoapVersion::V12),
    ] {
        let reply = render_error(&e.clone().into(), format, Cid::new());
        assert_eq!(reply.status.as_u16(), 400);
        let body = String::from_utf8(reply.body.to_vec()).unwrap();
        assert!(body.contains(element), "{format:?}: {body}");
        assert!(
            body.contains("element `target` needs at least 2 items, got 1"),
            "{format:?}: {body}"
        );
    }
}

#[test]
fn the_bounds_are_in_the_elements_description() {
    let elements = Bounded::elements();
    /// An element's name, and its list's fewest and most items if it is a list.
    type Bounds<'e> = (&'e str, Option<(usize, Option<usize>)>);
    let bounds: Vec<Bounds<'_>> = elements
        .iter()
        .map(|e| match &e.ty {
            TypeDesc::List {
                min_items,
                max_items,
                ..
            } => (e.name, Some((*min_items, *max_items))),
            _ => (e.name, None),
        })
        .collect();
    assert_eq!(
        bounds,
        [
            ("target", Some((2, Some(3)))),
            // A Csv is text on the wire: checked against its bounds, described as text.
            ("codes", None),
            ("tags", Some((1, None))),
            ("lines", Some((1, None))),
        ]
    );
    // The nested list has no bounds of its own.
    let TypeDesc::List { item, .. } = &elements[3].ty else {
        panic!("{elements:?}")
    };
    let TypeDesc::Object(inner) = item.as_ref() else {
        panic!("{item:?}")
    };
    assert_eq!(inner[0].ty, TypeDesc::list(TypeDesc::Text));
    let listed = serde_json::to_value(&elements[0]).unwrap();
    assert_eq!(
        listed["type"],
        serde_json::json!({"list": {"item": {"scalar": "text"}, "min_items": 2, "max_items": 3}})
    );
}

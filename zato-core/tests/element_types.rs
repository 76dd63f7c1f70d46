//! Every element type, from every input format, decodes to the same value.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] functions panic on what would fail the test anyway"
)]

mod support;

use chrono::{DateTime, FixedOffset, NaiveDate};
use rust_decimal::Decimal;
use support::*;
use uuid::Uuid;
use zato_core::DataFormat;
use zato_core::sio::{Csv, ElementProblem, Raw, RawKind, Secret, SioError};
use zato_macros::SimpleIo;

#[derive(SimpleIo, Debug, PartialEq)]
#[sio(crate = "zato_core")]
struct AllTypes {
    text: String,
    int: i64,
    small: i8,
    unsigned: u32,
    float: f64,
    flag: bool,
    amount: Decimal,
    day: NaiveDate,
    at: DateTime<FixedOffset>,
    id: Uuid,
    tags: Vec<String>,
    codes: Csv<u16>,
    note: Option<String>,
    absent: Option<i32>,
    password: Secret,
}

const UUID: &str = "6f1c1a52-9d3e-4a4f-8f0b-2c6a1e0d9b7e";

fn expected() -> AllTypes {
    AllTypes {
        text: "hello world".into(),
        int: -42,
        small: 7,
        unsigned: 42,
        float: 2.5,
        flag: true,
        amount: "10.25".parse().unwrap(),
        day: NaiveDate::from_ymd_opt(2026, 11, 28).unwrap(),
        at: DateTime::parse_from_rfc3339("2026-11-28T10:00:00+01:00").unwrap(),
        id: Uuid::parse_str(UUID).unwrap(),
        tags: vec!["a".into(), "b".into()],
        codes: Csv(vec![1, 2, 3]),
        note: Some("n".into()),
        absent: None,
        password: Secret::new("s3cret".into()),
    }
}

fn urlencoded() -> String {
    format!(
        "text=hello%20world&int=-42&small=7&unsigned=42&float=2.5&flag=yes&amount=10.25\
         &day=2026-11-28&at=2026-11-28T10:00:00%2B01:00&id={UUID}&tags=a&tags=b&codes=1,2,3\
         &note=n&password=s3cret"
    )
}

fn xml_fields() -> String {
    format!(
        "<text>hello world</text><int>-42</int><small>7</small><unsigned>42</unsigned>\
         <float>2.5</float><flag>on</flag><amount>10.25</amount><day>2026-11-28</day>\
         <at>2026-11-28T10:00:00+01:00</at><id>{UUID}</id><tags>a</tags><tags>b</tags>\
         <codes>1, 2, 3</codes><note>n</note><password>s3cret</password>"
    )
}

#[test]
fn from_query_string() {
    let raw = request(DataFormat::Json, Some(&urlencoded()), "", None);
    assert_eq!(decode::<AllTypes>(&raw).unwrap(), expected());
}

#[test]
fn from_form_body() {
    let raw = request(DataFormat::Form, None, &urlencoded(), None);
    assert_eq!(decode::<AllTypes>(&raw).unwrap(), expected());
}

#[test]
fn from_path_params() {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(urlencoded().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .filter(|(k, _)| k != "tags")
        .collect();
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (&**k, &**v)).collect();
    let raw = request_with(
        DataFormat::Json,
        Default::default(),
        None,
        &borrowed,
        r#"{"tags":["a","b"]}"#,
        None,
    );
    assert_eq!(decode::<AllTypes>(&raw).unwrap(), expected());
}

#[test]
fn from_json_with_native_types() {
    let body = format!(
        r#"{{"text":"hello world","int":-42,"small":7,"unsigned":42,"float":2.5,"flag":true,
            "amount":10.25,"day":"2026-11-28","at":"2026-11-28T10:00:00+01:00","id":"{UUID}",
            "tags":["a","b"],"codes":"1,2,3","note":"n","absent":null,"password":"s3cret"}}"#
    );
    let raw = request(DataFormat::Json, None, &body, Some("application/json"));
    assert_eq!(decode::<AllTypes>(&raw).unwrap(), expected());
}

#[test]
fn from_json_with_everything_as_strings() {
    let body = format!(
        r#"{{"text":"hello world","int":"-42","small":"7","unsigned":"42","float":"2.5","flag":"1",
            "amount":"10.25","day":"2026-11-28","at":"2026-11-28T10:00:00+01:00","id":"{UUID}",
            "tags":"a","codes":"1,2,3","note":"n","password":"s3cret"}}"#
    );
    let raw = request(DataFormat::Json, Some("tags=a&tags=b"), &body, None);
    assert_eq!(decode::<AllTypes>(&raw).unwrap(), expected());
}

#[test]
fn from_xml() {
    let raw = request(
        DataFormat::Xml,
        None,
        &format!("<req>{}</req>", xml_fields()),
        None,
    );
    assert_eq!(decode::<AllTypes>(&raw).unwrap(), expected());
}

#[test]
fn from_soap_11_and_12() {
    for ns in [SOAP11, SOAP12] {
        let body = format!(r#"<m:req xmlns:m="urn:m">{}</m:req>"#, xml_fields());
        let raw = request(DataFormat::Soap, None, &soap_prefixed(ns, &body), None);
        assert_eq!(decode::<AllTypes>(&raw).unwrap(), expected(), "{ns}");
    }
}

#[derive(SimpleIo, Debug, PartialEq)]
#[sio(crate = "zato_core")]
struct Flag {
    flag: bool,
}

#[test]
fn booleans_accept_every_documented_spelling() {
    for (text, value) in [
        ("true", true),
        ("TRUE", true),
        ("1", true),
        ("yes", true),
        ("On", true),
        ("false", false),
        ("0", false),
        ("no", false),
        ("OFF", false),
        ("False", false),
    ] {
        let raw = request(DataFormat::Json, Some(&format!("flag={text}")), "", None);
        assert_eq!(
            decode::<Flag>(&raw).unwrap(),
            Flag { flag: value },
            "{text}"
        );
    }
    let raw = request(DataFormat::Json, Some("flag=maybe"), "", None);
    let err = decode::<Flag>(&raw).unwrap_err();
    assert_eq!(err.element_errors()[0].element, "flag");
}

#[derive(SimpleIo, Debug, PartialEq)]
#[sio(crate = "zato_core")]
struct Line {
    sku: String,
    qty: u32,
}

#[derive(SimpleIo, Debug, PartialEq)]
#[sio(crate = "zato_core")]
struct Customer {
    name: String,
    vip: Option<bool>,
}

#[derive(SimpleIo, Debug, PartialEq)]
#[sio(crate = "zato_core")]
struct Order {
    customer: Customer,
    lines: Vec<Line>,
    extra: Raw,
}

fn order(extra: Raw) -> Order {
    Order {
        customer: Customer {
            name: "ACME".into(),
            vip: Some(true),
        },
        lines: vec![
            Line {
                sku: "A-1".into(),
                qty: 2,
            },
            Line {
                sku: "B-2".into(),
                qty: 1,
            },
        ],
        extra,
    }
}

#[test]
fn nested_objects_lists_of_objects_and_raw_from_json() {
    let body = r#"{"customer":{"name":"ACME","vip":true},
        "lines":[{"sku":"A-1","qty":2},{"sku":"B-2","qty":"1"}],
        "extra":{"keep": [1, 2]}}"#;
    let raw = request(DataFormat::Json, None, body, None);
    let extra = Raw {
        text: r#"{"keep": [1, 2]}"#.into(),
        kind: RawKind::Json,
    };
    assert_eq!(decode::<Order>(&raw).unwrap(), order(extra));
}

#[test]
fn nested_objects_lists_of_objects_and_raw_from_xml_and_soap() {
    let inner = "<customer><name>ACME</name><vip>yes</vip></customer>\
        <lines><sku>A-1</sku><qty>2</qty></lines><lines><sku>B-2</sku><qty>1</qty></lines>\
        <extra><keep a=\"1\">x &amp; y</keep></extra>";
    let extra = Raw {
        text: "<keep a=\"1\">x &amp; y</keep>".into(),
        kind: RawKind::Xml,
    };
    let raw = request(
        DataFormat::Xml,
        None,
        &format!("<order>{inner}</order>"),
        None,
    );
    assert_eq!(decode::<Order>(&raw).unwrap(), order(extra.clone()));
    let soap = soap_default(SOAP12, &format!("<order>{inner}</order>"));
    let raw = request(DataFormat::Soap, None, &soap, None);
    assert_eq!(decode::<Order>(&raw).unwrap(), order(extra));
}

#[test]
fn a_nested_object_cannot_come_from_a_query_string() {
    let raw = request(
        DataFormat::Json,
        Some("customer=ACME&lines=x&extra=1"),
        "",
        None,
    );
    let err = decode::<Order>(&raw).unwrap_err();
    let elements: Vec<&str> = err.element_errors().iter().map(|e| &*e.element).collect();
    assert_eq!(elements, ["customer", "lines[0]"]);
}

#[test]
fn raw_from_a_query_string_is_text() {
    #[derive(SimpleIo, Debug, PartialEq)]
    #[sio(crate = "zato_core")]
    struct R {
        extra: Raw,
    }
    let raw = request(DataFormat::Json, Some("extra=%3Cb%3E"), "", None);
    let r = decode::<R>(&raw).unwrap();
    assert_eq!(
        r.extra,
        Raw {
            text: "<b>".into(),
            kind: RawKind::Text
        }
    );
}

#[test]
fn each_scalar_type_rejects_what_is_not_of_it() {
    let query = "text=ok&int=4x&small=300&unsigned=-1&float=abc&flag=2&amount=1.2.3\
        &day=2026-13-01&at=yesterday&id=123&tags=a&codes=1,x&password=p";
    let raw = request(DataFormat::Json, Some(query), "", None);
    let err = decode::<AllTypes>(&raw).unwrap_err();
    let SioError::InvalidInput(invalid) = &err else {
        panic!("{err:?}")
    };
    let seen: Vec<(&str, &str)> = invalid
        .errors
        .iter()
        .map(|e| match &e.problem {
            ElementProblem::WrongType { expected, .. } => (&*e.element, *expected),
            _ => (&*e.element, "other"),
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("int", "integer"),
            ("small", "integer"),
            ("unsigned", "unsigned integer"),
            ("float", "float"),
            ("flag", "boolean"),
            ("amount", "decimal"),
            ("day", "date"),
            ("at", "datetime"),
            ("id", "uuid"),
            ("codes[1]", "unsigned integer"),
        ]
    );
}

#[test]
fn secrets_are_redacted_in_debug_and_in_errors() {
    let v = expected();
    let debug = format!("{v:?}");
    assert!(!debug.contains("s3cret"), "{debug}");
    assert!(debug.contains("Secret(***)"), "{debug}");

    #[derive(SimpleIo, Debug)]
    #[sio(crate = "zato_core")]
    struct Pin {
        pin: Secret<u32>,
    }
    let raw = request(DataFormat::Json, Some("pin=hunter2"), "", None);
    let err = decode::<Pin>(&raw).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(!format!("{err:?}").contains("hunter2"));
}

#[test]
fn empty_values_leave_optional_non_text_elements_unset() {
    #[derive(SimpleIo, Debug, PartialEq)]
    #[sio(crate = "zato_core")]
    struct Opt {
        count: Option<u32>,
        note: Option<String>,
    }
    let raw = request(DataFormat::Json, Some("count=&note="), "", None);
    assert_eq!(
        decode::<Opt>(&raw).unwrap(),
        Opt {
            count: None,
            note: Some(String::new())
        }
    );
    let raw = request(DataFormat::Xml, None, "<r><count/><note></note></r>", None);
    assert_eq!(
        decode::<Opt>(&raw).unwrap(),
        Opt {
            count: None,
            note: Some(String::new())
        }
    );
}

/// XML Schema's null, `xsi:nil="true"`, is JSON's `null`: unset for an optional element (text
/// included, where an empty element is an empty text), the wrong type for a required one.
#[test]
fn xsi_nil_is_null() {
    #[derive(SimpleIo, Debug, PartialEq)]
    #[sio(crate = "zato_core")]
    struct Opt {
        count: Option<u32>,
        note: Option<String>,
        day: Option<NaiveDate>,
        tags: Vec<Option<String>>,
    }
    const XSI: &str = r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance""#;
    let doc = format!(
        r#"<r {XSI}><count xsi:nil="true"/><note xsi:nil="true"></note><day xsi:nil="1"/>
           <tags>a</tags><tags xsi:nil="true"/></r>"#
    );
    let expected = Opt {
        count: None,
        note: None,
        day: None,
        tags: vec![Some("a".into()), None],
    };
    assert_eq!(
        decode::<Opt>(&request(DataFormat::Xml, None, &doc, None)).unwrap(),
        expected
    );
    let soap = soap_prefixed(SOAP12, &doc);
    assert_eq!(
        decode::<Opt>(&request(DataFormat::Soap, None, &soap, None)).unwrap(),
        expected
    );
    // `xsi:nil="false"`, or a `nil` of another namespace, is no null.
    let doc =
        format!(r#"<r {XSI} xmlns:o="urn:o"><note xsi:nil="false"/><tags o:nil="true"/></r>"#);
    let v = decode::<Opt>(&request(DataFormat::Xml, None, &doc, None)).unwrap();
    assert_eq!(
        (v.note, v.tags),
        (Some(String::new()), vec![Some(String::new())])
    );

    #[derive(SimpleIo, Debug)]
    #[sio(crate = "zato_core")]
    struct Req {
        name: String,
        count: u32,
    }
    let doc = format!(r#"<r {XSI}><name xsi:nil="true"/><count xsi:nil="true"/></r>"#);
    let e = decode::<Req>(&request(DataFormat::Xml, None, &doc, None)).unwrap_err();
    let problems: Vec<_> = e.element_errors().iter().map(|e| &e.problem).collect();
    assert_eq!(
        problems,
        [
            &ElementProblem::WrongType {
                expected: "text",
                got: "null".into()
            },
            &ElementProblem::WrongType {
                expected: "unsigned integer",
                got: "null".into()
            }
        ]
    );
    // Nil with content is refused rather than either half guessed.
    let doc = format!(r#"<r {XSI}><name>n</name><count xsi:nil="true">5</count></r>"#);
    let e = decode::<Req>(&request(DataFormat::Xml, None, &doc, None)).unwrap_err();
    assert!(
        matches!(&e.element_errors()[0].problem, ElementProblem::WrongType { got, .. } if got.contains("nil")),
        "{e}"
    );
    let doc = format!(r#"<r {XSI}><count xsi:nil="true">5</count></r>"#);
    let e = decode::<Opt>(&request(DataFormat::Xml, None, &doc, None)).unwrap_err();
    assert_eq!(e.element_errors()[0].element, "count", "{e}");
}

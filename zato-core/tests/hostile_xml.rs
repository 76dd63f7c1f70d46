//! XML built to hurt the parser is refused, quickly and without expanding anything.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] functions panic on what would fail the test anyway"
)]

mod support;

use support::*;
use zato_core::DataFormat;
use zato_core::sio::SioError;
use zato_macros::SimpleIo;

#[derive(SimpleIo, Debug)]
#[sio(crate = "zato_core")]
struct Doc {
    a: Option<String>,
}

fn err(doc: &str) -> SioError {
    let raw = request(DataFormat::Xml, None, doc, None);
    decode::<Doc>(&raw).unwrap_err()
}

#[test]
fn billion_laughs_is_refused_at_the_doctype() {
    let doc = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<r><a>&lol3;</a></r>"#;
    let e = err(doc);
    assert!(e.to_string().contains("DOCTYPE is not allowed"), "{e}");
    assert_eq!(e.status().as_u16(), 400);
}

#[test]
fn external_entities_are_refused() {
    let doc = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><r><a>&xxe;</a></r>"#;
    assert!(err(doc).to_string().contains("DOCTYPE"));
}

#[test]
fn undeclared_entities_are_malformed_not_ignored() {
    let e = err("<r><a>&xxe;</a></r>");
    assert!(matches!(e, SioError::MalformedXml { .. }), "{e:?}");
}

#[test]
fn predefined_entities_and_character_references_still_work() {
    let raw = request(
        DataFormat::Xml,
        None,
        "<r><a>&lt;&amp;&#x41;&#66;</a></r>",
        None,
    );
    assert_eq!(decode::<Doc>(&raw).unwrap().a.as_deref(), Some("<&AB"));
}

#[test]
fn nesting_depth_is_bounded() {
    let depth = 10_000;
    let doc = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
    assert!(matches!(
        err(&doc),
        SioError::XmlLimit {
            what: "nesting depth",
            ..
        }
    ));
}

#[test]
fn element_count_is_bounded() {
    let doc = format!("<r>{}</r>", "<b/>".repeat(200_000));
    assert!(matches!(
        err(&doc),
        SioError::XmlLimit {
            what: "element count",
            ..
        }
    ));
}

#[test]
fn the_same_limits_guard_soap() {
    let depth = 1_000;
    let inner = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
    let raw = request(DataFormat::Soap, None, &soap_prefixed(SOAP11, &inner), None);
    assert!(matches!(
        decode::<Doc>(&raw).unwrap_err(),
        SioError::XmlLimit { .. }
    ));
}

#[test]
fn malformed_attributes_are_refused() {
    assert!(matches!(
        err(r#"<r x="1" x="2"/>"#),
        SioError::MalformedXml { .. }
    ));
}

#[test]
fn attributes_per_element_are_bounded() {
    // Duplicate checks cost the square of the attribute count; without a bound, a few hundred
    // kilobytes of attributes would pin a CPU for minutes.
    let attrs: String = (0..40_000).map(|i| format!(" a{i}=\"\"")).collect();
    let e = err(&format!("<r{attrs}><a>x</a></r>"));
    assert!(
        matches!(
            e,
            SioError::XmlLimit {
                what: "attribute count",
                ..
            }
        ),
        "{e:?}"
    );
    let few: String = (0..20).map(|i| format!(" a{i}=\"1\"")).collect();
    let raw = request(
        DataFormat::Xml,
        None,
        &format!("<r{few}><a>x</a></r>"),
        None,
    );
    assert_eq!(decode::<Doc>(&raw).unwrap().a.as_deref(), Some("x"));
}

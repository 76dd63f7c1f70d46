//! Property tests: random bytes and random well-formed but wrong documents, fed to every
//! SimpleIO decoder, never panic, are always answered with success or a 4xx, and cost work
//! linear in their size, counted by [`super::work`] (bytes scanned, members, items and events
//! visited), never timed.

use chrono::NaiveDate;
use proptest::prelude::*;
use rust_decimal::Decimal;
use zato_macros::SimpleIo;

use super::work;
use super::{Csv, DataFormat, Raw, Secret, Source, decode};

#[derive(SimpleIo, Debug)]
#[sio(crate = "crate", request_elem = "request")]
struct Probe {
    id: String,
    target: Vec<String>,
    count: Option<i64>,
    amount: Option<Decimal>,
    flag: Option<bool>,
    codes: Option<Csv<u16>>,
    day: Option<NaiveDate>,
    lines: Option<Vec<ProbeLine>>,
    extra: Option<Raw>,
    pin: Option<Secret>,
}

#[derive(SimpleIo, Debug)]
#[sio(crate = "crate")]
struct ProbeLine {
    sku: String,
    qty: Option<u32>,
    tags: Option<Vec<String>>,
}

/// Work allowed per input byte, and for any input at all. Every declared field looks its name
/// up among an object's members, so the constant is about the number of fields times a few.
const PER_BYTE: u64 = 64;
const BASE: u64 = 4_096;

const FORMATS: [DataFormat; 4] = [
    DataFormat::Json,
    DataFormat::Xml,
    DataFormat::Soap,
    DataFormat::Form,
];

/// Decodes `body` (and `query`) as `format`, checks the outcome, and returns the work done.
fn run(format: DataFormat, query: Option<&str>, body: &[u8], content_type: Option<&str>) -> u64 {
    run_source(
        Source::new(format, body)
            .with_query(query)
            .with_content_type(content_type),
    )
}

fn run_source(source: Source<'_>) -> u64 {
    let Source {
        format,
        query,
        body,
        ..
    } = source;
    work::take();
    let decoded = decode::<Probe>(&source);
    let spent = work::take();
    if let Err(e) = &decoded.result {
        assert!(e.status().is_client_error(), "{format:?}: {e}");
        assert!(!e.to_string().is_empty());
    }
    let size = (body.len() + query.map_or(0, str::len)) as u64;
    assert!(
        spent <= PER_BYTE * size + BASE,
        "{format:?}: {spent} units of work for {size} bytes"
    );
    spent
}

fn names() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("id".to_owned()),
        Just("target".to_owned()),
        Just("count".to_owned()),
        Just("amount".to_owned()),
        Just("flag".to_owned()),
        Just("codes".to_owned()),
        Just("day".to_owned()),
        Just("lines".to_owned()),
        Just("extra".to_owned()),
        Just("pin".to_owned()),
        Just("sku".to_owned()),
        Just("qty".to_owned()),
        Just("request".to_owned()),
        "[a-z]{1,3}",
    ]
}

fn scalars() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[0-9]{1,30}",
        "-?[0-9]{1,3}(\\.[0-9]{1,3})?(e-?[0-9]{1,4})?",
        Just("true".to_owned()),
        Just("2026-11-28".to_owned()),
        "[a-z ,]{0,12}",
        ".{0,8}",
    ]
}

/// A JSON value, written by hand so that objects may repeat keys.
fn json() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        scalars().prop_map(|s| serde_json::Value::String(s).to_string()),
        "-?[0-9]{1,25}(\\.[0-9]{1,5})?(e[+-]?[0-9]{1,3})?",
        Just("null".to_owned()),
        Just("true".to_owned()),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((names(), inner), 0..8).prop_map(|members| {
                let body: Vec<String> = members
                    .iter()
                    .map(|(k, v)| format!("{}:{v}", serde_json::Value::String(k.clone())))
                    .collect();
                format!("{{{}}}", body.join(","))
            }),
        ]
    })
}

/// An XML element, with text that needs escaping now and then.
fn xml() -> impl Strategy<Value = String> {
    let leaf = (names(), scalars()).prop_map(|(n, t)| {
        let t = t.replace('&', "&amp;").replace('<', "&lt;");
        format!("<{n}>{t}</{n}>")
    });
    leaf.prop_recursive(4, 64, 8, |inner| {
        (names(), prop::collection::vec(inner, 0..8), any::<bool>()).prop_map(
            |(n, children, prefixed)| {
                let (open, close) = if prefixed {
                    (format!(r#"p:{n} xmlns:p="urn:p""#), format!("p:{n}"))
                } else {
                    (n.clone(), n)
                };
                format!("<{open}>{}</{close}>", children.concat())
            },
        )
    })
}

fn envelope() -> impl Strategy<Value = String> {
    let ns = prop_oneof![
        Just(super::xml::SOAP11_NS),
        Just(super::xml::SOAP12_NS),
        Just("urn:not-soap"),
    ];
    let header = prop_oneof![
        Just(String::new()),
        Just(r#"<t:T xmlns:t="urn:t" s:mustUnderstand="1"/>"#.to_owned()),
        Just(r#"<t:T xmlns:t="urn:t" s:mustUnderstand="0"/>"#.to_owned()),
        xml(),
    ];
    (ns, header, prop::collection::vec(xml(), 0..3), 1usize..3).prop_map(
        |(ns, header, body, bodies)| {
            let body = format!("<s:Body>{}</s:Body>", body.concat()).repeat(bodies);
            format!(
                r#"<s:Envelope xmlns:s="{ns}"><s:Header>{header}</s:Header>{body}</s:Envelope>"#
            )
        },
    )
}

fn query() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            names(),
            prop_oneof![
                scalars().prop_map(|s| form_urlencoded::byte_serialize(s.as_bytes()).collect()),
                "(%[0-9A-Fa-f]{2}|%|[a-z=&+]){0,12}",
            ],
        ),
        0..24,
    )
    .prop_map(|pairs| {
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

fn content_types() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("application/json; charset=utf-8".to_owned())),
        Just(Some("text/xml; charset=latin1".to_owned())),
        Just(Some("application/soap+xml".to_owned())),
        "[ -~]{0,24}".prop_map(Some),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2_048)) {
        for format in FORMATS {
            run(format, None, &bytes, None);
        }
        run(DataFormat::Json, Some(&String::from_utf8_lossy(&bytes)), b"", None);
    }

    #[test]
    fn random_json_documents(doc in json(), q in query(), ct in content_types()) {
        run(DataFormat::Json, None, doc.as_bytes(), None);
        run(DataFormat::Json, Some(&q), doc.as_bytes(), ct.as_deref());
        let wrapped = format!(r#"{{"request":{doc}}}"#);
        run(DataFormat::Json, None, wrapped.as_bytes(), None);
    }

    #[test]
    fn random_xml_documents(doc in xml(), ct in content_types()) {
        run(DataFormat::Xml, None, doc.as_bytes(), ct.as_deref());
        run(DataFormat::Soap, None, doc.as_bytes(), None);
    }

    #[test]
    fn random_soap_envelopes(doc in envelope(), ct in content_types()) {
        run(DataFormat::Soap, None, doc.as_bytes(), ct.as_deref());
    }

    #[test]
    fn random_query_strings_and_forms(q in query()) {
        run(DataFormat::Json, Some(&q), b"", None);
        run(DataFormat::Form, None, q.as_bytes(), None);
    }
}

/// Hostile shapes at growing sizes: the work per byte does not grow with the size, as it would
/// if anything were quadratic (a key looked up in every repetition, a duplicate check comparing
/// every pair).
#[test]
fn work_grows_linearly_with_hostile_shapes() {
    type Shape = fn(usize) -> (DataFormat, String, String);
    let shapes: [(&str, Shape); 8] = [
        ("repeated query keys", |n| {
            (DataFormat::Json, "target=a&".repeat(n), String::new())
        }),
        ("many json members", |n| {
            let members: String = (0..n).map(|i| format!(r#""k{i}":1,"#)).collect();
            (
                DataFormat::Json,
                String::new(),
                format!(r#"{{{members}"id":"1"}}"#),
            )
        }),
        ("a long json array", |n| {
            let items = vec!["\"a\""; n].join(",");
            (
                DataFormat::Json,
                String::new(),
                format!(r#"{{"id":"1","target":[{items}]}}"#),
            )
        }),
        ("many json list objects", |n| {
            let items = vec![r#"{"sku":"a","tags":["x"]}"#; n].join(",");
            (
                DataFormat::Json,
                String::new(),
                format!(r#"{{"id":"1","target":"a","lines":[{items}]}}"#),
            )
        }),
        ("repeated xml elements", |n| {
            (
                DataFormat::Xml,
                String::new(),
                format!("<r><id>1</id>{}</r>", "<target>a</target>".repeat(n)),
            )
        }),
        ("a long csv", |n| {
            (
                DataFormat::Json,
                format!("id=1&target=a&codes={}", "1,".repeat(n)),
                String::new(),
            )
        }),
        ("many soap header blocks", |n| {
            let headers = r#"<t:T xmlns:t="urn:t"/>"#.repeat(n);
            let ns = super::xml::SOAP11_NS;
            (
                DataFormat::Soap,
                String::new(),
                format!(
                    r#"<s:Envelope xmlns:s="{ns}"><s:Header>{headers}</s:Header><s:Body><r><id>1</id></r></s:Body></s:Envelope>"#
                ),
            )
        }),
        ("deep json inside a raw value", |n| {
            let depth = n.min(100);
            let deep =
                format!("{}{}", "[".repeat(depth), "]".repeat(depth)).repeat(n / depth.max(1));
            (
                DataFormat::Json,
                String::new(),
                format!(
                    r#"{{"id":"1","target":"a","extra":[{}]}}"#,
                    deep.replace("][", "],[")
                ),
            )
        }),
    ];
    for (what, shape) in shapes {
        let per_byte = |n: usize| {
            let (format, query, body) = shape(n);
            let q = (!query.is_empty()).then_some(query.as_str());
            // Unbounded lists, so that every item is decoded and counted.
            let spent = run_source(
                Source::new(format, body.as_bytes())
                    .with_query(q)
                    .with_max_items(usize::MAX),
            );
            spent as f64 / (query.len() + body.len()) as f64
        };
        let small = per_byte(500);
        let large = per_byte(20_000);
        // Linear work keeps the ratio near 1; quadratic work would make it about 40.
        assert!(
            large <= small * 2.0 + 1.0,
            "{what}: {small:.2} units per byte at 500, {large:.2} at 20000"
        );
    }
}
